"""Starting a new method file: ``intervisor new FILE [--from METHOD]``.

A blank skeleton with a comment on every field, or a copy of an existing
method under the new file's id; either way the result passes
``intervisor check`` as written, and its first line names the JSON Schema
for editors when the schema can be found::

    $ intervisor new methods/teamoverleg.yaml
    methods/teamoverleg.yaml: written; edit it, then: intervisor check methods/teamoverleg.yaml

>>> text = skeleton("teamoverleg", "nl")
>>> from intervisor.files.method import load_method_text
>>> load_method_text(text, "<new>").method.id
'teamoverleg'
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from intervisor.files.method import ID_PATTERN, load_method_text

SCHEMA_COMMENT = "# yaml-language-server: $schema="

_WORDS = {
    "nl": {"title": "Nieuwe methode", "intro": "Welkom bij deze intervisie.", "case": "Inbrengen van de casus",
           "case_say": "De inbrenger vertelt de casus.", "questions": "Vragen stellen",
           "q1": "Wat wil je bereiken?", "q2": "Wat heb je al geprobeerd?", "advice": "Adviesronde",
           "turn": "Volgende deelnemer.", "closing": "Dank jullie wel."},
    "en": {"title": "New method", "intro": "Welcome to this session.", "case": "Telling the case",
           "case_say": "The case-bringer tells the case.", "questions": "Asking questions",
           "q1": "What do you want to achieve?", "q2": "What have you tried so far?", "advice": "Advice round",
           "turn": "Next participant.", "closing": "Thank you all."},
}

_SKELETON = """\
# A new method. Every field is explained in docs/method-format.md; check it with
#   intervisor check {id}.yaml
id: {id}                      # must equal the file name without .yaml
title: {title}                # spoken when the method is chosen
language: {lang}                  # nl or en: the voice and the device's own words
intro: {intro}                # spoken after the title (optional)
closing: {closing}            # spoken when the session ends (optional)
participants: 6               # default number of participants for rounds (2..12)
warn_before: 1m               # a warning cue this long before time-up; 0 = none

phases:                       # in order; each needs an id, a title and a duration
  - id: casus
    title: {case}
    duration: 5-10m           # a range: a soft cue at 5m, time-up at 10m
    say: {case_say}
  - id: vragen
    title: {questions}
    duration: 10m
    questions:                # asked one by one as the chair presses
      - {q1}
      - text: {q2}
        hint: Open questions only.   # for the chair; never spoken
  - id: advies
    title: {advice}
    duration: 15m
    rounds:                   # each participant in turn
      leave_out: 1            # the case-bringer listens
      say: {turn}
"""


def schema_comment(target: Path, schema: Path) -> str | None:
    """The first line that names ``schema`` for editors: relative to the
    folder of ``target`` inside the same checkout, else absolute; ``None``
    when there is no schema file."""
    if not schema.is_file():
        return None
    schema, folder = schema.resolve(), target.resolve().parent
    home = schema.parent.parent
    shown = os.path.relpath(schema, folder) if folder == home or home in folder.parents else str(schema)
    return f"{SCHEMA_COMMENT}{shown}"


def skeleton(method_id: str, language: str) -> str:
    """A blank method with a comment on each field."""
    return _SKELETON.format(id=method_id, lang=language, **_WORDS[language])


def copy_of(text: str, method_id: str) -> str:
    """The text of an existing method under a new id (its comments kept,
    an old schema line dropped)."""
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith(SCHEMA_COMMENT)]
    out = "".join(lines)
    changed, n = re.subn(r"^id:[ \t]*\S+", f"id: {method_id}", out, count=1, flags=re.MULTILINE)
    if n == 0:
        raise ValueError("the method has no top-level id: line to change")
    return changed


def new_method(target: Path, text: str, schema: Path) -> list[str]:
    """Write ``text`` to ``target`` (with the schema line first) unless it
    exists or would not pass the check; the problems, or an empty list."""
    if not ID_PATTERN.match(target.stem) or target.suffix not in (".yaml", ".yml"):
        return [f"{target}:1: the file name must be the method's id and .yaml, with small letters a-z, "
                "digits and hyphens, like teamoverleg.yaml"]
    if os.path.lexists(target):
        return [f"{target}:1: the file exists already; choose another name (nothing was written)"]
    comment = schema_comment(target, schema)
    if comment:
        text = comment + "\n" + text
    result = load_method_text(text, str(target))
    if not result.ok:  # a copy of a method that no longer passes: say so, write nothing
        return [str(p) for p in result.errors]
    tmp = target.with_name(f".{target.name}.new")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return []
