"""What a method *is*, once its file has been read and checked.

These are plain frozen dataclasses: the loader (:mod:`intervisor.files.method`)
builds them from YAML, the engine (:mod:`intervisor.core.engine`) runs them.
Nothing here reads files or knows about hardware.

Times are seconds (floats). A phase's :class:`Duration` has a lower and an
upper end; for a fixed duration both are equal. The upper end is the phase's
time-up, the lower end is when it may close (the soft ``min_reached`` cue).

>>> d = Duration(300, 600)
>>> d.is_range, d.hi
(True, 600)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

LANGUAGES = ("nl", "en")

#: What an id of a method, phase, choice or option looks like.
ID_PATTERN = re.compile(r"[a-z0-9-]+\Z")


@dataclass(frozen=True)
class Duration:
    lo: float
    hi: float

    @property
    def is_range(self) -> bool:
        return self.lo != self.hi

    def scaled(self, factor: float) -> "Duration":
        return Duration(self.lo * factor, self.hi * factor)


@dataclass(frozen=True)
class Question:
    text: str
    hint: str | None = None


@dataclass(frozen=True)
class Option:
    """One answer to a :class:`Choice`: a question set, a story, a day."""

    id: str
    title: str
    say: str | None = None
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class Choice:
    """A choice made once at the start of a session (by the chair or preset).

    ``title`` is spoken as the question ("Welke set vragen?"), each option's
    ``title`` as the answer the chair steps through.
    """

    id: str
    title: str
    options: tuple[Option, ...]
    default: str | None = None

    def option(self, option_id: str) -> Option:
        for opt in self.options:
            if opt.id == option_id:
                return opt
        raise KeyError(option_id)


@dataclass(frozen=True)
class Cues:
    """When a phase makes its sounds. Every field has a method-wide default.

    - ``warn_before``: seconds before time-up for the warning cue (0 = none).
    - ``min_cue``: a soft cue when a range's lower end is reached.
    - ``overtime_every``: interval of the gentle overtime reminder (0 = none).
    - ``auto_advance``: move on by itself at time-up (off: the chair decides).
    """

    warn_before: float = 60.0
    min_cue: bool = True
    overtime_every: float = 120.0
    auto_advance: bool = False


@dataclass(frozen=True)
class Rounds:
    """Each participant in turn inside a phase (e.g. the advice round).

    ``count`` fixes the number of turns; ``None`` takes the session's
    participant count, less ``leave_out`` (the case-bringer, who gives no
    advice in the advice round; the chair, where the chair takes no turn).
    ``say`` is spoken at each turn change.
    """

    count: int | None = None
    say: str | None = None
    leave_out: int = 0


@dataclass(frozen=True)
class Phase:
    id: str
    title: str
    duration: Duration
    say: str | None = None
    questions: tuple[Question, ...] = ()
    silent: bool = False
    cues: Cues = Cues()
    rounds: Rounds | None = None
    from_choice: str | None = None
    when: Mapping[str, str] = field(default_factory=dict)
    at: int | None = None  # clock-time programme: seconds after midnight
    line: int = 0

    def __hash__(self) -> int:  # `when` is a dict; phases are identified by id
        return hash(self.id)


@dataclass(frozen=True)
class Method:
    id: str
    title: str
    language: str
    phases: tuple[Phase, ...]
    description: str | None = None
    source: str | None = None
    duration: Duration | None = None
    rules: tuple[str, ...] = ()
    intro: str | None = None
    closing: str | None = None
    participants: int = 6
    choices: tuple[Choice, ...] = ()
    path: str | None = None
    times: str = "fixed"    # "proposal": the lengths are a suggestion, and said as one

    def choice(self, choice_id: str) -> Choice:
        for c in self.choices:
            if c.id == choice_id:
                return c
        raise KeyError(choice_id)

    @property
    def is_programme(self) -> bool:
        """A clock-time programme: its blocks start at fixed times of day."""
        return any(p.at is not None for p in self.phases)

    @property
    def needs_participants(self) -> bool:
        return any(p.rounds is not None and p.rounds.count is None for p in self.phases)

    def plan(self, choices: Mapping[str, str]) -> tuple[Phase, ...]:
        """The phases a session runs for the given choices, in order."""
        return tuple(
            p for p in self.phases
            if all(choices.get(k) == v for k, v in p.when.items())
        )

    def planned_seconds(self, choices: Mapping[str, str]) -> float:
        return sum(p.duration.hi for p in self.plan(choices))
