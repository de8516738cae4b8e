"""The loop that joins the room to the engine: one queue in, adapters out.

A :class:`Device` is idle between sessions and runs one :class:`Engine`
while a session is on. Every input (button, keyboard, voice, the service's
own signals) arrives as a :class:`~intervisor.core.events.Command` on
:attr:`Device.queue`; the device answers with actions and hands each to
every adapter's ``perform(action)``. Adapters must not block.

>>> from intervisor.core.clock import FakeClock
>>> from intervisor.core.model import Method, Phase, Duration
>>> m = Method("kort", "Kort", "nl", (Phase("a", "A", Duration(60, 60)),))
>>> heard = ActionLog()
>>> device = Device({"kort": m}, FakeClock(), [heard])
>>> device.handle(Command.NEXT) and device.session is not None
True

At idle a press starts the selected method and ``STEP`` steps through the
installed ones, speaking each title (``BACK`` the other way).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from typing import Any, Callable, Iterable, Mapping, Protocol

from intervisor.core.clock import Clock, LeadClock
from intervisor.core.engine import Engine
from intervisor.core.events import Action, Command, Cue, Hush, Light, Mark, Play, Say, Show
from intervisor.core.model import Method
from intervisor.core.phrases import Phrases

log = logging.getLogger("intervisor")


class Adapter(Protocol):
    def perform(self, action: Action) -> None: ...


class ActionLog:
    """An adapter that keeps every action: the fake for tests."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def perform(self, action: Action) -> None:
        self.actions.append(action)

    def said(self) -> list[str]:
        return [a.text for a in self.actions if isinstance(a, Say)]


class CommandQueue(queue.Queue):
    """The device's one queue, bounded. ``put`` never blocks (it is called
    from gpiozero's, the microphone's and the input's threads): a command
    that finds the queue full is dropped, with one log line for the whole
    burst. A chair presses a few times a minute; hundreds waiting means
    something floods the queue, and each would be answered late anyway.

    >>> q = CommandQueue(2)
    >>> for c in (Command.NEXT, Command.STEP, Command.BACK): q.put(c)
    >>> q.qsize(), q.dropped
    (2, 1)
    """

    def __init__(self, maxsize: int = 200):
        super().__init__(maxsize)
        self.dropped = 0
        self._dropping = False

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        try:
            super().put(item, block=False)
        except queue.Full:
            with self.mutex:
                self.dropped += 1
                first, self._dropping = not self._dropping, True
            if first:
                log.warning("queue: %d commands wait already; more are dropped until the device "
                            "catches up", self.maxsize)

    def get(self, block: bool = True, timeout: float | None = None):
        item = super().get(block, timeout)
        if self._dropping and self.qsize() < self.maxsize // 2:
            self._dropping = False   # the next burst gets its line
        return item


# What the idle device answers: start, the next method, the method before, say it again.
IDLE_COMMANDS = frozenset({Command.NEXT, Command.STEP, Command.BACK, Command.REPEAT})


def _lead_with(text: str, actions: list[Action]) -> list[Action]:
    """``text`` said first, as part of the first Say among ``actions``."""
    out, done = [], False
    for a in actions:
        if isinstance(a, Say) and not done:
            a, done = Say((text,) + a.parts), True
        out.append(a)
    return out


class Device:
    """Idle or in session; the one place where commands meet the engine.

    ``methods`` maps id to method (the service passes its library's current
    view, so a reload is seen at the next idle press). ``on_change`` is called
    after every step that changed something (the service saves state there);
    ``on_session_end`` with the finished engine (the session record).
    ``explain(language)`` gives how the button works; it is said once, the
    first time each method is run, before the method's own words.

    ``before_sound(actions)`` is called with a session's answer before
    any adapter gets it (the service saves there: what the group hears
    must survive a kill).

    ``lead`` (seconds): the loop wakes that long before a deadline and lets
    the engine act on it then, with the clock held at the deadline; the
    sounds it asks for carry the deadline as ``at``, so the sound output
    places them on it instead of a buffer late. Lights change that much
    early, which nobody sees. 0 acts on deadlines when they come.
    """

    def __init__(
        self,
        methods: Mapping[str, Method],
        clock: Clock,
        adapters: Iterable[Adapter] = (),
        *,
        selected: str | None = None,
        choices: Mapping[str, str] | None = None,
        participants: int | None = None,
        language: str = "nl",
        on_change: Callable[["Device"], None] | None = None,
        on_session_end: Callable[[Engine], None] | None = None,
        explain: Callable[[str], str] | None = None,
        lead: float = 0.0,
        before_sound: Callable[[list[Action]], None] | None = None,
    ):
        self.methods = methods
        self.lead = max(0.0, float(lead))
        self._time = clock  # the time itself, never held
        self.clock = LeadClock(clock) if self.lead > 0 else clock
        self.adapters = list(adapters)
        self.selected = selected if selected in methods else (sorted(methods)[0] if methods else None)
        self.preset_choices = dict(choices or {})
        self.participants = participants
        self.words = Phrases(language)
        self.on_change = on_change
        self.on_session_end = on_session_end
        self.before_sound = before_sound
        self.session: Engine | None = None
        self.queue: "queue.Queue[Command]" = CommandQueue()
        self.faults: set[str] = set()
        self.explain = explain
        self.explained: set[str] = set()

    # ------------------------------------------------------------ commands

    def put(self, command: Command) -> None:
        """Thread-safe: the only thing a callback may do."""
        self.queue.put(command)

    def handle(self, command: Command, at: float | None = None) -> list[Action]:
        """Answer one command and hand the actions to the adapters.
        ``at``: the time the sounds of this answer are due (an early tick)."""
        if self.session is None:
            actions = self._idle(command)
            if self.session is not None and self.before_sound is not None:
                self.before_sound(actions)   # a session started: heard from now on
            self.dispatch(actions)
        else:
            choosing = self.session.stage == "choosing"
            try:
                actions = self.session.handle(command)
            except Exception:
                # A bug must not leave the room with a device that answers
                # nothing: close the session and say so with the error cue.
                log.exception("the session failed on %s; it is closed", command.value)
                self.session.stage = "ended"
                actions = [Hush(), Play(Cue.ERROR), Show(Light.IDLE), Mark("session_end")]
            if choosing and self.session.stage == "running":
                actions = self._explained(actions)
            if at is not None:
                actions = [dataclasses.replace(a, at=at) if isinstance(a, (Play, Say)) else a
                           for a in actions]
            if self.before_sound is not None:
                self.before_sound(actions)
            # The session's last words are said while it is still the
            # session (in its own language), then the device is idle.
            self.dispatch(actions)
            self._close_if_ended()
        if actions and self.on_change is not None:
            self.on_change(self)
        return actions

    def accepts(self, command: Command) -> bool:
        """Would :meth:`handle` act on ``command`` now? Changes nothing, and
        may be asked from another thread (voice asks before it answers a
        heard command): it only reads, and a session that ends meanwhile
        is one command late at worst.

        >>> from intervisor.core.clock import FakeClock
        >>> d = Device({}, FakeClock())
        >>> d.accepts(Command.NEXT)
        False
        """
        session = self.session
        if session is not None:
            return session.accepts(command)
        return self._can_choose() and command in IDLE_COMMANDS

    def accepts_by_voice(self, command: Command) -> bool:
        """What voice may act on now: :meth:`accepts`, less going back
        through the methods at idle. Two ticks do that at a glance of the
        chair; a "ga terug" heard in the talk before a session would change
        the method a press starts, for no use anyone has of it by voice.

        >>> from intervisor.core.clock import FakeClock
        >>> from intervisor.core.model import Duration, Method, Phase
        >>> d = Device({"m": Method("m", "M", "nl", (Phase("a", "A", Duration(60, 60)),))}, FakeClock())
        >>> d.accepts(Command.BACK), d.accepts_by_voice(Command.BACK), d.accepts_by_voice(Command.NEXT)
        (True, False, True)
        """
        if self.session is None and command is Command.BACK:
            return False
        return self.accepts(command)

    def dispatch(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Mark):
                # The kind and the phase only: never what was said.
                log.info("event %s%s", action.kind, f" phase={action.phase}" if action.phase else "")
            for adapter in self.adapters:
                try:
                    adapter.perform(action)
                except Exception:  # an adapter's fault must never stop the session
                    log.exception("adapter %s failed on %s", type(adapter).__name__, type(action).__name__)

    def _can_choose(self) -> bool:
        return bool(self.methods) and self.selected is not None

    def _idle(self, command: Command) -> list[Action]:
        if not self._can_choose() or command not in IDLE_COMMANDS:
            return []
        if command is Command.NEXT:
            return self.start(self.selected)
        if command in (Command.STEP, Command.BACK):
            # Back is the method before: one tick too many is mended with
            # two, not by going round the whole list.
            ids = sorted(self.methods)
            way = 1 if command is Command.STEP else -1
            i = ids.index(self.selected) if self.selected in ids else (-1 if way == 1 else 0)
            self.selected = ids[(i + way) % len(ids)]
            return [Hush(), Say((self.methods[self.selected].title,)), Mark("selected")]
        if command is Command.REPEAT:
            return self.greeting()
        return []

    def greeting(self) -> list[Action]:
        """What the idle device says: the selected method, and how to start it."""
        if self.selected is None:
            return [Show(Light.IDLE)]
        return [Hush(), Show(Light.IDLE),
                Say((self.words["ready"], self.methods[self.selected].title, self.words["press_to_start"]))]

    def start(self, method_id: str, choices: Mapping[str, str] | None = None) -> list[Action]:
        method = self.methods[method_id]
        preset = {k: v for k, v in {**self.preset_choices, **(choices or {})}.items()
                  if k in {c.id for c in method.choices}
                  and v in {o.id for o in method.choice(k).options}}
        self.session = Engine(method, self.clock, choices=preset, participants=self.participants)
        log.info("session start method=%s", method.id)
        actions = self.session.start()
        # While choices are open one tick steps to the next option, not
        # "repeat": the explanation waits for the session itself (handle).
        return actions if self.session.stage == "choosing" else self._explained(actions)

    def _explained(self, actions: list[Action]) -> list[Action]:
        """The button explained at a method's first session, as part of the
        opening Say (a Say of its own would be cut off by it)."""
        method = self.session.method
        if self.explain is None or method.id in self.explained:
            return actions
        self.explained.add(method.id)
        return _lead_with(self.explain(method.language), actions)

    def resume(self, snapshot: Mapping[str, Any]) -> list[Action]:
        """Pick up a saved session (raises ``ValueError`` when it cannot)."""
        method = self.methods.get(snapshot.get("method"))
        if method is None:
            raise ValueError(f"the saved session's method {snapshot.get('method')!r} is not installed")
        self.session = Engine.restore(method, self.clock, snapshot)
        actions = self.session.resumed()
        self.dispatch(actions)
        # Its last phase may have run out while the device was down.
        if self._close_if_ended() and self.on_change is not None:
            self.on_change(self)
        return actions

    def _close_if_ended(self) -> bool:
        """An ended session makes the device idle and is reported."""
        if self.session is None or not self.session.ended:
            return False
        finished, self.session = self.session, None
        if self.on_session_end is not None:
            self.on_session_end(finished)
        return True

    # ---------------------------------------------------------------- loop

    def step(self, max_wait: float = 0.5) -> Command:
        """Wait for the next command or deadline, whichever comes first, and
        handle it. Returns the command handled (``TICK`` on a deadline)."""
        due = self.session.next_due() if self.session is not None else None
        sounding = self.session.next_due(windows=False) if self.lead > 0 and due is not None else None
        lead = self.lead if due is not None and due == sounding else 0.0
        wait = max_wait if due is None else min(max_wait, max(0.0, due - lead - self._time.monotonic()))
        try:
            command = self.queue.get(timeout=wait)
        except queue.Empty:
            command = Command.TICK
            if lead and 0 < due - self._time.monotonic() <= lead + 0.005:
                self.clock.hold(due)
        # While the clock is held, whatever is answered sounds at the held
        # time: a press just before a deadline is heard after its cue.
        held = self.clock.monotonic()
        self.handle(command, at=held if held > self._time.monotonic() else None)
        if command is not Command.TICK and self.session is not None:
            due = self.session.next_due()
            if due is not None and due <= self.clock.monotonic():
                self.handle(Command.TICK)
        return command

    def run(self, stop: threading.Event, max_wait: float = 0.5,
            each_turn: Callable[[], None] | None = None) -> None:
        """Step until ``stop`` is set. ``each_turn`` runs after every step
        (the service's watchdog ping, proof that the loop itself is alive)."""
        while not stop.is_set():
            self.step(max_wait)
            if each_turn is not None:
                each_turn()

    def status(self) -> dict[str, Any]:
        if self.session is not None:
            st = self.session.status()
        else:
            st = {"stage": "idle", "selected": self.selected}
        st["faults"] = sorted(self.faults)
        return st
