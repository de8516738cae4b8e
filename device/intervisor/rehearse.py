"""A whole session on a simulated clock, with a punctual chair.

The chair presses the way the shared format page describes: the questions of
a phase spread evenly over it (the first is spoken as the phase starts), and
the press that closes a phase comes exactly at its time-up. Turns in a round
move on by themselves at their share of the time. So each phase starts where
the ones before it add up to, and the timeline shows what the device would
do, to the second.

>>> from intervisor.model import Method, Phase, Duration
>>> m = Method("m", "Proef", "nl", (Phase("a", "A", Duration(300, 600)),))
>>> [(e["t"], e["kind"]) for e in rehearse(m).events][-3:]
[(540.0, 'warning'), (600.0, 'time_up'), (600.0, 'session_end')]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

from intervisor.clock import FakeClock
from intervisor.engine import Engine
from intervisor.events import Action, Command, Mark
from intervisor.model import Method

#: Marks that belong in a timeline (the rest is the engine talking to itself).
TIMELINE_KINDS = ("intro", "phase_start", "question", "turn", "min_reached", "warning",
                  "time_up", "overtime", "offer", "shorten", "session_end")


@dataclass
class Rehearsal:
    method: Method
    choices: dict
    participants: int
    events: list[dict] = field(default_factory=list)
    steps: list[tuple[float, list[Action]]] = field(default_factory=list)

    #: Each spoken part of the soundtrack, once rendered: ``{"step", "at",
    #: "until", "text"}`` (see :func:`intervisor.soundtrack.render`).
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


# ----------------------------------------------------------------- command

def parse_choices(items: list[str] | None) -> dict[str, str]:
    """``["vragen=alternatief"]`` -> ``{"vragen": "alternatief"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, option = item.partition("=")
        if not sep or not name or not option:
            raise ValueError(f"--choice takes NAME=OPTION, not {item!r}")
        out[name.strip()] = option.strip()
    return out


def check_choices(method: Method, chosen: Mapping[str, str]) -> list[str]:
    """Plain-language problems with ``--choice`` values for this method."""
    problems = []
    for name, option in chosen.items():
        ids = [c.id for c in method.choices]
        if name not in ids:
            problems.append(f"method {method.id!r} has no choice {name!r}"
                            + (f" (its choices: {', '.join(ids)})" if ids else ""))
            continue
        options = [o.id for o in method.choice(name).options]
        if option not in options:
            problems.append(f"choice {name!r} has no option {option!r} (its options: {', '.join(options)})")
    return problems


def open_method(spec: str, methods_dir: str | None = None):
    """A method by id (in the methods folder) or by path: ``(method, problems)``
    where ``method`` is None when it cannot be used."""
    from intervisor.method import Library, MethodError, default_methods_dir

    try:
        return Library(methods_dir or default_methods_dir()).find(spec), []
    except MethodError as exc:
        return None, [str(p) for p in exc.problems] or [f"intervisor: {exc}"]


def add_command(sub) -> None:
    p = sub.add_parser("rehearse", help="run a whole session on a simulated clock",
                       description="Run METHOD from start to end on a simulated clock, with a chair "
                                   "who presses on time, and write what the device would do.")
    p.add_argument("method", metavar="METHOD", help="a method id from the methods folder, or a path to a file")
    p.add_argument("--choice", action="append", metavar="NAME=OPTION", help="preset a choice (repeatable)")
    p.add_argument("--participants", type=int, metavar="N", help="number of participants for rounds")
    p.add_argument("--timeline", metavar="FILE.json", help="write the timeline as JSON")
    p.add_argument("--out", metavar="FILE.wav", help="write the session's soundtrack")
    p.add_argument("--html", metavar="FILE.html", help="write the timeline as an HTML page with a chart")
    p.add_argument("--gap", type=float, default=1.0, metavar="SECONDS",
                   help="longest silence kept between events in the soundtrack (default 1)")
    p.add_argument("--dir", metavar="DIR", help="methods folder to find METHOD in")
    p.set_defaults(func=run_command)


def run_command(args) -> int:
    import json
    import sys

    method, problems = open_method(args.method, args.dir)
    if method is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        chosen = parse_choices(args.choice)
    except ValueError as exc:
        print(f"intervisor rehearse: {exc}", file=sys.stderr)
        return 2
    bad = check_choices(method, chosen)
    if args.participants is not None and not 2 <= args.participants <= 12:
        bad.append("--participants must be between 2 and 12")
    if bad:
        for problem in bad:
            print(f"intervisor rehearse: {problem}", file=sys.stderr)
        return 2
    result = rehearse(method, chosen, args.participants)
    if args.out:
        from intervisor.soundtrack import render_rehearsal

        offsets = render_rehearsal(result, args.out, gap=args.gap, spoken=result.parts)
        for event, at in zip(result.events, offsets):
            event["audio_at"] = at
    if args.timeline:
        with open(args.timeline, "w", encoding="utf-8") as f:
            json.dump(result.timeline(), f, ensure_ascii=False, indent=1)
            f.write("\n")
    if args.html:
        from intervisor.html_report import html_page, rehearsal_record

        with open(args.html, "w", encoding="utf-8") as f:
            f.write(html_page(rehearsal_record(result), heading="Repetitie / rehearsal"))
    if not args.timeline and not args.out and not args.html:
        for e in result.events:
            m, s = divmod(int(e["t"]), 60)
            print(f"{m:4d}:{s:02d}  {e['kind']:<12} {e['phase'] or ''}")
    return 0
