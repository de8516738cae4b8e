"""The schedule of the phase that runs: its time and its deadlines.

Every deadline is an absolute time on the monotonic clock, derived from the
phase's start (:class:`PhaseRun`); a pause moves the start, so every timer
freezes together and nothing drifts. :meth:`Schedule.tick` fires what is
due, in time order; :meth:`Schedule.catch_up_silently` counts what fell
due while nobody heard it as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from intervisor.core.events import Action, Cue, Light, Mark, Play, Say, Show
from intervisor.core.model import Phase

if TYPE_CHECKING:
    from intervisor.core.engine import Engine


@dataclass
class PhaseRun:
    """The live state of the phase that is running (all times monotonic)."""

    index: int
    start: float            # moved forward by pauses
    lo: float               # effective lower end (s from start)
    hi: float               # effective time-up (s from start)
    question: int = -1      # index into the phase's questions; -1 = none yet
    turn: int = 0           # 0-based turn in a rounds phase
    turn_anchor: float = 0.0  # when the current turn began (moved by pauses)
    fired: set = field(default_factory=set)  # cue kinds already given
    overtime_count: int = 0
    paused_total: float = 0.0


class Schedule:
    """The clock of one session: active time, the phase's time left, the
    session's, each deadline still to come and the light of the time."""

    def __init__(self, engine: Engine):
        self.engine = engine
        # The session's own clock: monotonic time less every pause, so that
        # an undo step can say how much active time has passed since it,
        # across pauses and restarts (see History.push).
        self.active_anchor = engine.clock.monotonic()
        self.moved_on: list[tuple[str, float]] = []   # phases a catch-up entered, and when

    # --------------------------------------------------------------- time

    def elapsed(self, now: float) -> float:
        """Active seconds in the current phase (pauses excluded)."""
        e = self.engine
        ref = e.paused_at if e.paused else now
        return ref - e.run.start

    def active(self, now: float) -> float:
        """Active seconds of the whole session (pauses excluded)."""
        e = self.engine
        ref = e.paused_at if e.paused else now
        return ref - self.active_anchor

    def effective(self, phase: Phase, index: int, now: float) -> tuple[float, float]:
        """The phase's lower end and time-up in seconds from now."""
        if phase.at is not None:
            return self.engine.programme.block(phase, index, now)
        d = phase.duration.scaled(self.engine.offer.scale)
        return d.lo, d.hi

    def phase_left(self, now: float) -> float:
        """Seconds left in this phase (negative: over time). A block keeps
        to the clock: a pause still on comes off it already."""
        e = self.engine
        left = e.run.hi - self.elapsed(now)
        if e.paused and e.plan[e.run.index].at is not None:
            left -= now - e.paused_at
        return left

    def session_remaining(self, now: float) -> float:
        """Planned seconds left: this phase's rest plus the phases to come."""
        e = self.engine
        if e.run is None:
            return e.method.planned_seconds(e.choices)
        if e.plan[-1].at is not None:
            return e.programme.remaining(now)
        rest = max(0.0, e.run.hi - self.elapsed(now))
        for i in range(e.run.index + 1, len(e.plan)):
            rest += self.effective(e.plan[i], i, now)[1] if e.plan[i].at is None \
                else e.plan[i].duration.hi
        return rest

    # ---------------------------------------------------------- deadlines

    def deadlines(self) -> list[tuple[float, str]]:
        """Every cue still to come in this phase, as (monotonic time, kind)."""
        e = self.engine
        run = e.run
        phase = e.plan[run.index]
        cues = phase.cues
        out: list[tuple[float, str]] = []
        up = run.start + run.hi
        if phase.duration.is_range and cues.min_cue and 0 < run.lo < run.hi \
                and "min_reached" not in run.fired:
            out.append((run.start + run.lo, "min_reached"))
        if 0 < cues.warn_before < run.hi and "warning" not in run.fired and "time_up" not in run.fired:
            out.append((up - cues.warn_before, "warning"))
        if "time_up" not in run.fired:
            out.append((up, "time_up"))
        elif cues.overtime_every > 0 and not cues.auto_advance:
            # Gentle, never nagging: each reminder waits twice as long as the
            # one before (2, 4, 8, 16 minutes over with the default interval).
            out.append((up + cues.overtime_every * (2 ** run.overtime_count), "overtime"))
        if phase.rounds is not None and run.turn + 1 < e.phases.turns(phase) and "time_up" not in run.fired:
            out.append((self.next_turn_at(), "turn"))
        return out

    def next_turn_at(self) -> float:
        e = self.engine
        run = e.run
        left = e.phases.turns(e.plan[run.index]) - run.turn
        return run.turn_anchor + (run.start + run.hi - run.turn_anchor) / left

    def tick(self) -> list[Action]:
        e = self.engine
        if e.paused or e.run is None:
            return []
        now = e.clock.monotonic()
        actions: list[Action] = []
        if e.offer.until is not None and now >= e.offer.until:
            e.offer.until = None
        if e.confirm_until is not None and now >= e.confirm_until:
            e.confirm_until = None
        # Fire in time order; one tick may catch up with several deadlines.
        while True:
            due = sorted(d for d in self.deadlines() if d[0] <= now)
            if not due:
                break
            _, kind = due[0]
            actions += self.fire(kind)
            if e.stage != "running":
                break
        return self._merge_says(actions)

    def fire(self, kind: str) -> list[Action]:
        e = self.engine
        run = e.run
        phase = e.plan[run.index]
        if kind == "min_reached":
            run.fired.add(kind)
            return [Play(Cue.MIN_REACHED), Mark("min_reached", phase.id)]
        if kind == "warning":
            run.fired.add(kind)
            return [Play(Cue.WARNING), Show(Light.WARNING), Mark("warning", phase.id)]
        if kind == "time_up":
            run.fired.add(kind)
            out: list[Action] = [Play(Cue.TIME_UP), Show(Light.TIME_UP), Mark("time_up", phase.id)]
            if phase.cues.auto_advance:
                out += e.phases.advance()
            return out
        if kind == "overtime":
            run.overtime_count += 1
            return [Play(Cue.OVERTIME), Show(Light.OVERTIME), Mark("overtime", phase.id)]
        if kind == "turn":
            turn_at = self.next_turn_at()
            run.turn += 1
            run.turn_anchor = turn_at
            return e.phases.turn_actions(phase, phase.silent)
        raise AssertionError(kind)

    def _merge_says(self, actions: list[Action]) -> list[Action]:
        """Keep one Say per answer: the parts of all, in order, at the first."""
        says = [a for a in actions if isinstance(a, Say)]
        if len(says) <= 1:
            return actions
        merged = Say(tuple(p for s in says for p in s.parts))
        self.engine.last_say = merged
        out, placed = [], False
        for a in actions:
            if isinstance(a, Say):
                if not placed:
                    out.append(merged)
                    placed = True
            else:
                out.append(a)
        return out

    def catch_up_silently(self, now: float | None = None, but_time_up: bool = False) -> None:
        """Count what fell due while the device was down as done, without a
        sound: a group that comes back wants one sentence, not every cue it
        missed in a row. A phase that moves on by itself has moved on.
        ``but_time_up``: the time-up itself is left to fire."""
        e = self.engine
        if now is None:
            # While paused the phase's time stands still at the pause.
            now = e.paused_at if e.paused else e.clock.monotonic()
        self.moved_on = []
        for _ in range(10_000):
            due = sorted(d for d in self.deadlines() if d[0] <= now and not (but_time_up and d[1] == "time_up"))
            if not due:
                return
            at, kind = due[0]
            phase = e.plan[e.run.index]
            if kind == "overtime":
                e.run.overtime_count += 1
            elif kind == "turn":
                e.run.turn += 1
                e.run.turn_anchor = at
            elif kind == "time_up" and phase.cues.auto_advance and e.run.index + 1 < len(e.plan):
                e.phases.enter(e.run.index + 1, at)   # its words are not said now
                e.offer.until = None   # an offer nobody heard cannot be taken up
                self.moved_on.append((e.plan[e.run.index].id, at))
            else:
                e.run.fired.add(kind)

    # -------------------------------------------------------------- light

    def light(self) -> Light:
        """What the time light shows: the pause over the time's own colour."""
        return Light.PAUSED if self.engine.paused else self.time_light()

    def time_light(self) -> Light:
        """The light of the time itself, paused or not."""
        run = self.engine.run
        if "time_up" in run.fired:
            return Light.OVERTIME if run.overtime_count else Light.TIME_UP
        if "warning" in run.fired:
            return Light.WARNING
        return Light.RUNNING
