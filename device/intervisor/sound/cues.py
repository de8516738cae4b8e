"""The chimes, synthesised: one bell-like sound for each :class:`Cue`.

Nothing is shipped as a sample. Each cue is a short phrase of struck-bell
notes (a few inharmonic partials with a soft attack and an exponential
decay), so that a group hears it twenty times an evening without wincing,
and each meaning has its own shape: rising for a start, falling for an end,
repeated for a warning, low and rough for an error.

>>> from intervisor.core.events import Cue
>>> sound = synth(Cue.PHASE_START, rate=48000)
>>> sound.dtype, float(abs(sound).max()) <= PEAK
(dtype('float32'), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from intervisor.core.events import Cue

PEAK = 0.8
"""Loudest sample of the loudest cue: headroom for mixing over speech."""

# A struck bell's partials (ratio to the fundamental, amplitude, decay
# factor): the non-integer ratios make it a bell and not an organ, and the
# higher partials die away sooner so the note mellows as it rings.
BELL = ((1.0, 1.0, 1.0), (2.0, 0.45, 0.6), (2.76, 0.28, 0.45), (5.4, 0.12, 0.25), (8.93, 0.05, 0.15))
# A wood block: shorter and almost harmonic, for the small cues (turn, heard).
WOOD = ((1.0, 1.0, 1.0), (2.0, 0.25, 0.5), (3.0, 0.1, 0.3))
# Odd harmonics only: hollow and buzzy, the one unfriendly sound (error).
BUZZ = ((1.0, 1.0, 1.0), (3.0, 0.5, 0.7), (5.0, 0.3, 0.5), (7.0, 0.15, 0.4))


@dataclass(frozen=True)
class Note:
    at: float            # seconds from the start of the cue
    freq: float          # Hz of the fundamental
    decay: float = 0.6   # seconds for the fundamental to fall by 1/e
    level: float = 1.0
    timbre: tuple = BELL


@dataclass(frozen=True)
class Design:
    notes: tuple[Note, ...]
    level: float         # loudness of the cue relative to the loudest (time-up)
    tail: float = 0.25   # ringing allowed after the last note starts, beyond its decay


def _hz(name: str) -> float:
    """'A5' -> 880.0; the notes below read as music, not as numbers."""
    steps = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}
    letter, rest = name[0], name[1:]
    shift = 0
    if rest.startswith("#"):
        shift, rest = 1, rest[1:]
    elif rest.startswith("b"):
        shift, rest = -1, rest[1:]
    semis = steps[letter] + shift + 12 * (int(rest) - 4)
    return 440.0 * 2 ** (semis / 12)


DESIGNS: dict[Cue, Design] = {
    # Rising fifth: something begins.
    Cue.PHASE_START: Design((Note(0.0, _hz("G5")), Note(0.18, _hz("D6"), 0.8)), level=0.85),
    # One soft low note: you may close now, nothing urgent.
    Cue.MIN_REACHED: Design((Note(0.0, _hz("E5"), 0.7, 0.8),), level=0.5),
    # The same note twice: attention.
    Cue.WARNING: Design((Note(0.0, _hz("A5"), 0.45), Note(0.26, _hz("A5"), 0.6)), level=0.75),
    # Three falling notes: time is up.
    Cue.TIME_UP: Design((Note(0.0, _hz("D6"), 0.5), Note(0.22, _hz("B5"), 0.5),
                         Note(0.44, _hz("G5"), 0.9)), level=1.0),
    # A gentle low double tap: still running over.
    Cue.OVERTIME: Design((Note(0.0, _hz("C5"), 0.35), Note(0.13, _hz("C5"), 0.5)), level=0.55),
    # A single high wooden tick: the next person.
    Cue.TURN: Design((Note(0.0, _hz("G6"), 0.18, 1.0, WOOD),), level=0.6, tail=0.1),
    # Falling, soft: paused.
    Cue.PAUSED: Design((Note(0.0, _hz("B5"), 0.3), Note(0.15, _hz("E5"), 0.6)), level=0.6),
    # Rising, soft: going on.
    Cue.RESUMED: Design((Note(0.0, _hz("E5"), 0.3), Note(0.15, _hz("B5"), 0.6)), level=0.6),
    # A short high blip: understood.
    Cue.HEARD: Design((Note(0.0, _hz("C7"), 0.06, 1.0, WOOD),), level=0.45, tail=0.05),
    # Low and buzzy, twice: that did not work.
    Cue.ERROR: Design((Note(0.0, _hz("D4"), 0.2, 1.0, BUZZ), Note(0.2, _hz("D4"), 0.3, 1.0, BUZZ)),
                      level=0.7),
}

ATTACK = 0.006   # seconds: soft enough to have no click, short enough to be struck
FADE = 0.03      # seconds: the last moment is faded to exact silence


def _raised_cosine(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, n, dtype=np.float64))).astype(np.float64)


def _note(note: Note, rate: int, length: int) -> np.ndarray:
    t = np.arange(length, dtype=np.float64) / rate
    out = np.zeros(length, dtype=np.float64)
    nyquist = rate / 2
    for ratio, amp, decay_factor in note.timbre:
        f = note.freq * ratio
        if f >= nyquist * 0.9:  # a partial above what the rate can carry would alias
            continue
        out += amp * np.exp(-t / (note.decay * decay_factor)) * np.sin(2 * math.pi * f * t)
    attack = max(2, int(ATTACK * rate))
    out[:attack] *= _raised_cosine(attack)
    return out * note.level


def synth(cue: Cue, rate: int = 48000) -> np.ndarray:
    """The cue as mono float32 samples at ``rate``, peak ``PEAK * level``,
    starting and ending at silence."""
    design = DESIGNS[cue]
    end = max(n.at + n.decay * 4 for n in design.notes) + design.tail
    length = int(end * rate)
    out = np.zeros(length, dtype=np.float64)
    for note in design.notes:
        start = int(note.at * rate)
        out[start:] += _note(note, rate, length - start)
    fade = int(FADE * rate)
    out[-fade:] *= _raised_cosine(fade)[::-1]
    out *= PEAK * design.level / np.abs(out).max()
    return out.astype(np.float32)


def names() -> list[str]:
    """The cue names an admin can type (``intervisor chime NAME``)."""
    return [c.value for c in Cue]


def by_name(name: str) -> Cue:
    """``by_name("time-up")`` or ``by_name("time_up")``; a clear error otherwise."""
    key = name.strip().lower().replace("-", "_")
    for cue in Cue:
        if cue.value == key:
            return cue
    raise ValueError(f"no cue called {name!r}; the cues are: {', '.join(names())}")


class Chimes:
    """Every cue rendered once at one rate and volume, ready for the mixer.

    >>> chimes = Chimes(rate=48000, volume=0.6)
    >>> len(chimes[Cue.TURN]) > 0
    True
    """

    def __init__(self, rate: int = 48000, volume: float = 1.0):
        self.rate = rate
        self.volume = volume
        # Louder than speech is allowed (up to 2x in the config), clipping is not.
        gain = np.float32(min(volume, 0.99 / PEAK))
        self._sounds = {cue: synth(cue, rate) * gain for cue in Cue}

    def __getitem__(self, cue: Cue) -> np.ndarray:
        return self._sounds[cue]
