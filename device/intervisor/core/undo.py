"""What back undoes: the chair's last step, with the time going on.

Each press that moves the session (a question, a turn, a phase, taking the
offer to shorten) first saves the session as it stood. Back returns to it,
and the time goes on as it did in the room: back a question or a turn, the
phase's clock and the chimes already heard stand; back a phase, the minutes
since the press count for the phase returned to (a pause does not), and a
chime that fell due meanwhile is not played late.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from intervisor.core.events import Action, Hush, Mark, Say, Show

if TYPE_CHECKING:
    from intervisor.core.engine import Engine

#: A long evening needs no deeper undo.
DEPTH = 50


class History:
    """The undo steps of one session, last last."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.steps: list[dict] = []

    def push(self) -> None:
        e = self.engine
        state = e._state(include_history=False)
        # Undo keeps the clock running: the active time spent since the
        # step counts for the phase we return to, as it did in the room.
        # Kept as the session's active time, not a monotonic instant: a
        # pause since does not count, and a restart (a new boot starts the
        # monotonic clock again) does not change it.
        state["active_at"] = e.schedule.active(e.clock.monotonic())
        self.steps.append(state)
        del self.steps[:-DEPTH]

    def back(self) -> list[Action]:
        e = self.engine
        if not self.steps:
            if e.choosing.may_reopen(e.clock.monotonic()):
                return e.choosing.reopen()
            # Not kept as last_say: "say again" still repeats the prompt.
            return [Hush(), Say((e.words["back_at_start"],))]
        now = e.clock.monotonic()   # never paused here: BACK waits for the resume
        left, anchor = e.run, e.schedule.active_anchor
        state = self.steps.pop()
        since = max(0.0, e.schedule.active(now) - state["active_at"])
        e._load_state(state, now)
        e.schedule.active_anchor = anchor
        e.offer.until = e.confirm_until = None
        over = self._time_goes_on(left, state, since, now)
        run = e.run
        phase = e.plan[run.index]
        questions = e.phases.questions(phase)
        parts = [phase.title + "."]
        if questions and run.question >= 0:
            parts.append(questions[run.question].text)
        elif phase.rounds is not None:
            parts.append(e.words.turn(run.turn + 1, e.phases.turns(phase)))
        return [Hush(), e.say(parts), Show(e.schedule.light())] + over + [Mark("back", phase.id)]

    def _time_goes_on(self, left, state: dict, since: float, now: float) -> list[Action]:
        """Set the clock of the step returned to: ``left`` is the phase run
        that was left, ``since`` the active time since the step was taken.
        Marks for the record, if the phase starts anew."""
        e = self.engine
        run = e.run
        phase = e.plan[run.index]
        if run.index == left.index:
            # Back a question or a turn: the phase's clock runs on, and the
            # cues the group has heard are not heard again. A turn returned
            # to shares what is left of the round anew, as a press does.
            run.start, run.fired = left.start, set(left.fired)
            run.overtime_count, run.paused_total = left.overtime_count, left.paused_total
            run.turn_anchor = now
            if phase.at is not None:
                # A block keeps to the clock: a pause since the step came off it.
                run.lo, run.hi = e.schedule.effective(phase, run.index, run.start)
            return []
        if phase.cues.auto_advance and phase.at is None and since + state["run"]["elapsed"] >= run.hi:
            # Back into a phase that would move on by itself at once (the
            # silent minute, run out): it starts over instead. A block of a
            # programme keeps to the clock and is simply over.
            run.start = run.turn_anchor = now
            run.fired, run.overtime_count = set(), 0
            return [Mark("phase_start", phase.id)]   # for the record: a new visit, not the old one
        run.start = now - (state["run"]["elapsed"] + since)
        run.turn_anchor = now - (state["run"]["turn_elapsed"] + since)
        if phase.at is not None:
            run.lo, run.hi = e.schedule.effective(phase, run.index, run.start)
        # What fell due in the meantime counts as given: no burst of cues.
        e.schedule.catch_up_silently()
        return []
