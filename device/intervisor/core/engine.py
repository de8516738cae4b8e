"""The facilitation engine: runs one session of one method on a clock.

It is pure: it reads no files, plays no sound and touches no pin. It is
handed a :class:`~intervisor.core.model.Method` and a clock, takes
:class:`~intervisor.core.events.Command` values and answers each with a list of
actions (:class:`~intervisor.core.events.Say`, ``Play``, ``Show``, ``Hush``,
``Mark``). The caller feeds it ``Command.TICK`` when :meth:`Engine.next_due`
has come.

>>> from intervisor.core.clock import FakeClock
>>> from intervisor.core.model import Method, Phase, Duration
>>> m = Method("m", "Proef", "nl", (Phase("a", "Inbrengen", Duration(300, 300)),))
>>> clock = FakeClock()
>>> e = Engine(m, clock)
>>> [a.kind for a in e.start() if isinstance(a, Mark)]
['intro', 'phase_start']
>>> clock.advance(300); [a.kind for a in e.handle(Command.TICK) if isinstance(a, Mark)]
['warning', 'time_up']

Timekeeping: every deadline is an absolute time on the monotonic clock,
derived from the phase's start; a pause moves the start, so every timer
freezes together and nothing drifts however long the session runs.

Speech: each call returns at most one ``Say`` (all that is to be said,
in parts), so that an adapter may let a new ``Say`` interrupt the last one.

:class:`Engine` is the facade: it holds the session's facts (stage, plan,
the phase that runs, the pause, what was said last) and hands each command
to the part whose job it is:

- :mod:`~intervisor.core.choosing`: the questions asked at the start;
- :mod:`~intervisor.core.phases`: what a phase says, moving through the plan;
- :mod:`~intervisor.core.commands`: the chair's commands while it runs;
- :mod:`~intervisor.core.schedule`: the phase's time and its deadlines;
- :mod:`~intervisor.core.programme`: clock-time blocks (a training day);
- :mod:`~intervisor.core.shorten`: running late, the offer to shorten;
- :mod:`~intervisor.core.undo`: what back undoes;
- :mod:`~intervisor.core.snapshot`: the session saved, and restored after a restart;
- :mod:`~intervisor.core.texts`: every text a method may make it say.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from intervisor.core import snapshot as snapshots
from intervisor.core.choosing import Choosing
from intervisor.core.clock import Clock
from intervisor.core.commands import CONFIRM_END_WINDOW, WHILE_PAUSED, Commands
from intervisor.core.events import Action, Command, Mark, Say
from intervisor.core.model import Method, Phase
from intervisor.core.phases import Phases
from intervisor.core.phrases import Phrases
from intervisor.core.programme import Programme
from intervisor.core.schedule import PhaseRun, Schedule
from intervisor.core.shorten import OFFER_WINDOW, Offer
from intervisor.core.texts import phrases_to_render
from intervisor.core.undo import History

__all__ = ["Engine", "CONFIRM_END_WINDOW", "OFFER_WINDOW"]


class Engine:
    """One session of one method.

    ``choices`` presets choices (``{"vragen": "vijf-vragen"}``); the ones not
    preset are asked at the start. ``participants`` sets the number of turns
    in rounds; ``None`` asks for it when the method has rounds.
    """

    def __init__(
        self,
        method: Method,
        clock: Clock,
        *,
        choices: Mapping[str, str] | None = None,
        participants: int | None = None,
    ):
        self.method = method
        self.clock = clock
        self.words = Phrases(method.language)
        self.choices: dict[str, str] = {}
        for cid, oid in (choices or {}).items():
            choice = method.choice(cid)  # KeyError: an unknown choice is the caller's bug
            choice.option(oid)
            self.choices[cid] = oid
        self.participants = participants
        self.stage = "new"       # new, choosing, running, ended
        self.paused_at: float | None = None
        self.run: PhaseRun | None = None
        self.plan: tuple[Phase, ...] = ()
        self.confirm_until: float | None = None
        self.last_say: Say | None = None
        # The parts, each with one job; they read and change the facts above.
        self.schedule = Schedule(self)
        self.programme = Programme(self)
        self.offer = Offer(self)
        self.history = History(self)
        self.choosing = Choosing(self)
        self.phases = Phases(self)
        self.commands = Commands(self)

    # ------------------------------------------------------------------ api

    @property
    def ended(self) -> bool:
        return self.stage == "ended"

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def offer_until(self) -> float | None:
        """When the open offer to shorten closes (monotonic), or None."""
        return self.offer.until

    @offer_until.setter
    def offer_until(self, value: float | None) -> None:
        self.offer.until = value

    @property
    def scale(self) -> float:
        """The shortening factor for phases not yet started."""
        return self.offer.scale

    @property
    def overrun(self) -> float:
        """Seconds the session runs behind its plan."""
        return self.offer.overrun

    def start(self) -> list[Action]:
        """Begin: ask the open choices, else the introduction and phase 1."""
        if self.stage != "new":
            return []
        pending = [c.id for c in self.method.choices if c.id not in self.choices]
        if self.participants is None and self.method.needs_participants:
            pending.append("participants")
        if pending:
            return self.choosing.open(pending)
        return self.phases.begin()

    def handle(self, command: Command) -> list[Action]:
        """Answer a command from the chair or the clock."""
        if self.stage == "new":
            return self.start() if command is Command.NEXT else []
        if self.stage == "ended":
            return []
        if self.stage == "choosing":
            return self.choosing.handle(command)
        if command is Command.TICK:
            return self.schedule.tick()
        if command is not Command.END:
            self.confirm_until = None
        if self.paused and command not in WHILE_PAUSED:
            return []
        return self.commands.handle(command)

    def accepts(self, command: Command) -> bool:
        """Would :meth:`handle` do anything with the chair's ``command`` now
        (say, show, or change the session)? Changes nothing. Voice asks it
        before it answers a heard command, so that a command that would do
        nothing (``RESUME`` with nothing paused) is not answered with the
        "heard" cue in the middle of the conversation. ``TICK`` is the
        clock's, not the chair's: always True.

        >>> from intervisor.core.clock import FakeClock
        >>> from intervisor.core.model import Duration
        >>> m = Method("m", "Proef", "nl", (Phase("a", "Inbrengen", Duration(300, 300)),))
        >>> e = Engine(m, FakeClock())
        >>> e.accepts(Command.NEXT), e.accepts(Command.PAUSE)
        (True, False)
        >>> _ = e.start()
        >>> e.accepts(Command.PAUSE), e.accepts(Command.RESUME)
        (True, False)
        >>> _ = e.handle(Command.PAUSE)
        >>> e.accepts(Command.RESUME), e.accepts(Command.BACK)
        (True, False)
        """
        if command is Command.TICK:
            return True
        if self.stage == "new":
            return command is Command.NEXT
        if self.stage == "ended":
            return False
        if self.confirm_until is not None and self.clock.monotonic() < self.confirm_until:
            return True   # any command takes back the question "really end?"
        if command is Command.REPEAT:
            return self.last_say is not None
        if self.stage == "choosing":
            return command in (Command.STEP, Command.NEXT, Command.BACK, Command.END)
        if self.paused:
            return command in WHILE_PAUSED
        return command not in (Command.RESUME, Command.STEP)

    def next_due(self, windows: bool = True) -> float | None:
        """Monotonic time of the next thing the clock will fire, if any.
        ``windows=False``: only the deadlines that sound (cues, turns), not
        the silent end of an offer or a confirmation."""
        if self.stage != "running" or self.paused or self.run is None:
            return None
        dues = [t for t, _ in self.schedule.deadlines()]
        for window in (self.offer.until, self.confirm_until) if windows else ():
            if window is not None:
                dues.append(window)
        return min(dues) if dues else None

    def status(self) -> dict[str, Any]:
        """Where the session stands, for `intervisor status` and the view."""
        now = self.clock.monotonic()
        st: dict[str, Any] = {
            "method": self.method.id,
            "title": self.method.title,
            "stage": self.stage,
            "paused": self.paused,
            "choices": dict(self.choices),
            "participants": self.participants,
        }
        if self.run is not None and self.stage == "running":
            phase = self.plan[self.run.index]
            elapsed = self.schedule.elapsed(now)
            questions = self.phases.questions(phase)
            st.update(
                phase=phase.id,
                phase_title=phase.title,
                phase_number=self.run.index + 1,
                phases=len(self.plan),
                question=self.run.question + 1 if questions else None,
                questions=len(questions) or None,
                turn=self.run.turn + 1 if phase.rounds else None,
                turns=self.phases.turns(phase) if phase.rounds else None,
                elapsed=round(elapsed, 3),
                remaining=round(self.schedule.phase_left(now), 3),
                session_remaining=round(self.schedule.session_remaining(now), 3),
                light=self.schedule.light().value,
            )
        return st

    def snapshot(self) -> dict:
        """The whole session as JSON-able data, with the wall time it was
        taken, so that a restart (even after a power cut, when the monotonic
        clock starts again from zero) resumes with the time that passed."""
        return snapshots.snapshot(self)

    @classmethod
    def restore(cls, method: Method, clock: Clock, snapshot: Mapping) -> "Engine":
        """Rebuild a session from :meth:`snapshot`. Raises ``ValueError`` when
        the snapshot does not belong to this method or is not one."""
        return snapshots.restore(cls, method, clock, snapshot)

    def resumed(self) -> list[Action]:
        """What to say and show after :meth:`restore`."""
        return self.commands.resumed()

    def phrases_to_render(self) -> list[str]:
        """Every text part this engine may say for its method, whatever is
        chosen: the method's own texts and the device's fixed phrases. The
        parts with numbers are :func:`intervisor.core.phrases.dynamic_parts`."""
        return phrases_to_render(self.method, self.words)

    # ------------------------------------------------- shared by the parts

    def say(self, parts: Iterable[str]) -> Say:
        """A Say of the non-empty ``parts``, kept as what "say again" repeats."""
        say = Say(tuple(p for p in parts if p))
        self.last_say = say
        return say

    def _state(self, include_history: bool = True) -> dict:
        return snapshots.state(self, include_history)

    def _load_state(self, state: dict, now: float) -> None:
        snapshots.load_state(self, state, now)

    def _check_restored(self) -> None:
        snapshots.check_restored(self)
