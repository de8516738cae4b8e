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
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from intervisor.core.clock import Clock
from intervisor.core.events import Action, Command, Cue, Hush, Light, Mark, Play, Say, Show
from intervisor.core.model import Choice, Method, Phase, Question
from intervisor.core.phrases import MAX_COUNT, Phrases

#: How long the chair has to confirm "end" with a second end signal.
CONFIRM_END_WINDOW = 15.0
# What a paused session still answers; anything else is not acted on.
WHILE_PAUSED = frozenset({Command.PAUSE, Command.RESUME, Command.NEXT, Command.END, Command.TIME,
                          Command.REPEAT})
#: How long an offer to shorten the rest stays open at a phase start.
OFFER_WINDOW = 30.0
#: Overrun (seconds) from which the engine offers to shorten the rest.
OFFER_FROM = 60.0
#: Never shorten what is left below this share of its plan.
MIN_SCALE = 0.5
#: For this long into the session (active time), back in the first phase
#: with nothing in it to undo asks the last start-up question again: a slip
#: of the thumb is heard at once, and later a stray "ga terug" in the case's
#: telling must not undo the start.
REOPEN_WINDOW = 120.0

SNAPSHOT_VERSION = 1


@dataclass
class _PhaseRun:
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


@dataclass
class _Choosing:
    """Where the start-of-session choices stand."""

    pending: list            # choice ids (and "participants") still open
    option: int = 0          # index of the option spoken last
    # What BACK undoes, last first: ("step", option before) or ("chose",
    # choice id, option taken). A wrong count of participants is mended
    # without ending the session and starting again.
    undo: list = field(default_factory=list)


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
        self.run: _PhaseRun | None = None
        self.plan: tuple[Phase, ...] = ()
        self.scale = 1.0          # shortening factor for phases not yet started
        self.overrun = 0.0        # seconds the session runs behind its plan
        self.offer_until: float | None = None
        self.confirm_until: float | None = None
        self.last_say: Say | None = None
        self._moved_on: list[tuple[str, float]] = []   # phases a catch-up entered, and when
        # The session's own clock: monotonic time less every pause, so that
        # an undo step can say how much active time has passed since it,
        # across pauses and restarts (see _push_history).
        self._active_anchor = clock.monotonic()
        self._history: list[dict] = []
        self._choosing: _Choosing | None = None
        # The steps of the choosing at the start, kept while the first
        # phase has nothing of its own to undo (see _reopen_choices), and
        # the session's active time when it began after them.
        self._chosen: list = []
        self._begun_at = 0.0

    # ------------------------------------------------------------------ api

    @property
    def ended(self) -> bool:
        return self.stage == "ended"

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def start(self) -> list[Action]:
        """Begin: ask the open choices, else the introduction and phase 1."""
        if self.stage != "new":
            return []
        pending = [c.id for c in self.method.choices if c.id not in self.choices]
        if self.participants is None and self.method.needs_participants:
            pending.append("participants")
        if pending:
            self.stage = "choosing"
            self._choosing = _Choosing(pending)
            return self._ask_choice(first=True)
        return self._begin()

    def handle(self, command: Command) -> list[Action]:
        """Answer a command from the chair or the clock."""
        if self.stage == "new":
            return self.start() if command is Command.NEXT else []
        if self.stage == "ended":
            return []
        if self.stage == "choosing":
            return self._handle_choosing(command)
        if command is Command.TICK:
            return self._tick()
        if command is not Command.END:
            self.confirm_until = None
        if self.paused and command not in WHILE_PAUSED:
            return []
        handler = {
            Command.NEXT: self._next,
            Command.BACK: self._back,
            Command.REPEAT: self._repeat,
            Command.PAUSE: self._toggle_pause,
            Command.RESUME: self._resume,
            Command.TIME: self._time,
            Command.END: self._end_requested,
            Command.STEP: lambda: [],
        }[command]
        return handler()

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
        dues = [t for t, _ in self._deadlines()]
        for window in (self.offer_until, self.confirm_until) if windows else ():
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
            elapsed = self._elapsed(now)
            questions = self._questions(phase)
            st.update(
                phase=phase.id,
                phase_title=phase.title,
                phase_number=self.run.index + 1,
                phases=len(self.plan),
                question=self.run.question + 1 if questions else None,
                questions=len(questions) or None,
                turn=self.run.turn + 1 if phase.rounds else None,
                turns=self._turns(phase) if phase.rounds else None,
                elapsed=round(elapsed, 3),
                remaining=round(self._phase_left(now), 3),
                session_remaining=round(self._session_remaining(now), 3),
                light=self._light().value,
            )
        return st

    # ------------------------------------------------------------ choosing

    def _choice_options(self, cid: str) -> list[tuple[str, str]]:
        """(value, spoken title) of each option of an open choice."""
        if cid == "participants":
            return [(str(n), self.words.count(n)) for n in range(2, MAX_COUNT + 1)]
        return [(o.id, o.title) for o in self.method.choice(cid).options]

    def _choice_default(self, cid: str) -> int:
        options = self._choice_options(cid)
        if cid == "participants":
            want = str(self.method.participants)
        else:
            want = self.method.choice(cid).default or options[0][0]
        return next((i for i, (v, _) in enumerate(options) if v == want), 0)

    def _ask_choice(self, first: bool = False, option: int | None = None) -> list[Action]:
        ch = self._choosing
        cid = ch.pending[0]
        ch.option = self._choice_default(cid) if option is None else option
        title = self.words["participants"] if cid == "participants" else self.method.choice(cid).title
        parts = [self.method.title] if first else []
        parts += [title, self.words["choose"], self._choice_options(cid)[ch.option][1]]
        return [Hush(), self._say(parts), Mark("choice", None, title), Show(Light.IDLE)]

    def _handle_choosing(self, command: Command) -> list[Action]:
        if command not in (Command.END, Command.TICK):
            # As while running: any other command of the chair takes back
            # "really end?", so that a later END asks again instead of
            # ending at once. The loop's TICK is no command of the chair's.
            self.confirm_until = None
        ch = self._choosing
        cid = ch.pending[0]
        options = self._choice_options(cid)
        if command is Command.STEP:
            ch.undo.append(("step", ch.option))
            ch.option = (ch.option + 1) % len(options)
            return [Hush(), self._say([options[ch.option][1]])]
        if command is Command.BACK:
            return self._choosing_back()
        if command is Command.NEXT:
            value = options[ch.option][0]
            if cid == "participants":
                self.participants = int(value)
            else:
                self.choices[cid] = value
            ch.undo.append(("chose", cid, ch.option))
            ch.pending.pop(0)
            actions: list[Action] = [Mark("chosen", None, options[ch.option][1])]
            if ch.pending:
                return actions + self._ask_choice()
            self._chosen, self._choosing = ch.undo, None
            return actions + self._begin()
        if command is Command.REPEAT:
            return [Hush(), self.last_say] if self.last_say else []
        if command is Command.END:
            now = self.clock.monotonic()
            if self.confirm_until is not None and now < self.confirm_until:
                self.stage = "ended"
                return [Hush(), Say((self._ended(),)), Mark("session_end"), Show(Light.IDLE)]
            self.confirm_until = now + CONFIRM_END_WINDOW
            return [Hush(), Say((self.words["confirm_end"],))]
        return []

    def _choosing_back(self) -> list[Action]:
        """Undo the last step or choice made at the start: the option
        before is said again, or the question before is asked again with
        what was taken offered first."""
        ch = self._choosing
        if not ch.undo:
            # Not kept as last_say: "say again" still repeats the question.
            return [Hush(), Say((self.words["back_at_start"],))]
        step = ch.undo.pop()
        if step[0] == "step":
            ch.option = step[1]
            return [Hush(), self._say([self._choice_options(ch.pending[0])[ch.option][1]])]
        _, cid, option = step
        if cid == "participants":
            self.participants = None
        else:
            self.choices.pop(cid, None)
        ch.pending.insert(0, cid)
        return self._ask_choice(option=option)

    def _reopen_choices(self) -> list[Action]:
        """Back from the first phase with nothing in it to undo: the last
        choice made at the start is asked again. Where a method asks one
        question, taking it starts the session at once, so a slip of the
        thumb is mended here. The first phase starts afresh when the
        choices are taken again; the ``reopen`` mark tells the record that
        no phase runs meanwhile."""
        left = self.plan[self.run.index].id
        self.stage = "choosing"
        self.run, self.plan = None, ()
        self.scale, self.overrun = 1.0, 0.0
        self.offer_until = self.confirm_until = None
        self._choosing, self._chosen = _Choosing([], undo=self._chosen), []
        return self._choosing_back() + [Mark("reopen", left)]

    # ------------------------------------------------------------- running

    def _begin(self) -> list[Action]:
        self.stage = "running"
        self.plan = self.method.plan(self.choices)
        if self.participants is None:
            self.participants = self.method.participants
        now = self.clock.monotonic()
        self._begun_at = self._active(now)
        parts: list[str] = [self.method.title + "."]
        if self.method.intro:
            parts.append(self.method.intro)
        if self.method.rules:
            parts.append(self.words["rules"])
            parts.extend(self.method.rules)
        actions: list[Action] = [Hush(), Mark("intro", None, " ".join(parts))]
        if not self.plan:  # the loader refuses such a method; never hang on one
            return actions + self._finish()
        return actions + self._enter_phase(0, now, lead=parts)

    def _effective(self, phase: Phase, index: int, now: float) -> tuple[float, float]:
        """The phase's lower end and time-up in seconds from now."""
        if phase.at is not None:
            # A clock-time block ends when the next block begins, whenever
            # this one started: a late start shortens it. ``now`` may lie in
            # the past (a block entered at the moment it began, caught up
            # after a restart): the wall time then is what counts.
            nxt = self.plan[index + 1] if index + 1 < len(self.plan) else None
            if nxt is not None and nxt.at is not None:
                end_wall = self._wall_today(nxt.at)
            else:
                end_wall = self._wall_today(phase.at) + phase.duration.hi
            hi = max(0.0, end_wall - self._wall(now))
            return min(phase.duration.lo, hi), hi
        d = phase.duration.scaled(self.scale)
        return d.lo, d.hi

    def _wall(self, now: float) -> float:
        """The wall time at the monotonic instant ``now``."""
        return self.clock.time() - (self.clock.monotonic() - now)

    def _wall_today(self, seconds_after_midnight: int, wall: float | None = None) -> float:
        import time as _time

        lt = _time.localtime(self.clock.time() if wall is None else wall)
        midnight = _time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))
        return midnight + seconds_after_midnight

    def _enter_phase(self, index: int, now: float, lead: Iterable[str] = ()) -> list[Action]:
        lead = list(lead)
        phase = self.plan[index]
        lo, hi = self._effective(phase, index, now)
        self.run = _PhaseRun(index=index, start=now, lo=lo, hi=hi, turn_anchor=now)
        head = [self.words.phase(index + 1, len(self.plan), self.method.is_programme), phase.title + "."]
        if phase.at is not None:
            head += [self.words["block_at"], self.words.clock(self._block_end_clock(index)) + "."]
        elif self.method.times == "proposal":
            head += [self.words["proposed"], self.words.length(lo, hi)]
        else:
            head.append(self.words.length(lo, hi))
        actions: list[Action] = [Play(Cue.PHASE_START), Show(Light.RUNNING)]
        marks: list[Action] = [Mark("phase_start", phase.id, " ".join(lead + head + self._own_words(phase)))]
        offer: list[str] = []
        self.offer_until = None
        if self.overrun >= OFFER_FROM and index > 0 and not self.method.is_programme:
            # Said right after the title and the length, before the phase's
            # own text: after a long text the window had closed, and the
            # press meant for the offer moved on a phase instead.
            offer = self._offer(now)
            marks.append(Mark("offer", phase.id))
        questions = self._questions(phase)
        if questions and not phase.silent:
            self.run.question = 0
            marks.append(Mark("question", phase.id, questions[0].text))
        if phase.rounds is not None:
            marks.append(Mark("turn", phase.id, self.words.turn(1, self._turns(phase))))
        words = self._phase_words(phase)
        # "Say again" repeats the phase: not the whole introduction in the
        # first phase, and never the offer, whose window closes.
        self.last_say = Say(tuple(p for p in head + words if p))
        return actions + [Say(tuple(p for p in lead + head + offer + words if p))] + marks

    def _own_words(self, phase: Phase) -> list[str]:
        """The phase's own text, and its chosen option's."""
        option = self._option(phase)
        return [t for t in (phase.say, option.say if option is not None else None) if t]

    def _phase_words(self, phase: Phase) -> list[str]:
        """The phase's own words, and where it stands (question, turn)."""
        return self._own_words(phase) + self._place_words(phase)

    def _place_words(self, phase: Phase) -> list[str]:
        """Where the phase stands: its question, its turn."""
        words = []
        questions = self._questions(phase)
        if questions and not phase.silent and self.run.question >= 0:
            words.append(questions[self.run.question].text)
        if phase.rounds is not None:
            words.append(self.words.turn(self.run.turn + 1, self._turns(phase)))
        return words

    def _block_end_clock(self, index: int) -> int:
        phase = self.plan[index]
        nxt = self.plan[index + 1] if index + 1 < len(self.plan) else None
        if nxt is not None and nxt.at is not None:
            return nxt.at
        return int(phase.at + phase.duration.hi)

    def _option(self, phase: Phase):
        if phase.from_choice is None or phase.from_choice not in self.choices:
            return None
        return self.method.choice(phase.from_choice).option(self.choices[phase.from_choice])

    def _questions(self, phase: Phase) -> tuple[Question, ...]:
        option = self._option(phase)
        return phase.questions + (option.questions if option is not None else ())

    def _turns(self, phase: Phase) -> int:
        if phase.rounds is None:
            return 0
        if phase.rounds.count:
            return phase.rounds.count
        everyone = self.participants or self.method.participants
        return max(1, everyone - phase.rounds.leave_out)

    def _elapsed(self, now: float) -> float:
        """Active seconds in the current phase (pauses excluded)."""
        ref = self.paused_at if self.paused else now
        return ref - self.run.start

    def _active(self, now: float) -> float:
        """Active seconds of the whole session (pauses excluded)."""
        ref = self.paused_at if self.paused else now
        return ref - self._active_anchor

    def _phase_left(self, now: float) -> float:
        """Seconds left in this phase (negative: over time). A block keeps
        to the clock: a pause still on comes off it already."""
        left = self.run.hi - self._elapsed(now)
        if self.paused and self.plan[self.run.index].at is not None:
            left -= now - self.paused_at
        return left

    def _session_remaining(self, now: float) -> float:
        """Planned seconds left: this phase's rest plus the phases to come."""
        if self.run is None:
            return self.method.planned_seconds(self.choices)
        last = self.plan[-1]
        if last.at is not None:
            # A programme's blocks keep to the clock: the day ends when its last block does.
            wall_now = self._wall(now)
            # The programme's day is the one its current phase began on (a last block may run past midnight).
            day = wall_now - (now - self.run.start)
            return max(0.0, self._wall_today(last.at, day) + last.duration.hi - wall_now)
        rest = max(0.0, self.run.hi - self._elapsed(now))
        for i in range(self.run.index + 1, len(self.plan)):
            rest += self._effective(self.plan[i], i, now)[1] if self.plan[i].at is None \
                else self.plan[i].duration.hi
        return rest

    def _deadlines(self) -> list[tuple[float, str]]:
        """Every cue still to come in this phase, as (monotonic time, kind)."""
        run = self.run
        phase = self.plan[run.index]
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
        if phase.rounds is not None and run.turn + 1 < self._turns(phase) and "time_up" not in run.fired:
            out.append((self._next_turn_at(), "turn"))
        return out

    def _next_turn_at(self) -> float:
        run = self.run
        phase = self.plan[run.index]
        left = self._turns(phase) - run.turn
        return run.turn_anchor + (run.start + run.hi - run.turn_anchor) / left

    def _tick(self) -> list[Action]:
        if self.paused or self.run is None:
            return []
        now = self.clock.monotonic()
        actions: list[Action] = []
        if self.offer_until is not None and now >= self.offer_until:
            self.offer_until = None
        if self.confirm_until is not None and now >= self.confirm_until:
            self.confirm_until = None
        # Fire in time order; one tick may catch up with several deadlines.
        while True:
            due = sorted(d for d in self._deadlines() if d[0] <= now)
            if not due:
                break
            _, kind = due[0]
            actions += self._fire(kind)
            if self.stage != "running":
                break
        return self._merge_says(actions)

    def _fire(self, kind: str) -> list[Action]:
        run = self.run
        phase = self.plan[run.index]
        quiet = phase.silent
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
                out += self._advance_phase()
            return out
        if kind == "overtime":
            run.overtime_count += 1
            return [Play(Cue.OVERTIME), Show(Light.OVERTIME), Mark("overtime", phase.id)]
        if kind == "turn":
            turn_at = self._next_turn_at()
            run.turn += 1
            run.turn_anchor = turn_at
            return self._turn_actions(phase, quiet)
        raise AssertionError(kind)

    def _turn_actions(self, phase: Phase, quiet: bool) -> list[Action]:
        text = self.words.turn(self.run.turn + 1, self._turns(phase))
        parts = [text, phase.rounds.say] if phase.rounds.say else [text]
        # The mark carries the round's line too: the timeline shows what was said.
        out: list[Action] = [Play(Cue.TURN), Mark("turn", phase.id, " ".join(parts))]
        if not quiet:
            out.append(self._say(parts))
        return out

    def _merge_says(self, actions: list[Action]) -> list[Action]:
        """Keep one Say per answer: the parts of all, in order, at the first."""
        says = [a for a in actions if isinstance(a, Say)]
        if len(says) <= 1:
            return actions
        merged = Say(tuple(p for s in says for p in s.parts))
        self.last_say = merged
        out, placed = [], False
        for a in actions:
            if isinstance(a, Say):
                if not placed:
                    out.append(merged)
                    placed = True
            else:
                out.append(a)
        return out

    def _say(self, parts: Iterable[str]) -> Say:
        say = Say(tuple(p for p in parts if p))
        self.last_say = say
        return say

    def _light(self) -> Light:
        """What the time light shows: the pause over the time's own colour."""
        return Light.PAUSED if self.paused else self._time_light()

    def _time_light(self) -> Light:
        """The light of the time itself, paused or not."""
        run = self.run
        if "time_up" in run.fired:
            return Light.OVERTIME if run.overtime_count else Light.TIME_UP
        if "warning" in run.fired:
            return Light.WARNING
        return Light.RUNNING

    # --------------------------------------------------------- the commands

    def _push_history(self) -> None:
        state = self._state(include_history=False)
        # Undo keeps the clock running: the active time spent since the
        # step counts for the phase we return to, as it did in the room.
        # Kept as the session's active time, not a monotonic instant: a
        # pause since does not count, and a restart (a new boot starts the
        # monotonic clock again) does not change it.
        state["active_at"] = self._active(self.clock.monotonic())
        self._history.append(state)
        del self._history[:-50]  # a long evening needs no deeper undo

    def _next(self) -> list[Action]:
        if self.paused:
            return self._resume()
        now = self.clock.monotonic()
        if self.offer_until is not None and now < self.offer_until:
            return self._accept_offer(now)
        run = self.run
        phase = self.plan[run.index]
        questions = self._questions(phase)
        if questions and not phase.silent and run.question + 1 < len(questions):
            self._push_history()
            run.question += 1
            q = questions[run.question]
            return [Hush(), self._say([q.text]), Mark("question", phase.id, q.text)]
        if phase.rounds is not None and run.turn + 1 < self._turns(phase) \
                and "time_up" not in run.fired:
            self._push_history()
            run.turn += 1
            run.turn_anchor = now
            return [Hush()] + self._turn_actions(phase, phase.silent)
        self._push_history()
        return [Hush()] + self._advance_phase()

    def _advance_phase(self) -> list[Action]:
        now = self.clock.monotonic()
        run = self.run
        elapsed = self._elapsed(now)
        if self.plan[run.index].at is None:
            # Time to spare counts too (negative: ahead of the plan): a
            # session ahead of its planned end is not behind it.
            self.overrun += elapsed - run.hi
        self.offer_until = None
        if run.index + 1 >= len(self.plan):
            return self._finish()
        return self._enter_phase(run.index + 1, now)

    def _finish(self) -> list[Action]:
        self.stage = "ended"
        parts = []
        if self.method.closing:
            parts.append(self.method.closing)
        parts.append(self._ended())
        text = " ".join(parts)
        return [Play(Cue.PHASE_START), self._say(parts), Show(Light.IDLE), Mark("session_end", None, text)]

    def _ended(self) -> str:
        # A training's blocks are themselves called sessions: the end of the
        # day is the programme's.
        return self.words["programme_ended" if self.method.is_programme else "ended"]

    def _accept_offer(self, now: float) -> list[Action]:
        self._push_history()   # back undoes the shortening, not the phase change before it
        run = self.run
        remaining = self._session_remaining(now)
        target = max(remaining - self.overrun, remaining * MIN_SCALE)
        factor = target / remaining if remaining > 0 else 1.0
        elapsed = self._elapsed(now)
        self.scale *= factor
        # Only what is still to come shrinks; the minutes already spoken stay.
        run.lo = elapsed + max(0.0, run.lo - elapsed) * factor
        run.hi = elapsed + max(0.0, run.hi - elapsed) * factor
        self.overrun = max(0.0, self.overrun - (remaining - target))
        self.offer_until = None
        # The press cut short the phase's own words, which follow the offer:
        # they are said again after the answer (and are what "say again"
        # repeats from now on).
        rest = self._phase_words(self.plan[run.index])
        done = [self.words["shortened"]] + ([self.words["on_time"]] if self.overrun < 30 else [])
        if rest:
            self.last_say = Say(tuple(rest))
        return [Hush(), Play(Cue.HEARD), Say(tuple(done + rest)), Mark("shorten", self.plan[run.index].id)]

    def _back(self) -> list[Action]:
        if not self._history:
            # The session's time, not the phase's: a first phase that moves
            # on by itself starts over when back returns to it.
            if self.run.index == 0 and self._chosen \
                    and self._active(self.clock.monotonic()) - self._begun_at < REOPEN_WINDOW:
                return self._reopen_choices()
            # Not kept as last_say: "say again" still repeats the prompt.
            return [Hush(), Say((self.words["back_at_start"],))]
        now = self.clock.monotonic()   # never paused here: BACK waits for the resume
        left, anchor = self.run, self._active_anchor
        over: list[Action] = []
        state = self._history.pop()
        since = max(0.0, self._active(now) - state["active_at"])
        self._load_state(state, now)
        self._active_anchor = anchor
        self.offer_until = self.confirm_until = None
        run = self.run
        phase = self.plan[run.index]
        if run.index == left.index:
            # Back a question or a turn: the phase's clock runs on, and the
            # cues the group has heard are not heard again. A turn returned
            # to shares what is left of the round anew, as a press does.
            run.start, run.fired = left.start, set(left.fired)
            run.overtime_count, run.paused_total = left.overtime_count, left.paused_total
            run.turn_anchor = now
            if phase.at is not None:
                # A block keeps to the clock: a pause since the step came off it.
                run.lo, run.hi = self._effective(phase, run.index, run.start)
        elif phase.cues.auto_advance and phase.at is None and since + state["run"]["elapsed"] >= run.hi:
            # Back into a phase that would move on by itself at once (the
            # silent minute, run out): it starts over instead. A block of a
            # programme keeps to the clock and is simply over.
            run.start = run.turn_anchor = now
            run.fired, run.overtime_count = set(), 0
            over = [Mark("phase_start", phase.id)]   # for the record: a new visit, not the old one
        else:
            run.start = now - (state["run"]["elapsed"] + since)
            run.turn_anchor = now - (state["run"]["turn_elapsed"] + since)
            if phase.at is not None:
                run.lo, run.hi = self._effective(phase, run.index, run.start)
            # What fell due in the meantime counts as given: no burst of cues.
            self._catch_up_silently()
            phase = self.plan[self.run.index]
        questions = self._questions(phase)
        parts = [phase.title + "."]
        if questions and self.run.question >= 0:
            parts.append(questions[self.run.question].text)
        elif phase.rounds is not None:
            parts.append(self.words.turn(self.run.turn + 1, self._turns(phase)))
        return [Hush(), self._say(parts), Show(self._light())] + over + [Mark("back", phase.id)]

    def _repeat(self) -> list[Action]:
        if self.last_say is None:
            return []
        # The words said again do not ask for a press: the offer's window closes.
        self.offer_until = None
        out = [Hush()]
        say = self.last_say
        phase = self.plan[self.run.index]
        questions = self._questions(phase)
        if questions and self.run.question >= 0:
            q = questions[self.run.question]
            if q.hint and q.hint not in say.parts:
                say = Say(say.parts + (q.hint,))
        self.last_say = say
        return out + [say, Mark("repeat", phase.id)]

    def _toggle_pause(self) -> list[Action]:
        if self.paused:
            return self._resume()
        self.paused_at = self.clock.monotonic()
        phase = self.plan[self.run.index]
        say = Say((self.words["paused"],))  # not kept as last_say: repeat keeps the prompt
        return [Hush(), Play(Cue.PAUSED), Show(Light.PAUSED), say, Mark("pause", phase.id)]

    def _resume(self) -> list[Action]:
        if not self.paused:
            return []
        now = self.clock.monotonic()
        gap = now - self.paused_at
        self.paused_at = None
        self._active_anchor += gap
        run = self.run
        run.start += gap
        run.turn_anchor += gap
        run.paused_total += gap
        if self.plan[run.index].at is not None:
            # A block keeps to the clock: the pause comes off its time,
            # the next block still begins when the programme says.
            run.hi = max(0.0, run.hi - gap)
            run.lo = min(run.lo, run.hi)
            self._pass_over(now)
        phase = self.plan[run.index]
        return [Hush(), Play(Cue.RESUMED), Show(self._light()),
                Say((self.words["resumed"],) + self._offer_again(now)), Mark("resume", phase.id)]

    def _pass_over(self, now: float) -> None:
        """What fell due in a block during a pause is past: counted as
        given without a sound, but for the time-up itself (one cue, not the
        warning, the time-up and every reminder in a row)."""
        self._catch_up_silently(now, but_time_up=True)
        run = self.run
        cues, up = self.plan[run.index].cues, run.start + run.hi
        every = 0 if cues.auto_advance else cues.overtime_every
        while "time_up" not in run.fired and every > 0 and up + every * 2 ** run.overtime_count <= now:
            run.overtime_count += 1   # the reminders after the time-up still to fire

    def _offer_again(self, now: float) -> tuple[str, ...]:
        """An offer to shorten still open after a pause or a restart is made
        again, with a window of its own: nobody is expected to remember it,
        and the next press, meant to move on, would otherwise shorten the
        session without a word about it."""
        return tuple(self._offer(now)) if self.offer_until is not None else ()

    def _offer(self, now: float) -> list[str]:
        """The offer to shorten the rest, its window open from ``now``."""
        self.offer_until = now + OFFER_WINDOW
        w = self.words
        return [w["running_over"], w.duration(self.overrun), w["offer_shorten"]]

    def _time(self) -> list[Action]:
        now = self.clock.monotonic()
        w = self.words
        left = self._phase_left(now)
        if left >= 0:
            parts = [w["left_phase"], w.duration(left), w["in_phase"]]
        else:
            parts = [w["over_phase"], w.duration(-left) if -left >= 60 else w.minutes(1)]
        session_left = self._session_remaining(now)
        # Over time, this phase has nothing left: the rest of the session is
        # the phases to come (none in the last phase).
        if session_left > max(0.0, left) + 30:
            # A training day's blocks are sessions themselves: its end is the programme's.
            parts += [w["left_programme" if self.method.is_programme else "left_session"], w.duration(session_left)]
        if self.overrun >= OFFER_FROM:
            parts.append(w["session_over"])
        return [Hush(), Say(tuple(p for p in parts if p)), Mark("time", self.plan[self.run.index].id)]

    def _end_requested(self) -> list[Action]:
        now = self.clock.monotonic()
        if self.confirm_until is not None and now < self.confirm_until:
            self.confirm_until = None
            if self.paused:
                self._resume()
            return [Hush()] + self._finish()
        self.confirm_until = now + CONFIRM_END_WINDOW
        return [Hush(), Play(Cue.WARNING), Say((self.words["confirm_end"],)),
                Mark("confirm_end", self.plan[self.run.index].id)]

    # ---------------------------------------------------- snapshot / restore

    def _state(self, include_history: bool = True) -> dict:
        now = self.clock.monotonic()
        run = self.run
        state: dict[str, Any] = {
            "stage": self.stage,
            "choices": dict(self.choices),
            "participants": self.participants,
            "scale": self.scale,
            "overrun": self.overrun,
            "paused_for": (now - self.paused_at) if self.paused else None,
            "last_say": list(self.last_say.parts) if self.last_say else None,
            "offer_left": (self.offer_until - now) if self.offer_until is not None else None,
            "confirm_left": (self.confirm_until - now) if self.confirm_until is not None else None,
            "active": now - self._active_anchor,   # includes a pause that is still on
        }
        if run is not None:
            state["run"] = {
                "index": run.index,
                "elapsed": now - run.start,   # includes a pause that is still on
                "lo": run.lo,
                "hi": run.hi,
                "question": run.question,
                "turn": run.turn,
                "turn_elapsed": now - run.turn_anchor,
                "fired": sorted(run.fired),
                "overtime_count": run.overtime_count,
                "paused_total": run.paused_total,
            }
        if include_history:
            state["history"] = copy.deepcopy(self._history)
        return state

    def _load_state(self, state: dict, now: float) -> None:
        self.stage = state["stage"]
        self.choices = dict(state["choices"])
        self.participants = state["participants"]
        self.scale = state["scale"]
        self.overrun = state["overrun"]
        self.plan = self.method.plan(self.choices)
        self.paused_at = None if state["paused_for"] is None else now - state["paused_for"]
        self.last_say = Say(tuple(state["last_say"])) if state.get("last_say") else None
        self.offer_until = now + state["offer_left"] if state.get("offer_left") is not None else None
        self.confirm_until = now + state["confirm_left"] if state.get("confirm_left") is not None else None
        r = state.get("run")
        # A snapshot from before the session clock: its run's time stands in.
        self._active_anchor = now - state.get("active", r["elapsed"] if r is not None else 0.0)
        if r is None:
            self.run = None
            return
        self.run = _PhaseRun(
            index=r["index"], start=now - r["elapsed"], lo=r["lo"], hi=r["hi"],
            question=r["question"], turn=r["turn"], turn_anchor=now - r["turn_elapsed"],
            fired=set(r["fired"]), overtime_count=r["overtime_count"],
            paused_total=r["paused_total"],
        )
        if "history" in state:
            self._history = copy.deepcopy(state["history"])
            for h in self._history:
                # A step saved before the session clock (its instants are of
                # another boot's clock): undone as if taken at the restore.
                if isinstance(h, dict) and "active_at" not in h:
                    h["active_at"] = now - self._active_anchor

    def snapshot(self) -> dict:
        """The whole session as JSON-able data, with the wall time it was
        taken, so that a restart (even after a power cut, when the monotonic
        clock starts again from zero) resumes with the time that passed."""
        return {
            "version": SNAPSHOT_VERSION,
            "method": self.method.id,
            "language": self.method.language,
            "saved_wall": self.clock.time(),
            "state": self._state(),
        }

    @classmethod
    def restore(cls, method: Method, clock: Clock, snapshot: Mapping) -> "Engine":
        """Rebuild a session from :meth:`snapshot`. Raises ``ValueError`` when
        the snapshot does not belong to this method or is not one."""
        try:
            if snapshot.get("version") != SNAPSHOT_VERSION or snapshot.get("method") != method.id:
                raise ValueError("the saved session is for another method or version")
            engine = cls(method, clock, choices=snapshot["state"]["choices"],
                         participants=snapshot["state"]["participants"])
            # Time went on while the device was down, unless it was paused.
            saved = float(snapshot["saved_wall"])
            if not math.isfinite(saved):
                raise ValueError("the saved session has no time it was saved")
            away = max(0.0, clock.time() - saved)
            state = copy.deepcopy(dict(snapshot["state"]))
            # Times are kept "since then, until now": all move on by `away`;
            # a pause still on simply lasted longer.
            if state.get("run") is not None:
                state["run"]["elapsed"] += away
                state["run"]["turn_elapsed"] += away
            if state.get("active") is not None:
                state["active"] += away
            if state.get("paused_for") is not None:
                state["paused_for"] += away
            # The windows ran out while the device was down as they would
            # have in the room: "really end?" and the offer to shorten are
            # not answered minutes later by a press meant for something else.
            # (An offer open when the session was paused is made again at the resume.)
            for window in ("confirm_left", "offer_left"):
                if state.get(window) is not None:
                    state[window] -= away
                    if state[window] <= 0 and (window == "confirm_left" or state.get("paused_for") is None):
                        state[window] = None
            engine._load_state(state, clock.monotonic())
            engine._check_restored()
            return engine
        except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
            raise ValueError(f"the saved session is damaged ({exc.__class__.__name__}: {exc})") from exc

    def _check_restored(self) -> None:
        """A state file may be well-formed and still not make sense."""
        if self.stage != "running":
            raise ValueError(f"cannot resume a session in stage {self.stage!r}")
        run = self.run
        if run is None or not (0 <= run.index < len(self.plan)):
            raise ValueError("the saved phase is not in this method")
        numbers = [run.start, run.lo, run.hi, run.turn_anchor, run.paused_total, self.scale, self.overrun,
                   self._active_anchor]
        if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers) \
                or run.hi < 0 or not 0 < self.scale <= 1:
            raise ValueError("the saved times are not numbers a session can have")
        phase = self.plan[run.index]
        if not -1 <= run.question < max(1, len(self._questions(phase))):
            raise ValueError("the saved question is not in this phase")
        if not 0 <= run.turn < max(1, self._turns(phase)):
            raise ValueError("the saved turn is not in this phase")
        if not set(run.fired) <= {"min_reached", "warning", "time_up"}:
            raise ValueError("the saved cues are not ones a phase has")
        for step in self._history:
            # Each undo step must make a session too, or the chair's BACK
            # would fail in the room instead of the file failing here.
            probe = Engine(self.method, self.clock)
            try:
                probe._load_state({k: v for k, v in step.items() if k != "history"}, 0.0)
                probe._check_restored()
                times = [step["active_at"], step["run"]["elapsed"], step["run"]["turn_elapsed"]]
            except (KeyError, TypeError, AttributeError, IndexError, OverflowError, ValueError) as exc:
                raise ValueError(f"a saved undo step is damaged ({exc.__class__.__name__}: {exc})") from exc
            if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in times):
                raise ValueError("a saved undo step's times are not numbers")

    def _catch_up_silently(self, now: float | None = None, but_time_up: bool = False) -> None:
        """Count what fell due while the device was down as done, without a
        sound: a group that comes back wants one sentence, not every cue it
        missed in a row. A phase that moves on by itself has moved on.
        ``but_time_up``: the time-up itself is left to fire."""
        if now is None:
            # While paused the phase's time stands still at the pause.
            now = self.paused_at if self.paused else self.clock.monotonic()
        self._moved_on = []
        for _ in range(10_000):
            due = sorted(d for d in self._deadlines() if d[0] <= now and not (but_time_up and d[1] == "time_up"))
            if not due:
                return
            at, kind = due[0]
            phase = self.plan[self.run.index]
            if kind == "overtime":
                self.run.overtime_count += 1
            elif kind == "turn":
                self.run.turn += 1
                self.run.turn_anchor = at
            elif kind == "time_up" and phase.cues.auto_advance and self.run.index + 1 < len(self.plan):
                self._enter_phase(self.run.index + 1, at)   # its words are not said now
                self.offer_until = None   # an offer nobody heard cannot be taken up
                self._moved_on.append((self.plan[self.run.index].id, at))
            else:
                self.run.fired.add(kind)

    def resumed(self) -> list[Action]:
        """What to say and show after :meth:`restore`."""
        if self.stage != "running" or self.run is None:
            return []
        self._catch_up_silently()
        now = self.clock.monotonic()
        # For the record: the phases that began while the device was down,
        # at the time they began.
        moved = [Mark("phase_start", pid, ago=now - at) for pid, at in self._moved_on]
        phase = self.plan[self.run.index]
        if phase.cues.auto_advance and "time_up" in self.run.fired and not self.paused:
            # The last phase ran out while the device was down: in the room
            # the session would have closed by itself, so it closes now, and
            # the record ends when it ran out.
            ran_out = now - (self.run.start + self.run.hi)
            return moved + [Mark("resume_after_restart", phase.id, ago=now - self.run.start)] + [
                replace(a, ago=ran_out) if isinstance(a, Mark) else a for a in self._finish()]
        w = self.words
        left = self._phase_left(now)
        parts = [w["picks_up"], phase.title + "."]
        if left > 0:
            parts += [w["left_phase"], w.duration(left), w["in_phase"]]
        else:
            parts += [w["over_phase"], w.duration(-left) if -left >= 60 else w.minutes(1)]
        # Which question the group was on ("say again" adds its hint), and whose turn.
        parts += self._place_words(phase)
        if self.paused:
            parts.append(w["paused"])   # the session stands still until the chair resumes
        else:
            parts += self._offer_again(now)
        # Paused: the lights flash in the colour time stood at, which a
        # panel that has just started has not seen yet.
        shows = [Show(self._time_light()), Show(Light.PAUSED)] if self.paused else [Show(self._time_light())]
        # (A record started again, the saved one damaged, opens the phase
        # when it began.)
        say = Say(tuple(p for p in parts if p))
        # "Say again" repeats the phase, not the time left as it was now.
        self.last_say = Say(tuple([phase.title + "."] + self._phase_words(phase)))
        return moved + shows + [say, Mark("resume_after_restart", phase.id, ago=self._elapsed(now))]

    # ------------------------------------------------------------ rendering

    def phrases_to_render(self) -> list[str]:
        """Every text part this engine may say for its method, whatever is
        chosen: the method's own texts and the device's fixed phrases. The
        parts with numbers are :func:`intervisor.core.phrases.dynamic_parts`."""
        from intervisor.core.phrases import dynamic_parts, fixed_parts

        m = self.method
        w = self.words
        texts: set[str] = {m.title, m.title + "."}
        texts.update(t for t in (m.intro, m.closing) if t)
        texts.update(m.rules)
        for c in m.choices:
            texts.add(c.title)
            for o in c.options:
                texts.add(o.title)
                if o.say:
                    texts.add(o.say)
                texts.update(q.text for q in o.questions)
                texts.update(q.hint for q in o.questions if q.hint)
        for i, p in enumerate(m.phases):
            texts.add(p.title + ".")
            texts.add(p.title)
            if p.say:
                texts.add(p.say)
            texts.update(q.text for q in p.questions)
            texts.update(q.hint for q in p.questions if q.hint)
            if p.rounds is not None and p.rounds.say:
                texts.add(p.rounds.say)
            texts.add(w.length(p.duration.lo, p.duration.hi))
            if p.duration.lo != p.duration.hi:
                # A range said shrunk after the offer to shorten ("7 tot 11
                # minuten"): each one a scale can give (a handful), so that
                # no phase opens waiting for espeak-ng.
                texts.update(_shrunk_lengths(w, p.duration.lo, p.duration.hi))
            if p.at is not None:
                texts.add(w.clock(p.at) + ".")
                texts.add(w.clock(int(p.at + p.duration.hi)) + ".")
        for length in _plan_lengths(m):
            texts.update(w.phase(n, length, m.is_programme) for n in range(1, length + 1))
        texts.update(fixed_parts(m.language))
        texts.update(dynamic_parts(m.language))
        return sorted(t for t in texts if t)


def _shrunk_lengths(words: Phrases, lo: float, hi: float) -> set[str]:
    """How a phase of ``lo`` to ``hi`` seconds is announced at every scale
    in (0, 1] (taking the offer twice compounds it, so below half too).
    The text changes only where a rounded minute does, or a rule of
    :meth:`Phrases.length` switches: each stretch between those points is
    said one way, so a point inside each one gives them all."""
    cuts = {1.0}
    for end in (lo, hi):
        if end > 0:
            cuts.update((k - 0.5) * 60 / end for k in range(1, int(end / 60) + 2))
            cuts.update(seconds / end for seconds in (60, 75, 105, 3600))
    points = sorted(c for c in cuts if 0 < c <= 1)
    scales = points + [(a + b) / 2 for a, b in zip([0.0] + points, points)]
    return {words.length(lo * f, hi * f) for f in scales}


def _plan_lengths(method: Method) -> set[int]:
    """How many phases a session of ``method`` can have, over its choices."""
    import itertools

    gated = [c for c in method.choices if any(c.id in p.when for p in method.phases)]
    combos = itertools.islice(itertools.product(*[[(c.id, o.id) for o in c.options] for c in gated]), 256)
    return {len(method.plan(dict(combo))) for combo in combos} or {len(method.phases)}
