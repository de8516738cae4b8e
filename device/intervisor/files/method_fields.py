"""The fields of a method file, as one table: which keys each part of a
method may have, which are required, what kind of value each takes and in
what range. The loader (:mod:`intervisor.files.method`) takes its key lists and
ranges from here, and :mod:`intervisor.files.method_schema` turns the same table
into the JSON Schema editors use, so the two cannot drift apart.

>>> METHOD["participants"].kind, METHOD["participants"].lo, METHOD["participants"].hi
('integer', 2, 12)
>>> keys(ROUNDS)
('count', 'say', 'leave_out')
>>> [k for k, f in CHOICE.items() if f.required]
['id', 'title', 'options']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One key of a part of a method file.

    ``kind`` is one of: ``id`` (small letters, digits, hyphens), ``name``
    (any text, for a phase's id), ``text``, ``texts`` (text or a list of
    texts), ``language``, ``duration`` (a length, or a range like 5-10m),
    ``length0`` (one length, or 0 for none), ``boolean``, ``integer``
    (from ``lo`` to ``hi``), ``clock`` (a time of day like "09:30"),
    ``questions``, ``rounds``, ``when``, ``times`` (one of :data:`TIMES`), or ``list`` of the part named by
    ``of`` (at least ``lo`` items).
    """

    kind: str
    help: str
    required: bool = False
    lo: int | None = None
    hi: int | None = None
    of: str | None = None


def keys(part: dict[str, Field]) -> tuple[str, ...]:
    """The keys of a part, in the order messages list them."""
    return tuple(part)


TIMES = ("fixed", "proposal")
"""``times:`` of a method: its phases' lengths are the method's own, or
only a proposal (the source gives none), and then announced as one."""

CUES = {
    "warn_before": Field("length0", "warning cue this long before time-up; 0 = none (default 1m)"),
    "min_cue": Field("boolean", "soft cue when a range's lower end is reached (default true)"),
    "overtime_every": Field("length0", "gentle reminder interval in overtime; 0 = none (default 2m)"),
    "auto_advance": Field("boolean", "move on by itself at time-up (default false)"),
}

METHOD = {
    "id": Field("id", "the method's id: the file name without .yaml", required=True),
    "title": Field("text", "spoken when the method is chosen", required=True),
    "language": Field("language", "nl or en", required=True),
    "description": Field("text", "for people choosing a method; never spoken"),
    "source": Field("text", "where the method comes from"),
    "duration": Field("duration", "the planned length, checked against the phases"),
    "rules": Field("texts", "the ground rules, one per item"),
    "phases": Field("list", "the phases, in order", required=True, lo=1, hi=200, of="phase"),
    "intro": Field("text", "spoken after the title: the purpose of the session"),
    "closing": Field("text", "spoken when the session ends"),
    "participants": Field("integer", "default number of participants for rounds", lo=2, hi=12),
    "choices": Field("list", "choices made once at the start", hi=10, of="choice"),
    "times": Field("times", "fixed (default), or proposal: the lengths are said as a suggestion"),
    **CUES,
}

PHASE = {
    "id": Field("name", "the phase's id, unique in the method", required=True),
    "title": Field("text", "announced when the phase starts", required=True),
    "duration": Field("duration", "like 5m or 5-10m; optional with at"),
    "say": Field("text", "spoken after the title"),
    "questions": Field("questions", "asked one by one as the chair presses", hi=50),
    "silent": Field("boolean", "say nothing after the announcement"),
    "rounds": Field("rounds", "each participant in turn: true, or count/say/leave_out"),
    "from_choice": Field("text", "a choice whose option adds its say and questions here"),
    "when": Field("when", "run only when these choices have these options"),
    "at": Field("clock", 'clock-time programme: the block starts at this time of day, like "09:30"'),
    **CUES,
}

CHOICE = {
    "id": Field("id", "the choice's id, unique in the method", required=True),
    "title": Field("text", "spoken as the question", required=True),
    "default": Field("text", "the option offered first"),
    "options": Field("list", "at least two", required=True, lo=2, hi=20, of="option"),
}

OPTION = {
    "id": Field("id", "the option's id, unique in its choice", required=True),
    "title": Field("text", "spoken while the chair steps through", required=True),
    "say": Field("text", "spoken after the phase's own say"),
    "questions": Field("questions", "follow the phase's own questions", hi=50),
}

QUESTION = {
    "text": Field("text", "the question", required=True),
    "hint": Field("text", "a hint for the chair"),
}

ROUNDS = {
    "count": Field("integer", "the number of turns (default: the participants)", lo=2, hi=12),
    "say": Field("text", "spoken at each turn change"),
    "leave_out": Field("integer", "without count: that many fewer turns", lo=0, hi=2),
}

#: Every part by the name ``Field.of`` uses.
PARTS = {"method": METHOD, "phase": PHASE, "choice": CHOICE, "option": OPTION, "question": QUESTION,
         "rounds": ROUNDS}
