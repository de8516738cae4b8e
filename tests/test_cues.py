"""The chimes: clean (no clipping, no clicks) and each one recognisable."""

import numpy as np
import pytest

from intervisor.sound.cues import PEAK, Chimes, by_name, names, synth
from intervisor.core.events import Cue

RATE = 48000


def envelope(sound: np.ndarray, rate: int = RATE, hop: float = 0.005) -> np.ndarray:
    n = int(hop * rate)
    frames = len(sound) // n
    return np.sqrt((sound[: frames * n].reshape(frames, n).astype(np.float64) ** 2).mean(axis=1))


def onsets(sound: np.ndarray, rate: int = RATE) -> list[int]:
    """Sample indices where a new note is struck: the envelope jumps up."""
    env = envelope(sound, rate)
    hop = int(0.005 * rate)
    # Against 10 ms back: a strike's attack is over by then, a ringing
    # note's wobble never rises that much.
    rises = np.flatnonzero(env[2:] > env[:-2] * 1.25 + 0.02 * env.max()) + 2
    found: list[int] = []
    for r in rises:
        if not found or r - found[-1] > 10:  # 50 ms apart: the same strike otherwise
            found.append(int(r))
    return [f * hop for f in found]


def pitch(sound: np.ndarray, start: int, rate: int = RATE) -> float:
    """The strongest frequency in the 60 ms after ``start``."""
    window = sound[start : start + int(0.06 * rate)].astype(np.float64)
    window = window * np.hanning(len(window))
    spectrum = np.abs(np.fft.rfft(window, n=1 << 16))
    return float(np.argmax(spectrum) * rate / (1 << 16))


def semitone(f: float) -> int:
    return int(round(12 * np.log2(f / 440.0)))


@pytest.mark.parametrize("cue", list(Cue))
def test_every_cue_is_clean(cue):
    sound = synth(cue, RATE)
    assert sound.dtype == np.float32
    assert 0.05 < len(sound) / RATE < 5.0
    peak = float(np.abs(sound).max())
    assert 0.2 < peak <= PEAK + 1e-6          # audible, never clipped
    # No click at either end: it starts and ends at silence, and its first
    # and last millisecond move gently.
    assert sound[0] == 0.0 and abs(sound[-1]) < 1e-4
    ms = RATE // 1000
    assert np.abs(np.diff(sound[:ms])).max() < 0.02
    assert np.abs(sound[-ms:]).max() < 0.01
    # A soft attack: no sample-to-sample jump anywhere near full scale.
    assert np.abs(np.diff(sound)).max() < 0.5


def test_each_cue_is_recognisable():
    """Strike count and the pitches struck tell every cue apart."""
    signatures = {}
    for cue in Cue:
        sound = synth(cue, RATE)
        starts = onsets(sound)
        signatures[cue] = (len(starts), tuple(semitone(pitch(sound, s)) for s in starts))
    assert len(set(signatures.values())) == len(Cue), signatures
    # The shapes that carry the meaning:
    up = signatures[Cue.RESUMED][1]
    down = signatures[Cue.PAUSED][1]
    assert up[0] < up[1] and down[0] > down[1]
    assert signatures[Cue.TIME_UP][0] == 3
    assert signatures[Cue.WARNING][1][0] == signatures[Cue.WARNING][1][1]
    assert signatures[Cue.PHASE_START][1][0] < signatures[Cue.PHASE_START][1][1]


def test_time_up_is_the_loudest_and_heard_the_shortest():
    loud = {c: float(np.abs(synth(c)).max()) for c in Cue}
    length = {c: len(synth(c)) for c in Cue}
    assert max(loud, key=loud.get) is Cue.TIME_UP
    assert min(length, key=length.get) is Cue.HEARD


def test_cues_scale_with_the_rate():
    low, high = synth(Cue.WARNING, 22050), synth(Cue.WARNING, 48000)
    assert abs(len(low) / 22050 - len(high) / 48000) < 0.01
    starts = onsets(low, 22050)
    assert semitone(pitch(low, starts[0], 22050)) == semitone(pitch(high, onsets(high)[0]))


def test_cue_volume_is_relative_and_never_clips():
    quiet, loud = Chimes(RATE, 0.5), Chimes(RATE, 2.0)
    assert np.isclose(np.abs(quiet[Cue.TIME_UP]).max(), 0.5 * PEAK, atol=1e-3)
    assert np.abs(loud[Cue.TIME_UP]).max() < 1.0


def test_names_are_what_an_admin_types():
    assert "time_up" in names()
    assert by_name("Time-Up") is Cue.TIME_UP
    with pytest.raises(ValueError, match="no cue called 'gong'.*phase_start"):
        by_name("gong")
