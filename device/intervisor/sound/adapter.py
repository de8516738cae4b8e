"""What the runner asks of the sound adapter (:class:`Sound`), and the
stand-in that only records it (:class:`FakeSound`), beside each other so
that the two cannot drift apart: the real one,
:class:`intervisor.sound.output.SoundOutput`, is a :class:`Sound` too.

>>> from intervisor.core.events import Cue, Play, Say
>>> sound = FakeSound()
>>> sound.perform(Say(("Nog", "7 minuten"))); sound.perform(Play(Cue.WARNING))
>>> sound.said, sound.played
(['Nog 7 minuten'], [<Cue.WARNING: 'warning'>])
"""

from __future__ import annotations

import abc
from typing import Any, Iterable

from intervisor.core.events import Cue, Hush, Play, Say


class Sound(abc.ABC):
    """The sound adapter's contract: ``perform`` a :class:`Say`,
    :class:`Play` or :class:`Hush` (any other action is ignored) without
    blocking; ``prepare`` a method's prompts ahead; say until when it is
    heard (the voice adapter is deaf until then); report a fault."""

    @abc.abstractmethod
    def perform(self, action: Any) -> None:
        """Carry out a :class:`Say`, :class:`Play` or :class:`Hush`; ignore the rest."""

    @abc.abstractmethod
    def prepare(self, texts: Iterable[str], language: str | None = None) -> int:
        """Have every text ready to be said (in ``language``, when given);
        the number newly rendered."""

    @abc.abstractmethod
    def busy_until(self) -> float:
        """Until when (``time.monotonic()``) the speaker makes sound; 0.0: silent."""

    @abc.abstractmethod
    def speaking_until(self) -> float:
        """Like :meth:`busy_until`, for speech only."""

    @abc.abstractmethod
    def is_busy(self) -> bool:
        """True while anything is still to be heard."""

    @abc.abstractmethod
    def finish(self, timeout: float = 10.0) -> bool:
        """Wait (bounded) until everything queued has been heard."""

    def drain(self, timeout: float = 10.0) -> bool:
        """:meth:`finish` under the name the runner's other adapters use."""
        return self.finish(timeout)

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of the device; nothing is heard after."""

    @property
    @abc.abstractmethod
    def faulted(self) -> bool:
        """True while there is no working output device."""


class FakeSound(Sound):
    """The sound adapter's stand-in: records what it was asked to do.

    >>> fake = FakeSound(); fake.perform(Hush()); fake.hushes
    1
    """

    def __init__(self) -> None:
        self.actions: list = []
        self.said: list[str] = []
        self.played: list[Cue] = []
        self.hushes = 0
        self.prepared: list[str] = []
        self.language: str | None = None
        self.fault: str | None = None
        self.closed = False

    @property
    def faulted(self) -> bool:
        return self.fault is not None

    def perform(self, action: Any) -> None:
        if isinstance(action, Say):
            self.said.append(action.text)
        elif isinstance(action, Play):
            self.played.append(action.cue)
        elif isinstance(action, Hush):
            self.hushes += 1
        else:
            return
        self.actions.append(action)

    def prepare(self, texts: Iterable[str], language: str | None = None) -> int:
        self.prepared.extend(texts)
        if language is not None:
            self.language = language
        return 0

    def busy_until(self) -> float:
        return 0.0

    def speaking_until(self) -> float:
        return 0.0

    def is_busy(self) -> bool:
        return False

    def finish(self, timeout: float = 10.0) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


__all__ = ["FakeSound", "Sound"]
