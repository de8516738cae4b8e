"""ALSA's library writes its complaints to stderr; the device keeps them off
the demo's terminal and out of the journal (intervisor.sound.portaudio.quiet_alsa)."""

import subprocess
import sys

import pytest

# Asks ALSA for a device that does not exist: alsa-lib complains on stderr
# ("ALSA lib ... Unknown PCM nothing_here") unless its handler is replaced.
OPEN_A_MISSING_PCM = """
import ctypes, ctypes.util, sys
from intervisor.sound import portaudio
if sys.argv[1] == "quiet":
    assert portaudio.quiet_alsa()
lib = ctypes.CDLL(ctypes.util.find_library("asound"))
pcm = ctypes.c_void_p()
rc = lib.snd_pcm_open(ctypes.byref(pcm), b"nothing_here", 0, 0)
assert rc < 0, rc
"""


def _stderr_of(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", OPEN_A_MISSING_PCM, mode],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_alsa_complaints_never_reach_stderr():
    pytest.importorskip("ctypes.util")
    loud = _stderr_of("loud")
    if "ALSA lib" not in loud:
        pytest.skip("this ALSA says nothing about a missing device")
    assert _stderr_of("quiet") == ""


def test_the_sound_adapter_silences_alsa_before_portaudio_starts():
    from intervisor.sound import portaudio

    portaudio._alsa_quiet = None
    sd = portaudio.sounddevice()
    assert sd.__name__ == "sounddevice"
    assert portaudio._alsa_quiet is not None
