"""What the chair's commands do to a session that runs: next, repeat,
pause and resume, how much time is left, end (asked twice); and what is
said after a restart.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from intervisor.core.events import Action, Command, Cue, Hush, Light, Mark, Play, Say, Show
from intervisor.core.shorten import OFFER_FROM

if TYPE_CHECKING:
    from intervisor.core.engine import Engine

#: How long the chair has to confirm "end" with a second end signal.
CONFIRM_END_WINDOW = 15.0
# What a paused session still answers; anything else is not acted on.
WHILE_PAUSED = frozenset({Command.PAUSE, Command.RESUME, Command.NEXT, Command.END, Command.TIME,
                          Command.REPEAT})


class Commands:
    """The chair's commands to a running session, one method each."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def handle(self, command: Command) -> list[Action]:
        handler = {
            Command.NEXT: self.next,
            Command.BACK: self.engine.history.back,
            Command.REPEAT: self.repeat,
            Command.PAUSE: self.toggle_pause,
            Command.RESUME: self.resume,
            Command.TIME: self.time,
            Command.END: self.end_requested,
            Command.STEP: lambda: [],
        }[command]
        return handler()

    def next(self) -> list[Action]:
        e = self.engine
        if e.paused:
            return self.resume()
        now = e.clock.monotonic()
        if e.offer.until is not None and now < e.offer.until:
            return e.offer.accept(now)
        run = e.run
        phase = e.plan[run.index]
        questions = e.phases.questions(phase)
        if questions and not phase.silent and run.question + 1 < len(questions):
            e.history.push()
            run.question += 1
            q = questions[run.question]
            return [Hush(), e.say([q.text]), Mark("question", phase.id, q.text)]
        if phase.rounds is not None and run.turn + 1 < e.phases.turns(phase) \
                and "time_up" not in run.fired:
            e.history.push()
            run.turn += 1
            run.turn_anchor = now
            return [Hush()] + e.phases.turn_actions(phase, phase.silent)
        e.history.push()
        return [Hush()] + e.phases.advance()

    def repeat(self) -> list[Action]:
        e = self.engine
        if e.last_say is None:
            return []
        # The words said again do not ask for a press: the offer's window closes.
        e.offer.until = None
        out = [Hush()]
        say = e.last_say
        phase = e.plan[e.run.index]
        questions = e.phases.questions(phase)
        if questions and e.run.question >= 0:
            q = questions[e.run.question]
            if q.hint and q.hint not in say.parts:
                say = Say(say.parts + (q.hint,))
        e.last_say = say
        return out + [say, Mark("repeat", phase.id)]

    def toggle_pause(self) -> list[Action]:
        e = self.engine
        if e.paused:
            return self.resume()
        e.paused_at = e.clock.monotonic()
        phase = e.plan[e.run.index]
        say = Say((e.words["paused"],))  # not kept as last_say: repeat keeps the prompt
        return [Hush(), Play(Cue.PAUSED), Show(Light.PAUSED), say, Mark("pause", phase.id)]

    def resume(self) -> list[Action]:
        e = self.engine
        if not e.paused:
            return []
        now = e.clock.monotonic()
        gap = now - e.paused_at
        e.paused_at = None
        e.schedule.active_anchor += gap
        run = e.run
        run.start += gap
        run.turn_anchor += gap
        run.paused_total += gap
        if e.plan[run.index].at is not None:
            e.programme.resume(gap, now)
        phase = e.plan[run.index]
        return [Hush(), Play(Cue.RESUMED), Show(e.schedule.light()),
                Say((e.words["resumed"],) + e.offer.again(now)), Mark("resume", phase.id)]

    def time(self) -> list[Action]:
        e = self.engine
        now = e.clock.monotonic()
        w = e.words
        left = e.schedule.phase_left(now)
        if left >= 0:
            parts = [w["left_phase"], w.duration(left), w["in_phase"]]
        else:
            parts = [w["over_phase"], w.duration(-left) if -left >= 60 else w.minutes(1)]
        session_left = e.schedule.session_remaining(now)
        # Over time, this phase has nothing left: the rest of the session is
        # the phases to come (none in the last phase).
        if session_left > max(0.0, left) + 30:
            # A training day's blocks are sessions themselves: its end is the programme's.
            parts += [w["left_programme" if e.method.is_programme else "left_session"], w.duration(session_left)]
        if e.offer.overrun >= OFFER_FROM:
            parts.append(w["session_over"])
        return [Hush(), Say(tuple(p for p in parts if p)), Mark("time", e.plan[e.run.index].id)]

    def end_requested(self) -> list[Action]:
        e = self.engine
        now = e.clock.monotonic()
        if e.confirm_until is not None and now < e.confirm_until:
            e.confirm_until = None
            if e.paused:
                self.resume()
            return [Hush()] + e.phases.finish()
        e.confirm_until = now + CONFIRM_END_WINDOW
        return [Hush(), Play(Cue.WARNING), Say((e.words["confirm_end"],)),
                Mark("confirm_end", e.plan[e.run.index].id)]

    def resumed(self) -> list[Action]:
        """What to say and show after a restore."""
        e = self.engine
        if e.stage != "running" or e.run is None:
            return []
        e.schedule.catch_up_silently()
        now = e.clock.monotonic()
        # For the record: the phases that began while the device was down,
        # at the time they began.
        moved = [Mark("phase_start", pid, ago=now - at) for pid, at in e.schedule.moved_on]
        phase = e.plan[e.run.index]
        if phase.cues.auto_advance and "time_up" in e.run.fired and not e.paused:
            # The last phase ran out while the device was down: in the room
            # the session would have closed by itself, so it closes now, and
            # the record ends when it ran out.
            ran_out = now - (e.run.start + e.run.hi)
            return moved + [Mark("resume_after_restart", phase.id, ago=now - e.run.start)] + [
                replace(a, ago=ran_out) if isinstance(a, Mark) else a for a in e.phases.finish()]
        return moved + self._picked_up(now, phase)

    def _picked_up(self, now: float, phase) -> list[Action]:
        """After a restart: where the session stands, and how much time is left."""
        e = self.engine
        w = e.words
        left = e.schedule.phase_left(now)
        parts = [w["picks_up"], phase.title + "."]
        if left > 0:
            parts += [w["left_phase"], w.duration(left), w["in_phase"]]
        else:
            parts += [w["over_phase"], w.duration(-left) if -left >= 60 else w.minutes(1)]
        # Which question the group was on ("say again" adds its hint), and whose turn.
        parts += e.phases.place_words(phase)
        if e.paused:
            parts.append(w["paused"])   # the session stands still until the chair resumes
        else:
            parts += e.offer.again(now)
        # Paused: the lights flash in the colour time stood at, which a
        # panel that has just started has not seen yet.
        light = e.schedule.time_light()
        shows = [Show(light), Show(Light.PAUSED)] if e.paused else [Show(light)]
        # (A record started again, the saved one damaged, opens the phase
        # when it began.)
        say = Say(tuple(p for p in parts if p))
        # "Say again" repeats the phase, not the time left as it was now.
        e.last_say = Say(tuple([phase.title + "."] + e.phases.phase_words(phase)))
        return shows + [say, Mark("resume_after_restart", phase.id, ago=e.schedule.elapsed(now))]
