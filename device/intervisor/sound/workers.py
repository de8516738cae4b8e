"""What the render workers share: a WAV file written atomically (a crash
never leaves half a prompt in the cache), and a worker process let go.

Both espeak-ng's worker (:mod:`intervisor.sound.speech`) and Piper's
(:mod:`intervisor.sound.pipervoice`) use them; neither imports the other for it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int) -> None:
    """Write float samples in [-1, 1] as 16-bit mono PCM, atomically: a
    crash mid-write never leaves a half prompt in the cache."""
    path = Path(path)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".wav")
    try:
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(rate)
            f.writeframes(pcm)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def end_worker(proc: subprocess.Popen | None) -> None:
    """Let a worker process go: its input closed it leaves by itself; one
    that does not within 2 s is killed."""
    if proc is None:
        return
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    proc.stdout.close()
