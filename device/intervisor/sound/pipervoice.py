"""Piper voices: checked on disk, rendered now or filled in behind espeak-ng.

A Piper voice is ``MODEL.onnx`` with ``MODEL.onnx.json`` beside it.
:class:`VoiceFile` checks one without loading it (cheap: the service does
it for every language it speaks); :class:`PiperEngine` loads it through
the ``piper`` package (onnxruntime) and renders text to samples.

On the device Piper never stands between start-up and READY: espeak-ng
renders every prompt first, as it always did, and :data:`FILLER` renders
the Piper version of each behind it, in a worker process of its own at
the lowest CPU priority, one prompt at a time in the order they were asked
for (the order they will be said). What is not rendered in Piper yet is
said by espeak-ng. A voice that cannot be loaded (a damaged or half
downloaded file) is said once in the log, and espeak-ng keeps speaking::

    FILLER.add(voice, [(spoken_text, "/var/cache/.../abc.piper.wav"), ...])
    FILLER.wait(timeout=60)        # tests and benchmarks only
"""

from __future__ import annotations

import collections
import functools
import io
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

log = logging.getLogger("intervisor.speech")

#: Seconds an idle Piper worker stays (its model holds ~100 MB).
IDLE_EXIT = float(os.environ.get("INTERVISOR_PIPER_IDLE", "60"))
#: Longest one prompt may take in the worker before it is thought hung.
PROMPT_TIMEOUT = 120.0


class VoiceProblem(RuntimeError):
    """A Piper voice that cannot be used; the message names the file and what to do."""


@functools.lru_cache(maxsize=1)
def piper_version() -> str | None:
    """The installed piper-tts, without importing it (onnxruntime is heavy);
    looked up once (the package metadata takes ~0.1 s to search)."""
    from importlib import metadata

    try:
        return metadata.version("piper-tts")
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class VoiceFile:
    """A Piper voice on disk, checked for what can be seen without loading it.

    >>> VoiceFile.open("/nowhere/nl.onnx", "nl")
    Traceback (most recent call last):
    ...
    intervisor.sound.pipervoice.VoiceProblem: /nowhere/nl.onnx: no Piper voice there (install MODEL.onnx with its MODEL.onnx.json beside it)
    """

    model: str
    config: str
    language: str
    sample_rate: int
    key: str
    """Names this voice in the cache: file name, size and change time, piper's version."""

    @classmethod
    def open(cls, model: str | os.PathLike, language: str) -> "VoiceFile":
        path = Path(model)
        if not path.is_file():
            raise VoiceProblem(f"{path}: no Piper voice there (install MODEL.onnx with its "
                               "MODEL.onnx.json beside it)")
        config = path.with_name(path.name + ".json")
        if not config.is_file():
            raise VoiceProblem(f"{config}: missing; Piper needs the model's .onnx.json beside the .onnx")
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a mapping")
        except (ValueError, UnicodeDecodeError, OSError) as e:
            raise VoiceProblem(f"{config}: not a Piper voice config ({e})") from None
        language_of = meta.get("language") if isinstance(meta.get("language"), dict) else {}
        espeak = meta.get("espeak") if isinstance(meta.get("espeak"), dict) else {}
        code = str(language_of.get("code") or espeak.get("voice") or "")
        if code and code.replace("-", "_").split("_")[0].lower() != language.lower():
            raise VoiceProblem(f"{path}: this Piper voice speaks {code}, not {language}")
        audio = meta.get("audio") if isinstance(meta.get("audio"), dict) else {}
        stat = path.stat()
        key = f"piper {piper_version() or '?'} {path.name} {stat.st_size} {int(stat.st_mtime)}"
        return cls(str(path), str(config), language, int(audio.get("sample_rate") or 22050), key)


class PiperEngine:
    """A Piper voice loaded in this process (onnxruntime). ``threads``:
    how many cores one prompt may use (``None``: onnxruntime's choice, all).

    >>> engine = PiperEngine(VoiceFile.open(model, "en"), threads=1)   # doctest: +SKIP
    >>> samples = engine.render("Time is up.")   # float32 at engine.sample_rate
    """

    def __init__(self, voice: VoiceFile, threads: int | None = None):
        try:
            import onnxruntime
            from piper import PiperVoice  # type: ignore[import-not-found]
            from piper.config import PiperConfig  # type: ignore[import-not-found]
        except ImportError:
            raise VoiceProblem("Piper is not installed: `.venv/bin/pip install piper-tts` on the device "
                               "(the installer does it), or remove the Piper voice from the config") from None
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = options.inter_op_num_threads = int(threads)
        try:
            with open(voice.config, encoding="utf-8") as f:
                config = PiperConfig.from_dict(json.load(f))
            session = onnxruntime.InferenceSession(voice.model, sess_options=options,
                                                   providers=["CPUExecutionProvider"])
            self.voice = PiperVoice(session=session, config=config)
        except Exception as e:
            raise VoiceProblem(f"{voice.model}: Piper cannot load this voice ({type(e).__name__}: "
                               f"{str(e)[:200]}); a damaged or half-downloaded file: install it again") from None
        self.sample_rate = int(getattr(config, "sample_rate", 0) or voice.sample_rate)
        self._lock = threading.Lock()

    def render(self, text: str, length: float = 1.0) -> np.ndarray:
        """``text`` sentence by sentence, with the pauses and the level of
        :mod:`intervisor.sound.prosody` (as espeak-ng's prompts have them);
        ``length`` stretches the voice's own pace (2.0: half as fast)."""
        from intervisor.sound.prosody import assemble, sentences

        return assemble([self._say(s, length) for s in sentences(text) or [text]], self.sample_rate)

    def _say(self, text: str, length: float = 1.0) -> np.ndarray:
        from piper.config import SynthesisConfig  # type: ignore[import-not-found]

        # The voice's own length_scale (its .onnx.json) is its natural pace.
        own = float(getattr(self.voice.config, "length_scale", 1.0) or 1.0)
        buf = io.BytesIO()
        with self._lock, wave.open(buf, "wb") as f:
            self.voice.synthesize_wav(text, f, syn_config=SynthesisConfig(length_scale=own * length))
        buf.seek(0)
        with wave.open(buf, "rb") as f:
            data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
        return data.astype(np.float32) / 32768.0


# ------------------------------------------------------------ the worker process


def worker_main() -> int:
    """The background renderer: JSON jobs on stdin, one JSON answer a line.

    A job ``{"model", "config", "language", "sample_rate", "key", "text",
    "path", "volume", "length"}`` renders ``text`` to ``path`` (written beside it and
    moved in whole); the answer is ``{"ok": true}`` or ``{"ok": false,
    "kind": "voice" | "error", "error": ...}``. It runs at the lowest CPU
    priority on one core, and leaves when nobody asked for a while.
    """
    from intervisor.sound.workers import write_wav

    # The lowest priority there is, whatever the service's own (Nice=-5).
    os.setpriority(os.PRIO_PROCESS, 0, 19)
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    engines: dict[str, PiperEngine] = {}
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    while selector.select(timeout=IDLE_EXIT):
        line = sys.stdin.readline()
        if not line:
            break
        job = json.loads(line)
        voice = VoiceFile(job["model"], job["config"], job["language"], job["sample_rate"], job["key"])
        try:
            if voice.key not in engines:
                engines.clear()                   # one model in memory at a time
                engines[voice.key] = PiperEngine(voice, threads=1)
        except VoiceProblem as e:
            answers.write(json.dumps({"ok": False, "kind": "voice", "error": str(e)}) + "\n")
            continue
        try:
            engine = engines[voice.key]
            samples = engine.render(job["text"], float(job.get("length", 1.0)))
            write_wav(job["path"], samples * np.float32(job["volume"]), engine.sample_rate)
            answers.write(json.dumps({"ok": True}) + "\n")
        except Exception as e:
            answers.write(json.dumps({"ok": False, "kind": "error", "error": f"{type(e).__name__}"}) + "\n")
    return 0


#: The worker's first lines, before its slow imports (numpy, onnxruntime:
#: seconds on a loaded Pi): from here on it dies with the process that
#: started it (PR_SET_PDEATHSIG), and it leaves at once if that one (its
#: pid, the first argument) has already gone. A prompt can take seconds,
#: and a service that stopped must not leave Piper writing into the cache.
WORKER_START = """
import os, signal, sys
try:
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
except (OSError, AttributeError):
    pass
if len(sys.argv) > 1 and os.getppid() != int(sys.argv[1]):
    sys.exit(0)
from intervisor.sound.pipervoice import worker_main
sys.exit(worker_main())
"""


class _Worker:
    """The parent's handle on one worker process: started when needed,
    replaced after a crash or a hang."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None

    def run(self, job: dict) -> dict:
        for attempt in (1, 2):
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", WORKER_START, str(os.getpid())],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    text=True, bufsize=1)
            try:
                self._proc.stdin.write(json.dumps(job) + "\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self.close()       # it left when idle just now: once more with a new one
                continue
            with selectors.DefaultSelector() as sel:
                sel.register(self._proc.stdout, selectors.EVENT_READ)
                ready = sel.select(timeout=PROMPT_TIMEOUT)
            line = self._proc.stdout.readline() if ready else ""
            if line:
                return json.loads(line)
            self.close()
            if not ready:
                return {"ok": False, "kind": "error", "error": "the Piper worker hung (restarted)"}
        return {"ok": False, "kind": "error", "error": "the Piper worker died"}

    def close(self) -> None:
        from intervisor.sound.workers import end_worker

        proc, self._proc = self._proc, None
        end_worker(proc)


class Filler:
    """Renders Piper prompts behind espeak-ng, one at a time, first asked
    first done, on a thread that feeds one worker process."""

    def __init__(self):
        self._jobs: "collections.OrderedDict[str, tuple[VoiceFile, str, float, float]]" = collections.OrderedDict()
        self._broken: dict[str, str] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._running = False
        self._worker = _Worker()
        self.rendered = 0

    def add(self, voice: VoiceFile, jobs: Iterable[tuple[str, str]], volume: float = 1.0,
            length: float = 1.0) -> int:
        """Queue ``(spoken text, cache path)`` jobs not on disk yet, at
        ``volume`` and ``length`` (see :meth:`PiperEngine.render`); how many were queued."""
        n = 0
        with self._cond:
            if voice.key in self._broken:
                return 0
            for text, path in jobs:
                if path not in self._jobs and not os.path.exists(path):
                    self._jobs[path] = (voice, text, volume, length)
                    n += 1
            if n and not self._running:
                self._running = True
                threading.Thread(target=self._run, name="piper-fill", daemon=True).start()
            self._cond.notify_all()
        return n

    def broken(self, voice: VoiceFile) -> str | None:
        """Why ``voice`` could not be loaded, once it was tried."""
        with self._cond:
            return self._broken.get(voice.key)

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs) + self._busy

    def wait(self, timeout: float | None = None) -> bool:
        """Until nothing is queued or being rendered; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def close(self) -> None:
        """Forget what is queued and stop the worker process."""
        with self._cond:
            self._jobs.clear()
        self._worker.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._jobs:
                    self._busy = self._running = False
                    self._cond.notify_all()
                    return
                path, (voice, text, volume, length) = self._jobs.popitem(last=False)
                self._busy = True
            if voice.key in self._broken or os.path.exists(path):
                continue
            answer = self._worker.run({"model": voice.model, "config": voice.config, "language": voice.language,
                                       "sample_rate": voice.sample_rate, "key": voice.key, "text": text,
                                       "path": path, "volume": volume, "length": length})
            if answer.get("ok"):
                self.rendered += 1
            elif answer.get("kind") == "voice":
                with self._cond:
                    self._broken[voice.key] = answer["error"]
                    for p in [p for p, job in self._jobs.items() if job[0].key == voice.key]:
                        del self._jobs[p]
                log.error("speech: %s; espeak-ng speaks %s instead", answer["error"], voice.language)
            else:
                # Never the text itself in the log.
                log.warning("speech: Piper could not render a prompt (%s); espeak-ng says it",
                            answer.get("error"))


FILLER = Filler()
