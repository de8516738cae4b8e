"""Running late: the offer to shorten the rest of the session.

When the session is a minute or more behind its plan, the next phase opens
with an offer; a press within the window shortens what is still to come in
proportion (never below half its plan). A clock-time programme keeps to its
clock instead and is never offered this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from intervisor.core.events import Action, Cue, Hush, Mark, Play, Say

if TYPE_CHECKING:
    from intervisor.core.engine import Engine

#: How long an offer to shorten the rest stays open at a phase start.
OFFER_WINDOW = 30.0
#: Overrun (seconds) from which the engine offers to shorten the rest.
OFFER_FROM = 60.0
#: Never shorten what is left below this share of its plan.
MIN_SCALE = 0.5


class Offer:
    """How far behind the session runs, the shortening taken so far, and
    the window in which a press takes the offer."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.scale = 1.0          # shortening factor for phases not yet started
        self.overrun = 0.0        # seconds the session runs behind its plan
        self.until: float | None = None

    def due(self, index: int) -> bool:
        """Is the phase ``index`` that opens now to carry the offer?"""
        return self.overrun >= OFFER_FROM and index > 0 and not self.engine.method.is_programme

    def count(self, elapsed: float, hi: float) -> None:
        """A phase of ``hi`` seconds ends after ``elapsed``: time to spare
        counts too (negative: ahead of the plan), a session ahead of its
        planned end is not behind it."""
        self.overrun += elapsed - hi

    def open(self, now: float) -> list[str]:
        """The offer to shorten the rest, its window open from ``now``."""
        self.until = now + OFFER_WINDOW
        w = self.engine.words
        return [w["running_over"], w.duration(self.overrun), w["offer_shorten"]]

    def again(self, now: float) -> tuple[str, ...]:
        """An offer to shorten still open after a pause or a restart is made
        again, with a window of its own: nobody is expected to remember it,
        and the next press, meant to move on, would otherwise shorten the
        session without a word about it."""
        return tuple(self.open(now)) if self.until is not None else ()

    def accept(self, now: float) -> list[Action]:
        """The press that takes the offer: what is still to come shrinks."""
        e = self.engine
        e.history.push()   # back undoes the shortening, not the phase change before it
        run = e.run
        remaining = e.schedule.session_remaining(now)
        target = max(remaining - self.overrun, remaining * MIN_SCALE)
        factor = target / remaining if remaining > 0 else 1.0
        elapsed = e.schedule.elapsed(now)
        self.scale *= factor
        # Only what is still to come shrinks; the minutes already spoken stay.
        run.lo = elapsed + max(0.0, run.lo - elapsed) * factor
        run.hi = elapsed + max(0.0, run.hi - elapsed) * factor
        self.overrun = max(0.0, self.overrun - (remaining - target))
        self.until = None
        # The press cut short the phase's own words, which follow the offer:
        # they are said again after the answer (and are what "say again"
        # repeats from now on).
        rest = e.phases.phase_words(e.plan[run.index])
        done = [e.words["shortened"]] + ([e.words["on_time"]] if self.overrun < 30 else [])
        if rest:
            e.last_say = Say(tuple(rest))
        return [Hush(), Play(Cue.HEARD), Say(tuple(done + rest)), Mark("shorten", e.plan[run.index].id)]
