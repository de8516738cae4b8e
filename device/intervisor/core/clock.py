"""Clocks the engine runs on.

The engine never sleeps and never reads the time itself: it is handed a
clock. On the device that is :class:`SystemClock`; in tests and rehearsals a
:class:`FakeClock` that moves only when told to, so a two-hour session runs
in milliseconds and to the second.

>>> clock = FakeClock()
>>> clock.advance(90)
>>> clock.monotonic()
90.0
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (deadlines live here)."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (clock-time programmes,
        resuming after a restart)."""


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class LeadClock:
    """A clock the loop can set onto a deadline a little before it comes.

    The engine then acts on the deadline early, as if it had come, and the
    sounds it asks for can be placed on the deadline's own sample by the
    sound output (which needs them a buffer ahead). It never runs back:
    until the clock it wraps catches up, it stands at the deadline.

    >>> inner = FakeClock(); clock = LeadClock(inner)
    >>> clock.hold(10.0); clock.monotonic()
    10.0
    >>> inner.advance(12); clock.monotonic()
    12.0
    """

    def __init__(self, clock: Clock):
        self.inner = clock
        self._held = float("-inf")

    def hold(self, mono: float) -> None:
        """Stand at ``mono`` (monotonic seconds) until the time comes."""
        self._held = max(self._held, mono)

    def monotonic(self) -> float:
        return max(self.inner.monotonic(), self._held)

    def time(self) -> float:
        inner = self.inner.monotonic()
        return self.inner.time() + max(0.0, self._held - inner)


class FakeClock:
    """A clock that moves only by :meth:`advance` or :meth:`set`."""

    def __init__(self, wall: float = 1_767_258_000.0, mono: float = 0.0):
        # The default wall time is 2026-01-01 09:00 UTC: a morning start.
        self._wall0 = wall - mono
        self._mono = float(mono)

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._wall0 + self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        self._mono += seconds

    def set(self, mono: float) -> None:
        self.advance(mono - self._mono)
