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
