"""A rehearsed session as one WAV file: what the group would hear, in order.

The long waits of a session (a phase of twenty minutes) are cut to at most
``gap`` seconds of silence after each event's speech, so an author hears
their method from start to end in a few minutes.

>>> from intervisor.core.rehearsal import rehearse                    # doctest: +SKIP
>>> offsets = render_rehearsal(rehearse(method), "session.wav")  # doctest: +SKIP

Each step is placed where the one before it has finished speaking, plus
the real wait or ``gap``, whichever is shorter; its cues start with it and
ring on under what follows, as on the device.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from intervisor.sound.cues import synth
from intervisor.core.events import TIMELINE_KINDS, Mark, Play, Say

CUE_HOLD = 0.6
"""Seconds a step with only cues occupies before the next may start: the
strike is heard, the ringing overlaps what follows."""


def _speech_of(speech: Any, say: Say) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The samples of ``say`` as the device joins them, and where each of
    its parts starts in them (sample, text)."""
    from intervisor.sound.prosody import join, trim

    texts = [p for p in say.parts if p and p.strip()]
    samples, starts = join([trim(speech.render(p), speech.sample_rate) for p in texts], speech.sample_rate)
    return samples, list(zip(starts, texts))


def render(steps: Sequence[tuple[float, Iterable[Any]]], speech_factory: Callable[..., Any],
           out_path: str | os.PathLike, gap: float = 1.0, language: str = "nl",
           cue_volume: float = 0.6, spoken: list[dict] | None = None) -> list[float]:
    """Write the soundtrack of ``steps`` (``(t_seconds, [actions])``, as
    :class:`intervisor.core.rehearsal.Rehearsal` has them) to ``out_path``; the
    offset in the WAV, in seconds, of each step. ``spoken``, when given, is
    filled with one ``{"step", "at", "until", "text"}`` per spoken part:
    where in the WAV each part of each prompt begins and ends."""
    from intervisor.sound.speech import write_wav

    speech = speech_factory(language)
    rate = speech.sample_rate
    steps = [(t, list(actions)) for t, actions in steps]
    speech.prerender(p for _, actions in steps for a in actions if isinstance(a, Say) for p in a.parts)
    cues = {}
    placed: list[tuple[int, np.ndarray]] = []
    offsets: list[float] = []
    cursor = 0.0          # where the next step may start (seconds in the WAV)
    previous_t = None
    for index, (t, actions) in enumerate(steps):
        wait = 0.0 if previous_t is None else max(0.0, t - previous_t)
        at = cursor + min(wait, gap)
        offsets.append(round(at, 3))
        previous_t = t
        start = int(round(at * rate))
        speaking_until = start
        busy = False
        for action in actions:
            if isinstance(action, Play):
                if action.cue not in cues:
                    cues[action.cue] = synth(action.cue, rate) * np.float32(cue_volume)
                placed.append((start, cues[action.cue]))
                busy = True
            elif isinstance(action, Say):
                samples, starts = _speech_of(speech, action)
                if spoken is not None:
                    ends = [s for s, _ in starts[1:]] + [len(samples)]
                    spoken += [{"step": index, "at": round((speaking_until + s) / rate, 3),
                                "until": round((speaking_until + e) / rate, 3), "text": text}
                               for (s, text), e in zip(starts, ends)]
                # Two prompts in one step follow each other here; on the
                # device the second would cut the first short.
                placed.append((speaking_until, samples))
                speaking_until += len(samples)
        end = speaking_until / rate
        if busy:
            end = max(end, at + CUE_HOLD)
        cursor = max(cursor, end)
    total = max([s + len(x) for s, x in placed] + [int(cursor * rate)])
    mix = np.zeros(total, dtype=np.float32)
    for s, x in placed:
        mix[s : s + len(x)] += x
    np.clip(mix, -1.0, 1.0, out=mix)
    write_wav(out_path, mix, rate)
    return offsets


def render_rehearsal(rehearsal: Any, out_path: str | os.PathLike, gap: float = 1.0,
                     speech_factory: Callable[..., Any] | None = None, config: Any = None,
                     spoken: list[dict] | None = None) -> list[float]:
    """The soundtrack of a :class:`~intervisor.core.rehearsal.Rehearsal`; the
    offset in the WAV of each of its ``events`` (their ``audio_at``).
    ``spoken``: see :func:`render`."""
    if speech_factory is None:
        from intervisor.files.config import load_config
        from intervisor.sound.config import speech_factory_from_config, with_writable_cache

        config = config or load_config()
        speech_factory = speech_factory_from_config(with_writable_cache(config))
    cue_volume = getattr(getattr(config, "audio", None), "cue_volume", 0.6) if config else 0.6
    step_offsets = render(rehearsal.steps, speech_factory, out_path, gap=gap,
                          language=rehearsal.method.language, cue_volume=cue_volume, spoken=spoken)
    # An event belongs to the step whose actions hold its Mark, in order:
    # the rehearsal recorded them the same way.
    offsets = []
    for (_, actions), at in zip(rehearsal.steps, step_offsets):
        offsets += [at for a in actions if isinstance(a, Mark) and a.kind in TIMELINE_KINDS]
    return offsets

