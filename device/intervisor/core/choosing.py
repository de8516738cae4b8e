"""The questions asked at the start: a question set, the number of participants.

Each open choice is asked in turn, its options stepped through with the
button; back undoes the last step. In the first two minutes of the first
phase, back asks the last question again (a slip of the thumb that started
the session is mended without ending it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from intervisor.core.commands import CONFIRM_END_WINDOW
from intervisor.core.events import Action, Command, Hush, Light, Mark, Say, Show
from intervisor.core.phrases import MAX_COUNT

if TYPE_CHECKING:
    from intervisor.core.engine import Engine

#: For this long into the session (active time), back in the first phase
#: with nothing in it to undo asks the last start-up question again: a slip
#: of the thumb is heard at once, and later a stray "ga terug" in the case's
#: telling must not undo the start.
REOPEN_WINDOW = 120.0


@dataclass
class Asking:
    """Where the start-of-session choices stand."""

    pending: list            # choice ids (and "participants") still open
    option: int = 0          # index of the option spoken last
    # What BACK undoes, last first: ("step", option before) or ("chose",
    # choice id, option taken). A wrong count of participants is mended
    # without ending the session and starting again.
    undo: list = field(default_factory=list)


class Choosing:
    """Asks the open choices at the start and takes the chair's answers."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.asking: Asking | None = None
        # The steps of the choosing at the start, kept while the first
        # phase has nothing of its own to undo (see reopen), and the
        # session's active time when it began after them.
        self.chosen: list = []
        self.begun_at = 0.0

    def open(self, pending: list) -> list[Action]:
        """Start asking the ``pending`` choices."""
        self.engine.stage = "choosing"
        self.asking = Asking(pending)
        return self._ask(first=True)

    def options(self, cid: str) -> list[tuple[str, str]]:
        """(value, spoken title) of each option of an open choice."""
        e = self.engine
        if cid == "participants":
            return [(str(n), e.words.count(n)) for n in range(2, MAX_COUNT + 1)]
        return [(o.id, o.title) for o in e.method.choice(cid).options]

    def _default(self, cid: str) -> int:
        method = self.engine.method
        options = self.options(cid)
        if cid == "participants":
            want = str(method.participants)
        else:
            want = method.choice(cid).default or options[0][0]
        return next((i for i, (v, _) in enumerate(options) if v == want), 0)

    def _ask(self, first: bool = False, option: int | None = None) -> list[Action]:
        e = self.engine
        ch = self.asking
        cid = ch.pending[0]
        ch.option = self._default(cid) if option is None else option
        title = e.words["participants"] if cid == "participants" else e.method.choice(cid).title
        parts = [e.method.title] if first else []
        parts += [title, e.words["choose"], self.options(cid)[ch.option][1]]
        return [Hush(), e.say(parts), Mark("choice", None, title), Show(Light.IDLE)]

    def handle(self, command: Command) -> list[Action]:
        e = self.engine
        if command not in (Command.END, Command.TICK):
            # As while running: any other command of the chair takes back
            # "really end?", so that a later END asks again instead of
            # ending at once. The loop's TICK is no command of the chair's.
            e.confirm_until = None
        ch = self.asking
        options = self.options(ch.pending[0])
        if command is Command.STEP:
            ch.undo.append(("step", ch.option))
            ch.option = (ch.option + 1) % len(options)
            return [Hush(), e.say([options[ch.option][1]])]
        if command is Command.BACK:
            return self.back()
        if command is Command.NEXT:
            return self._take(options)
        if command is Command.REPEAT:
            return [Hush(), e.last_say] if e.last_say else []
        if command is Command.END:
            return self._end()
        return []

    def _take(self, options: list[tuple[str, str]]) -> list[Action]:
        """The option spoken last is taken: the next question, or the session begins."""
        e = self.engine
        ch = self.asking
        cid = ch.pending[0]
        value = options[ch.option][0]
        if cid == "participants":
            e.participants = int(value)
        else:
            e.choices[cid] = value
        ch.undo.append(("chose", cid, ch.option))
        ch.pending.pop(0)
        actions: list[Action] = [Mark("chosen", None, options[ch.option][1])]
        if ch.pending:
            return actions + self._ask()
        self.chosen, self.asking = ch.undo, None
        return actions + e.phases.begin()

    def _end(self) -> list[Action]:
        """END while choosing: asks "really end?" first, as while running."""
        e = self.engine
        now = e.clock.monotonic()
        if e.confirm_until is not None and now < e.confirm_until:
            e.stage = "ended"
            return [Hush(), Say((e.phases.ended_word(),)), Mark("session_end"), Show(Light.IDLE)]
        e.confirm_until = now + CONFIRM_END_WINDOW
        return [Hush(), Say((e.words["confirm_end"],))]

    def back(self) -> list[Action]:
        """Undo the last step or choice made at the start: the option
        before is said again, or the question before is asked again with
        what was taken offered first."""
        e = self.engine
        ch = self.asking
        if not ch.undo:
            # Not kept as last_say: "say again" still repeats the question.
            return [Hush(), Say((e.words["back_at_start"],))]
        step = ch.undo.pop()
        if step[0] == "step":
            ch.option = step[1]
            return [Hush(), e.say([self.options(ch.pending[0])[ch.option][1]])]
        _, cid, option = step
        if cid == "participants":
            e.participants = None
        else:
            e.choices.pop(cid, None)
        ch.pending.insert(0, cid)
        return self._ask(option=option)

    def may_reopen(self, now: float) -> bool:
        """Would back, with nothing in the session to undo, ask the last
        start-up question again? The session's time counts, not the
        phase's: a first phase that moves on by itself starts over when
        back returns to it."""
        e = self.engine
        return e.run.index == 0 and bool(self.chosen) \
            and e.schedule.active(now) - self.begun_at < REOPEN_WINDOW

    def reopen(self) -> list[Action]:
        """Back from the first phase with nothing in it to undo: the last
        choice made at the start is asked again. Where a method asks one
        question, taking it starts the session at once, so a slip of the
        thumb is mended here. The first phase starts afresh when the
        choices are taken again; the ``reopen`` mark tells the record that
        no phase runs meanwhile."""
        e = self.engine
        left = e.plan[e.run.index].id
        e.stage = "choosing"
        e.run, e.plan = None, ()
        e.offer.scale, e.offer.overrun = 1.0, 0.0
        e.offer.until = e.confirm_until = None
        self.asking, self.chosen = Asking([], undo=self.chosen), []
        return self.back() + [Mark("reopen", left)]
