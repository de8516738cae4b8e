"""A whole session on a simulated clock, with a punctual chair.

The chair presses the way the shared format page describes: the questions of
a phase spread evenly over it (the first is spoken as the phase starts), and
the press that closes a phase comes exactly at its time-up. Turns in a round
move on by themselves at their share of the time. So each phase starts where
the ones before it add up to, and the timeline shows what the device would
do, to the second.

>>> from intervisor.core.model import Method, Phase, Duration
>>> m = Method("m", "Proef", "nl", (Phase("a", "A", Duration(300, 600)),))
>>> [(e["t"], e["kind"]) for e in rehearse(m).events][-3:]
[(540.0, 'warning'), (600.0, 'time_up'), (600.0, 'session_end')]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

from intervisor.core.clock import FakeClock
from intervisor.core.engine import Engine
from intervisor.core.events import TIMELINE_KINDS, Action, Command, Mark
from intervisor.core.model import Method


@dataclass
class Rehearsal:
    method: Method
    choices: dict
    participants: int
    events: list[dict] = field(default_factory=list)
    steps: list[tuple[float, list[Action]]] = field(default_factory=list)

    #: Each spoken part of the soundtrack, once rendered: ``{"step", "at",
    #: "until", "text"}`` (see :func:`intervisor.sound.soundtrack.render`).
    parts: list[dict] = field(default_factory=list)

    def timeline(self) -> dict:
        out = {"method": self.method.id, "choices": self.choices,
               "participants": self.participants, "events": self.events}
        if self.parts:
            out["parts"] = self.parts
        return out


def default_choices(method: Method, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """The given choices, completed with each choice's default (or first) option."""
    chosen = dict(given or {})
    for c in method.choices:
        chosen.setdefault(c.id, c.default or c.options[0].id)
    return chosen


def _start_wall(plan: tuple) -> float:
    """A fixed day; a clock-time programme starts at its first block's time,
    any other session at nine."""
    base = time.mktime((2026, 1, 5, 0, 0, 0, 0, 0, -1))  # a Monday, local midnight
    first = plan[0].at if plan and plan[0].at is not None else None
    return base + (first if first is not None else 9 * 3600)


def rehearse(method: Method, choices: Mapping[str, str] | None = None,
             participants: int | None = None) -> Rehearsal:
    """Run ``method`` from start to end on a fake clock."""
    chosen = default_choices(method, choices)
    count = participants or method.participants
    clock = FakeClock(wall=_start_wall(method.plan(chosen)))
    engine = Engine(method, clock, choices=chosen, participants=count)
    result = Rehearsal(method, chosen, count)

    def record(actions: list[Action]) -> None:
        t = round(clock.monotonic(), 3)
        if actions:
            result.steps.append((t, actions))
        for a in actions:
            if isinstance(a, Mark) and a.kind in TIMELINE_KINDS:
                result.events.append({"t": t, "kind": a.kind, "phase": a.phase,
                                      "text": a.text if a.kind not in ("warning", "time_up",
                                                                       "min_reached", "overtime")
                                      else None})

    record(engine.start())
    for _ in range(100_000):  # a bound, not a plan: no method needs this many steps
        if engine.ended:
            break
        press_at = _next_press(engine)
        due = engine.next_due()
        clock.set(max(min(press_at, due if due is not None else press_at), clock.monotonic()))
        if due is not None and due <= clock.monotonic():
            record(engine.handle(Command.TICK))
            # A tick may have moved on by itself (auto-advance): the chair
            # looks again before pressing.
            continue
        if press_at <= clock.monotonic():
            record(engine.handle(Command.NEXT))
    return result


def _next_press(engine: Engine) -> float:
    """When the punctual chair presses next (monotonic time): the next
    question at its even share of the phase, else the phase's time-up."""
    run = engine.run
    n = engine.status().get("questions") or 0
    if n and not engine.plan[run.index].silent and run.question + 1 < n:
        return run.start + run.hi * (run.question + 1) / n
    return run.start + run.hi
