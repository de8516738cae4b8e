"""The engine's vocabulary: commands in, actions out.

Adapters (button, voice, keyboard, service) turn what happens in the room
into a :class:`Command` and put it on the one queue that feeds the engine.
The engine answers with actions, which the sound and panel adapters carry
out. Nothing else crosses the boundary.

>>> Say(("Nog", "7 minuten")).text
'Nog 7 minuten'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Command(enum.Enum):
    """What the chair (or the device's own loop) asks of the engine."""

    NEXT = "next"          # next question / turn / phase; accepts a choice or an offer
    BACK = "back"          # undo the last step
    REPEAT = "repeat"      # say the last prompt again
    PAUSE = "pause"        # toggles: pause, or resume when paused
    RESUME = "resume"      # resume only (voice: "verder")
    TIME = "time"          # how much time is left
    END = "end"            # end the session (asks for confirmation first)
    STEP = "step"          # step through options while a choice is open
    TICK = "tick"          # the clock moved; fire what is due


class Light(enum.Enum):
    """The state the time light shows."""

    IDLE = "idle"            # slow breathing
    RUNNING = "running"      # green
    WARNING = "warning"      # amber
    TIME_UP = "time_up"      # red
    OVERTIME = "overtime"    # red blinking
    PAUSED = "paused"        # slow blink
    FAULT = "fault"          # fast blink (set by adapters, never by the engine)


class Cue(enum.Enum):
    """A chime. Each meaning has its own sound (see :mod:`intervisor.sound.output`)."""

    PHASE_START = "phase_start"
    MIN_REACHED = "min_reached"
    WARNING = "warning"
    TIME_UP = "time_up"
    OVERTIME = "overtime"
    TURN = "turn"
    PAUSED = "paused"
    RESUMED = "resumed"
    HEARD = "heard"          # a voice command was accepted
    ERROR = "error"


@dataclass(frozen=True)
class Say:
    """Speak. ``parts`` are rendered separately so that dynamic phrases
    ("7 minuten") come from a small pre-rendered set; ``text`` joins them.
    A new Say interrupts the one still playing. ``at``: see :class:`Play`."""

    parts: tuple[str, ...]
    at: float | None = None

    @property
    def text(self) -> str:
        return " ".join(self.parts)


@dataclass(frozen=True)
class Play:
    """Play a cue over whatever is speaking.

    ``at`` is the monotonic time the sound should be heard, when the loop
    knows it ahead (a deadline): the sound adapter then places it on that
    sample instead of "as soon as possible". The engine never sets it."""

    cue: Cue
    at: float | None = None


@dataclass(frozen=True)
class Show:
    """Set the time light."""

    light: Light


@dataclass(frozen=True)
class Hush:
    """Stop speaking now (pause, end)."""


@dataclass(frozen=True)
class Mark:
    """A milestone of the session, for the timeline, the log and the
    session record. ``kind`` is one of the timeline kinds (``intro``,
    ``phase_start``, ``question``, ``turn``, ``min_reached``, ``warning``,
    ``time_up``, ``overtime``, ``pause``, ``resume``, ``back``, ``shorten``,
    ``session_end``...). ``text`` is what was said with it, if anything; the
    service logs ``kind`` and ``phase`` only, never ``text``."""

    kind: str
    phase: str | None = None
    text: str | None = None
    # Seconds before now at which it happened: what a restart found had
    # happened while the device was down (a phase that moved on by itself).
    ago: float = 0.0


Action = Say | Play | Show | Hush | Mark


#: Marks that belong in a timeline (the rest is the engine talking to itself).
TIMELINE_KINDS = ("intro", "phase_start", "question", "turn", "min_reached", "warning",
                  "time_up", "overtime", "offer", "shorten", "session_end")
