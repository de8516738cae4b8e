"""Clock-time programme blocks: a training day keeps to the clock.

A block (a phase with ``at``) ends when the next block begins, whenever it
started; a pause comes off the block instead of moving the blocks after it,
and what fell due in a pause is not played late (one time-up at most).
"""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING

from intervisor.core.model import Phase

if TYPE_CHECKING:
    from intervisor.core.engine import Engine


class Programme:
    """The wall clock's part in a session of clock-time blocks."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def block(self, phase: Phase, index: int, now: float) -> tuple[float, float]:
        """A block's lower end and time-up in seconds from ``now``.

        A clock-time block ends when the next block begins, whenever this
        one started: a late start shortens it. ``now`` may lie in the past
        (a block entered at the moment it began, caught up after a
        restart): the wall time then is what counts."""
        plan = self.engine.plan
        nxt = plan[index + 1] if index + 1 < len(plan) else None
        if nxt is not None and nxt.at is not None:
            end_wall = self.wall_today(nxt.at)
        else:
            end_wall = self.wall_today(phase.at) + phase.duration.hi
        hi = max(0.0, end_wall - self.wall(now))
        return min(phase.duration.lo, hi), hi

    def wall(self, now: float) -> float:
        """The wall time at the monotonic instant ``now``."""
        clock = self.engine.clock
        return clock.time() - (clock.monotonic() - now)

    def wall_today(self, seconds_after_midnight: int, wall: float | None = None) -> float:
        lt = _time.localtime(self.engine.clock.time() if wall is None else wall)
        midnight = _time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))
        return midnight + seconds_after_midnight

    def block_end_clock(self, index: int) -> int:
        """When block ``index`` ends, in seconds after midnight."""
        plan = self.engine.plan
        phase = plan[index]
        nxt = plan[index + 1] if index + 1 < len(plan) else None
        if nxt is not None and nxt.at is not None:
            return nxt.at
        return int(phase.at + phase.duration.hi)

    def remaining(self, now: float) -> float:
        """Seconds left in the programme: the day ends when its last block does."""
        e = self.engine
        last = e.plan[-1]
        wall_now = self.wall(now)
        # The programme's day is the one its current phase began on (a last block may run past midnight).
        day = wall_now - (now - e.run.start)
        return max(0.0, self.wall_today(last.at, day) + last.duration.hi - wall_now)

    def resume(self, gap: float, now: float) -> None:
        """A pause of ``gap`` seconds comes off the block that runs; the next
        block still begins when the programme says."""
        run = self.engine.run
        run.hi = max(0.0, run.hi - gap)
        run.lo = min(run.lo, run.hi)
        self.pass_over(now)

    def pass_over(self, now: float) -> None:
        """What fell due in a block during a pause is past: counted as
        given without a sound, but for the time-up itself (one cue, not the
        warning, the time-up and every reminder in a row)."""
        e = self.engine
        e.schedule.catch_up_silently(now, but_time_up=True)
        run = e.run
        cues, up = e.plan[run.index].cues, run.start + run.hi
        every = 0 if cues.auto_advance else cues.overtime_every
        while "time_up" not in run.fired and every > 0 and up + every * 2 ** run.overtime_count <= now:
            run.overtime_count += 1   # the reminders after the time-up still to fire
