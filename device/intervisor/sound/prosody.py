"""How spoken prompts are laid out in time and level: made for listening.

A group hears each prompt once, in a room, while thinking about something
else. So the device leaves a real pause between the parts of a prompt and
between its sentences (:data:`PAUSE`), a longer breath whenever speech has
run on for :data:`MAX_STRETCH` seconds (the opening comes in stretches the
chair can follow), and every prompt at one loudness, near the cues', its
peaks below -1 dBFS whatever the voice.

Measured with a stand-in listener (bench/listen.py): see the README.

>>> rate = 1000
>>> word = np.full(2 * rate, 0.5, dtype=np.float32)       # two seconds of "speech"
>>> samples, starts = join([word, word], rate)
>>> starts, len(samples) / rate
([0, 2500], 4.5)
>>> [round(s, 1) for s in stretches(join([word] * 20, rate)[0], rate)]
[24.5, 24.5]
"""

from __future__ import annotations

import re

import numpy as np

PAUSE = 0.5
"""Seconds of silence between the parts of a prompt and between sentences."""

BREAK = 1.2
"""Seconds of silence after a long stretch of speech: a breath for the room."""

MAX_STRETCH = 25.0
"""Speech runs on at most this long (seconds) before a :data:`BREAK`."""

BREAK_COUNTS = 1.0
"""A silence at least this long ends a stretch (what :func:`stretches` measures)."""

PEAK_DB = -1.5
"""The highest peak of a prompt, dBFS: below -1 dBFS, with room for rounding."""

LOUDNESS_DB = -21.0
"""A prompt's loudness (:func:`loudness_db`), dBFS: the cues' loudness at
their default volume lies between -20 and -26 by the same measure."""

SILENCE = 0.004
"""Below this (|sample|) a 10 ms frame is silent."""


def trim(samples: np.ndarray, rate: int, keep_head: float = 0.001, keep_tail: float = 0.03,
         threshold: float = SILENCE) -> np.ndarray:
    """Cut the synthesiser's own silence at both ends: leading silence is
    latency the group hears, and the pauses are :func:`join`'s to give."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if not len(loud):
        return samples[:0]
    start = max(0, int(loud[0]) - int(keep_head * rate))
    end = min(len(samples), int(loud[-1]) + 1 + int(keep_tail * rate))
    out = samples[start:end].astype(np.float32, copy=True)
    ramp = min(len(out), max(2, int(keep_head * rate)))
    out[:ramp] *= np.linspace(0.0, 1.0, ramp, dtype=np.float32)  # no click where we cut
    return out


def stretches(samples: np.ndarray, rate: int, pause: float = BREAK_COUNTS) -> list[float]:
    """The lengths (seconds) of the stretches of sound in ``samples``,
    each ended by a silence of at least ``pause`` seconds (or the end).

    >>> stretches(np.zeros(100, dtype=np.float32), 1000)
    [0.0]
    """
    frame = max(1, rate // 100)
    n = len(samples) // frame
    if n == 0:
        return [0.0]
    sound = np.abs(samples[: n * frame]).reshape(n, frame).max(axis=1) > SILENCE
    out, start, quiet, last = [], None, 0, None
    need, step = int(round(pause * rate / frame)), frame / rate
    for i, on in enumerate(sound):
        if on:
            start = i if start is None else start
            last, quiet = i, 0
        elif start is not None:
            quiet += 1
            if quiet >= need:
                out.append((last + 1 - start) * step)
                start = None
    if start is not None:
        out.append((last + 1 - start) * step)
    return out or [0.0]


def join(chunks: list[np.ndarray], rate: int, pause: float = PAUSE, brk: float = BREAK,
         max_stretch: float = MAX_STRETCH) -> tuple[np.ndarray, list[int]]:
    """``chunks`` (trimmed speech) one after the other with ``pause``
    seconds between them, or ``brk`` where speech would otherwise run on
    past ``max_stretch`` seconds; the samples, and where each chunk starts."""
    out: list[np.ndarray] = []
    starts: list[int] = []
    at, run = 0, None
    for chunk in chunks:
        inner = stretches(chunk, rate)
        if run is None:
            gap, run = 0.0, 0.0
        elif run + pause + inner[0] > max_stretch:
            gap, run = brk, 0.0
        else:
            gap, run = pause, run + pause
        silence = np.zeros(int(round(gap * rate)), dtype=np.float32)
        out += [silence, chunk.astype(np.float32, copy=False)]
        at += len(silence)
        starts.append(at)
        at += len(chunk)
        run = run + inner[0] if len(inner) == 1 else inner[-1]
    return (np.concatenate(out) if out else np.zeros(0, dtype=np.float32)), starts


def loudness_db(samples: np.ndarray, rate: int, window: float = 0.05) -> float:
    """How loud a sound is, dBFS: the mean power of its 50 ms windows that
    are within 20 dB of the loudest (silence and fading tails left out),
    so a prompt and a chime compare fairly."""
    n = max(1, int(window * rate))
    k = len(samples) // n
    if k == 0:
        return -120.0
    power = (samples[: k * n].astype(np.float64).reshape(k, n) ** 2).mean(axis=1)
    top = power.max()
    if top <= 0:
        return -120.0
    return float(10 * np.log10(power[power >= top * 0.01].mean()))


def peak_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.abs(samples).max(initial=0.0)), 1e-6)))


def normalise(samples: np.ndarray, rate: int, loudness: float = LOUDNESS_DB,
              peak: float = PEAK_DB) -> np.ndarray:
    """``samples`` at ``loudness`` dBFS, or lower where a peak would pass
    ``peak`` dBFS: every voice and every prompt at one level."""
    if not len(samples) or np.abs(samples).max() <= 0:
        return samples.astype(np.float32, copy=False)
    gain_db = min(loudness - loudness_db(samples, rate), peak - peak_db(samples))
    return (samples * np.float32(10 ** (gain_db / 20))).astype(np.float32)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-ZÀ-Ý0-9])")


def sentences(text: str) -> list[str]:
    """``text`` cut into its sentences, rendered one by one so that the
    pause between them is :data:`PAUSE`, not the synthesiser's own.

    >>> sentences("Fase 2 van 6. Verhelderen. Stel nu je vragen, bijv. wat of hoe.")
    ['Fase 2 van 6.', 'Verhelderen.', 'Stel nu je vragen, bijv. wat of hoe.']
    """
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text.strip())) if s]


def assemble(chunks: list[np.ndarray], rate: int) -> np.ndarray:
    """The sentences of one text, rendered apart, as one normalised prompt."""
    samples, _ = join([trim(c, rate) for c in chunks], rate)
    return normalise(samples, rate)
