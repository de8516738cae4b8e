"""Method files: reading, checking and keeping a folder of them.

A method file is YAML an administrator writes (the core contract is
``shared/design/method-format.md``, Intervisor's additions are in
``docs/method-format.md``). Every problem of a file is reported at once,
each as ``FILE:LINE: message`` in words an administrator can act on;
warnings (a ``duration`` that does not match the phases) are kept apart
from errors, and a file with errors gives no method at all::

    result = load_method("methods/vijf-stappen.yaml")
    if result.ok:
        engine = Engine(result.method, clock)
    else:
        for problem in result.errors:
            print(problem)          # vijf-stappen.yaml:12: phase "pauze" has no title

A :class:`Library` holds the methods of a folder and reloads it without
ever letting a broken file push out the good version already loaded::

    library = Library("/var/lib/intervisor/methods")
    change = library.reload()       # after the admin copied files in
    method = library.find("vijf-stappen")

>>> parse_duration("1h30m"), parse_duration("5-10m")
(Duration(lo=5400.0, hi=5400.0), Duration(lo=300.0, hi=600.0))
>>> format_seconds(5400), format_seconds(90)
('1h30m', '1m30s')
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from intervisor.files import method_fields as F
from intervisor.core.model import ID_PATTERN, LANGUAGES, Choice, Cues, Duration, Method, Option, Phase, Question, Rounds
from intervisor.files.yamlsafe import (Checker, Problem, YMap, YNode, YScalar, YSeq, _short, describe, kind_of,
                                 looks_like_fields, parse, read_bytes)

__all__ = [
    "Problem", "LoadResult", "MethodError", "Library", "Reload", "load_method", "load_method_text",
    "parse_duration", "format_seconds", "describe_length", "default_methods_dir", "ID_PATTERN",
    "read_method", "MAX_METHOD_BYTES", "MAX_PHASES", "MAX_QUESTIONS", "MAX_CHOICES", "MAX_OPTIONS",
]

SUFFIXES = (".yaml", ".yml")

_UNIT = {"h": 3600, "m": 60, "s": 1}
# re.ASCII: \d would also take "٥" or "５", which the format does not allow.
_SINGLE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z", re.ASCII)
_RANGE = re.compile(r"(\d+)-(\d+)([hms])\Z", re.ASCII)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})\Z", re.ASCII)
# Limits no real method comes near (the shipped ones: under 5 KB, at most
# 12 phases, 7 questions a phase, 6 options; a training day's programme: a
# few dozen blocks). Each phase costs every save of a running session (its
# record, its copy, the state written at every press), so a file of
# thousands of phases would make each press slow and the state huge.
MAX_METHOD_BYTES = 64 * 1024
MAX_PHASES = F.METHOD["phases"].hi
MAX_QUESTIONS = F.PHASE["questions"].hi
MAX_CHOICES = F.METHOD["choices"].hi
MAX_OPTIONS = F.CHOICE["options"].hi
_MAX_NUMBER = 10 ** 6  # no real length has more digits; keeps the arithmetic small

DURATION_HELP = "write it like 90s, 5m, 1h or 1h30m, or as a range like 5-10m"

TIMES = F.TIMES
CUE_KEYS = F.keys(F.CUES)
METHOD_KEYS = F.keys(F.METHOD)
PHASE_KEYS = F.keys(F.PHASE)
CHOICE_KEYS = F.keys(F.CHOICE)
OPTION_KEYS = F.keys(F.OPTION)
QUESTION_KEYS = F.keys(F.QUESTION)
ROUNDS_KEYS = F.keys(F.ROUNDS)

# Dutch admins write Dutch field names first; point them at the English one.
_DUTCH = {
    "titel": "title", "taal": "language", "beschrijving": "description", "omschrijving": "description",
    "bron": "source", "duur": "duration", "tijd": "duration", "regels": "rules", "spelregels": "rules",
    "fasen": "phases", "fases": "phases", "stappen": "phases", "inleiding": "intro", "afsluiting": "closing",
    "deelnemers": "participants", "keuzes": "choices", "keuze": "choices", "vragen": "questions",
    "vraag": "questions", "tekst": "text", "zeg": "say", "stil": "silent", "rondes": "rounds",
    "ronde": "rounds", "opties": "options", "aantal": "count", "standaard": "default", "tip": "hint",
    "wanneer": "when", "om": "at", "begin": "at", "start": "at", "waarschuwing": "warn_before",
    "behalve": "leave_out", "zonder": "leave_out",
}


@dataclass(frozen=True)
class LoadResult:
    """What loading one method file gives: the method, or the errors that
    refused it; warnings either way."""

    method: Method | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.method is not None

    @property
    def problems(self) -> list[Problem]:
        """Errors and warnings together, in file order."""
        return sorted(self.errors + self.warnings, key=lambda p: (p.line, p.warning))


class MethodError(Exception):
    """A method that was asked for cannot be used; ``problems`` say why."""

    def __init__(self, problems: list[Problem], message: str | None = None):
        self.problems = problems
        super().__init__(message or "\n".join(str(p) for p in problems))


# --- durations --------------------------------------------------------------------------------


def parse_duration(text: str, *, allow_range: bool = True, allow_zero: bool = False) -> Duration | None:
    """A length of time as the method format writes it, or ``None``."""
    text = text.strip()
    if allow_zero and text == "0":
        return Duration(0.0, 0.0)
    m = _RANGE.match(text)
    if m and allow_range:
        lo, hi, unit = m.groups()
        if len(lo) > 7 or len(hi) > 7 or int(lo) >= int(hi):
            return None
        return Duration(float(int(lo) * _UNIT[unit]), float(int(hi) * _UNIT[unit]))
    m = _SINGLE.match(text)
    if not text or not m or any(g is not None and len(g) > 7 for g in m.groups()):
        return None
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    seconds = h * 3600 + mi * 60 + s
    if seconds == 0 and not allow_zero:
        return None
    return Duration(float(seconds), float(seconds))


def format_seconds(seconds: float) -> str:
    """``5400`` -> ``1h30m``: the way durations are written in method files."""
    seconds = int(round(seconds))
    if seconds == 0:
        return "0m"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s")) if n)


def format_duration(d: Duration) -> str:
    if not d.is_range:
        return format_seconds(d.hi)
    return f"{format_seconds(d.lo)}-{format_seconds(d.hi)}"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


# --- loading ----------------------------------------------------------------------------------


def load_method(path: str | os.PathLike) -> LoadResult:
    """Read and check one method file."""
    return read_method(path)[0]


def read_method(path: str | os.PathLike) -> tuple[LoadResult, bytes | None]:
    """Read one method file once and check it: the result, and the very
    bytes that were checked (``None`` when it could not be read), so that
    what is installed is what was checked, even if the file changes
    meanwhile::

        result, data = read_method("incoming/vijf-stappen.yaml")
        if result.ok:
            target.write_bytes(data)
    """
    data, problems = read_bytes(path, max_bytes=MAX_METHOD_BYTES)
    if data is None:
        return LoadResult(None, problems, []), None
    return load_method_text(data, str(path)), data


def load_method_text(data: str | bytes, filename: str) -> LoadResult:
    """Check a method given as text or bytes; ``filename`` names it in
    messages and its stem must equal the id (unless it is like ``<stdin>``)."""
    parsed = parse(data, filename, max_bytes=MAX_METHOD_BYTES)
    if parsed.problems:
        return LoadResult(None, parsed.problems, [])
    return _Reader(filename).read(parsed.node)


def _range(field: F.Field) -> tuple[int, int]:
    return field.lo, field.hi


def _quote(s: str) -> str:
    return f'"{_short(s)}"'


class _Reader:
    """Turns one parsed file into a :class:`Method`, noting every problem."""

    def __init__(self, filename: str):
        self.file = filename
        self.check = Checker(filename)
        self.plans = _Plans(self)

    # The checker's readers, under shorter names.
    def err(self, line: int, message: str) -> None:
        self.check.error(line, message)

    def warn(self, line: int, message: str) -> None:
        self.check.warn(line, message)

    def read(self, root: YNode | None) -> LoadResult:
        method = None
        if root is None:
            self.err(1, "is empty; a method file needs at least id, title, language and phases")
        elif not isinstance(root, YMap) or not looks_like_fields(root, METHOD_KEYS):
            # Not a method file at all (a key file, /etc/shadow checked with
            # sudo): say what it is, quote nothing of it.
            what = ("none of its keys is a field name" if isinstance(root, YMap)
                    else f"it is {kind_of(root)}, not a set of fields")
            self.err(root.line, f"is not a method file: {what} (id:, title:, language:, phases: ...)")
        else:
            method = self.method(root)
        errors, warnings = self.check.finish()
        if method is None and not errors:
            # Never refuse a file without saying why: a check that gave up
            # without a message is our bug, and the admin still gets a line.
            errors = [Problem(self.file, getattr(root, "line", 1) or 1,
                              "cannot be read as a method (no reason was found; this is a bug "
                              "in the device's checks, please report it with the file)")]
        return LoadResult(None if errors else method, errors, warnings)

    # --- the method ---

    def method(self, m: YMap) -> Method | None:
        self.check.keys(m, METHOD_KEYS, "of a method", _DUTCH)
        mid = self.ident(m, "the method", id_pattern=True)
        if mid is not None and not self.file.startswith("<"):
            stem = Path(self.file).stem
            if mid != stem:
                self.err(m.entries["id"].key_line,
                         f'the id "{mid}" must be the same as the file name without .yaml ("{stem}"); '
                         f"rename the file to {mid}.yaml or change the id")
        title = self.required_text(m, "title", "the method", "it is spoken when the method is chosen")
        language = self.language(m)
        defaults = self.cues(m, Cues(), "the method")
        participants = self.check.integer(m.get("participants"), "participants", *_range(F.METHOD["participants"]))
        choices = self.choices(m.get("choices"))
        phases = self.phases(m, defaults, {c.id: c for c in choices})
        if phases:
            phases = self.plans.programme(phases, choices)
            self.plans.plans_check(m, phases, choices)
        rules = self.texts(m.get("rules"), "rules")
        duration = self.duration(m.get("duration"), "the method's duration")
        times = self.check.one_of(m.get("times"), "times", TIMES) if m.get("times") is not None else None
        method = None
        if None not in (mid, title, language) and phases:
            method = Method(
                id=mid, title=title, language=language, phases=tuple(phases),
                description=self.check.text(m.get("description"), "description"),
                source=self.check.text(m.get("source"), "source"),
                duration=duration, rules=rules,
                intro=self.check.text(m.get("intro"), "intro"),
                closing=self.check.text(m.get("closing"), "closing"),
                participants=participants or 6, choices=tuple(choices), path=self.file,
                times=times or "fixed",
            )
            if duration is not None:
                self.plans.duration_matches(m, method, duration)
        else:
            for key in ("description", "source", "intro", "closing"):
                self.check.text(m.get(key), key)
        return method

    def language(self, m: YMap) -> str | None:
        node = m.get("language")
        if node is None:
            self.err(m.line, 'the method has no language; add "language: nl" or "language: en"')
            return None
        if isinstance(node, YScalar) and node.value is None:
            self.err(node.line, 'the language is empty; write "language: nl" or "language: en"')
            return None
        return self.check.one_of(node, "language", LANGUAGES)

    def ident(self, m: YMap, where: str, *, id_pattern: bool) -> str | None:
        node = m.get("id")
        if node is None:
            self.err(m.line, f"{where} has no id")
            return None
        value = self.check.text(node, f"the id of {where}")
        if value is None:
            if isinstance(node, YScalar):
                self.err(node.line, f"the id of {where} is empty")
            return None
        if id_pattern and not ID_PATTERN.match(value):
            self.err(node.line, f"the id {_quote(value)} may only use small letters a-z, digits and "
                                "hyphens (-), like vijf-stappen")
            return None
        return value

    def required_text(self, m: YMap, key: str, where: str, why: str = "") -> str | None:
        node = m.get(key)
        value = self.check.text(node, f"the {key} of {where}")
        if value is None and (node is None or isinstance(node, YScalar)):
            line = m.line if node is None else node.line
            self.err(line, f"{where} has no {key}" + (f"; {why}" if why else ""))
        return value

    def texts(self, node: YNode | None, what: str) -> tuple[str, ...]:
        if isinstance(node, YScalar) and node.value is not None:
            one = self.check.text(node, what)
            return (one,) if one else ()
        seq = self.check.sequence(node, what)
        out = []
        for i, item in enumerate(seq.items if seq else (), 1):
            text = self.check.text(item, f"item {i} of {what}")
            if text is None and isinstance(item, YScalar):
                self.err(item.line, f"item {i} of {what} is empty")
            elif text is not None:
                out.append(text)
        return tuple(out)

    # --- durations and cues ---

    def duration(self, node: YNode | None, what: str, *, allow_range: bool = True,
                 allow_zero: bool = False) -> Duration | None:
        if node is None:
            return None
        if not isinstance(node, YScalar) or node.value is None:
            self.err(node.line, f"{what} should be a length of time, not {describe(node)}; {DURATION_HELP}")
            return None
        text = node.text.strip()
        d = parse_duration(text, allow_range=allow_range, allow_zero=allow_zero)
        if d is not None:
            return d
        if allow_zero and text in ("0s", "0m", "0h"):
            return Duration(0.0, 0.0)
        m = _RANGE.match(text)
        if m and not allow_range:
            hint = f"{what} cannot be a range; write one length, like {m.group(2)}{m.group(3)}"
        elif m and int(m.group(1)) > int(m.group(2)):
            hint = f"the lower end of {what} is longer than its upper end ({text})"
        elif m and int(m.group(1)) == int(m.group(2)):
            hint = f"{what} is a range with both ends equal ({text}); write {m.group(2)}{m.group(3)}"
        elif m:
            hint = f'{what} ("{_short(text)}") is too long'
        elif re.fullmatch(r"\d+(\.\d+)?", text) and text.strip("0.") != "":
            hint = (f'{what} ("{text}") has no unit; write {text}m for minutes or {text}s for seconds'
                    if "." not in text else f'{what} ("{text}") should be whole minutes or seconds, like 1m30s')
        elif re.fullmatch(r"0+[hms]?", text):
            hint = f"{what} cannot be 0" + ("; write 0 for none" if allow_zero else "")
        elif re.fullmatch(r"\d+[hms]-\d+[hms]", text):
            hint = f'{what} ("{text}"): write a range with the unit once, at the end, like 5-10m'
        else:
            hint = f'{what} ("{_short(text)}") is not a length of time; {DURATION_HELP}'
            if allow_zero:
                hint += ", or 0 for none"
        self.err(node.line, hint)
        return None

    def cues(self, m: YMap, base: Cues, where: str) -> Cues:
        warn = self.duration(m.get("warn_before"), f"warn_before of {where}", allow_range=False, allow_zero=True)
        over = self.duration(m.get("overtime_every"), f"overtime_every of {where}", allow_range=False,
                             allow_zero=True)
        min_cue = self.check.boolean(m.get("min_cue"), f"min_cue of {where}")
        auto = self.check.boolean(m.get("auto_advance"), f"auto_advance of {where}")
        changes = {}
        if warn is not None:
            changes["warn_before"] = float(warn.hi)
        if over is not None:
            changes["overtime_every"] = float(over.hi)
        if min_cue is not None:
            changes["min_cue"] = min_cue
        if auto is not None:
            changes["auto_advance"] = auto
        return dataclasses.replace(base, **changes) if changes else base

    # --- questions, choices ---

    def questions(self, node: YNode | None, where: str) -> tuple[Question, ...]:
        if isinstance(node, YScalar) and node.value is not None:
            self.err(node.line, f'the questions of {where} should be a list, one question per line '
                                'starting with "- "')
            return ()
        seq = self.check.sequence(node, f"the questions of {where}")
        if seq is not None and len(seq.items) > MAX_QUESTIONS:
            self.err(seq.line, f"{where} has {len(seq.items)} questions; at most {MAX_QUESTIONS} fit in one phase")
            return ()
        out = []
        for i, item in enumerate(seq.items if seq else (), 1):
            what = f"question {i} of {where}"
            if isinstance(item, YMap):
                self.check.keys(item, QUESTION_KEYS, f"of a question", _DUTCH)
                text = self.check.text(item.get("text"), f"the text of {what}")
                hint = self.check.text(item.get("hint"), f"the hint of {what}")
                if text is None and not isinstance(item.get("text"), (YMap, YSeq)):
                    self.err(item.line, f"{what} has no text")
                elif text is not None:
                    out.append(Question(text, hint))
            elif isinstance(item, YScalar):
                text = self.check.text(item, what)
                if text is None:
                    self.err(item.line, f"{what} is empty")
                else:
                    out.append(Question(text))
            else:
                self.err(item.line, f"{what} should be text, or text: with an optional hint:, not a list")
        return tuple(out)

    def choices(self, node: YNode | None) -> list[Choice]:
        seq = self.check.sequence(node, "choices")
        if seq is not None and len(seq.items) > MAX_CHOICES:
            self.err(seq.line, f"the method has {len(seq.items)} choices; a method may have at most {MAX_CHOICES}")
            return []
        out: list[Choice] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(seq.items if seq else (), 1):
            c = self.check.mapping(item, f"choice {i}")
            if c is None:
                continue
            self.check.keys(c, CHOICE_KEYS, "of a choice", _DUTCH)
            cid = self.ident(c, f"choice {i}", id_pattern=True)
            where = f'choice "{cid}"' if cid else f"choice {i}"
            if cid is not None:
                if cid in seen:
                    self.err(c.entries["id"].key_line, f'the choice id "{cid}" is used twice '
                                                       f"(first on line {seen[cid]})")
                    cid = None
                else:
                    seen[cid] = c.entries["id"].key_line
            title = self.required_text(c, "title", where, "it is spoken as the question")
            options = self.options(c.get("options"), where, c.line)
            default = self.check.text(c.get("default"), f"the default of {where}")
            if default is not None and options and default not in {o.id for o in options}:
                self.err(c.get("default").line, f'the default of {where} is "{_short(default)}", which is not '
                                                f"one of its options ({', '.join(o.id for o in options)})")
                default = None
            if cid and title and options is not None:
                out.append(Choice(cid, title, tuple(options), default))
        return out

    def options(self, node: YNode | None, where: str, line: int) -> list[Option] | None:
        seq = self.check.sequence(node, f"the options of {where}")
        if seq is None or len(seq.items) < F.CHOICE["options"].lo:
            if node is None or seq is not None or (isinstance(node, YScalar) and node.value is None):
                self.err(line if node is None else node.line, f"{where} needs at least two options")
            return None
        if len(seq.items) > MAX_OPTIONS:
            self.err(seq.line, f"{where} has {len(seq.items)} options; a choice may have at most {MAX_OPTIONS}")
            return None
        out, seen, bad = [], {}, False
        for i, item in enumerate(seq.items, 1):
            o = self.check.mapping(item, f"option {i} of {where}")
            if o is None:
                bad = True
                continue
            self.check.keys(o, OPTION_KEYS, "of an option", _DUTCH)
            oid = self.ident(o, f"option {i} of {where}", id_pattern=True)
            if oid is not None and oid in seen:
                self.err(o.entries["id"].key_line, f'the option id "{oid}" is used twice in {where} '
                                                   f"(first on line {seen[oid]})")
                oid = None
            elif oid is not None:
                seen[oid] = o.entries["id"].key_line
            owhere = f'option "{oid}" of {where}' if oid else f"option {i} of {where}"
            title = self.required_text(o, "title", owhere, "it is spoken when the chair steps through")
            say = self.check.text(o.get("say"), f"say of {owhere}")
            questions = self.questions(o.get("questions"), owhere)
            if oid and title:
                out.append(Option(oid, title, say, questions))
            else:
                bad = True
        return None if bad else out

    # --- phases ---

    def phases(self, m: YMap, defaults: Cues, choices: dict[str, Choice]) -> list[Phase]:
        node = m.get("phases")
        if node is None or (isinstance(node, YScalar) and node.value is None):
            self.err(m.line if node is None else node.line, "the method has no phases; it needs at least one")
            return []
        seq = self.check.sequence(node, "phases")
        if seq is None:
            return []
        if not seq.items:
            self.err(seq.line, "the method has no phases; it needs at least one")
            return []
        if len(seq.items) > MAX_PHASES:
            self.err(seq.line, f"the method has {len(seq.items)} phases; a method may have at most "
                               f"{MAX_PHASES} (split it into several methods)")
            return []
        out: list[Phase] = []
        complete = True
        seen: dict[str, int] = {}
        for i, item in enumerate(seq.items, 1):
            p = self.check.mapping(item, f"phase {i}")
            phase = self.phase(p, i, defaults, choices, seen) if p is not None else None
            if phase is None:
                complete = False
            else:
                out.append(phase)
        return out if complete else []

    def phase(self, p: YMap, i: int, defaults: Cues, choices: dict[str, Choice],
              seen: dict[str, int]) -> Phase | None:
        self.check.keys(p, PHASE_KEYS, "of a phase", _DUTCH)
        pid = self.ident(p, f"phase {i}", id_pattern=False)
        if pid is not None:
            if pid in seen:
                self.err(p.entries["id"].key_line, f'the phase id "{_short(pid)}" is used twice '
                                                   f"(first on line {seen[pid]}); each phase needs its own")
            else:
                seen[pid] = p.entries["id"].key_line
        where = f"phase {_quote(pid)}" if pid else f"phase {i}"
        title = self.required_text(p, "title", where, "it is announced when the phase starts")
        at = self.at(p.get("at"), where)
        duration = self.duration(p.get("duration"), f"the duration of {where}")
        if p.get("duration") is None and "at" not in p.entries:
            self.err(p.line, f"{where} has no duration; {DURATION_HELP}")
        say = self.check.text(p.get("say"), f"say of {where}")
        questions = self.questions(p.get("questions"), where)
        silent = self.check.boolean(p.get("silent"), f"silent of {where}")
        cues = self.cues(p, defaults, where)
        if duration is not None and "warn_before" in p.entries and 0 < cues.warn_before >= duration.hi:
            self.warn(p.entries["warn_before"].key_line,
                      f"the warning of {where} ({format_seconds(cues.warn_before)}) is not shorter than the "
                      f"phase itself ({format_duration(duration)}), so it will never sound")
        rounds = self.rounds(p.get("rounds"), where)
        from_choice = self.check.text(p.get("from_choice"), f"from_choice of {where}")
        if from_choice is not None and from_choice not in choices:
            self.err(p.get("from_choice").line, self.plans.unknown_choice(from_choice, choices, where))
            from_choice = None
        when = self.plans.when(p.get("when"), where, choices)
        if rounds is not None:
            if questions:
                self.err(p.entries["rounds"].key_line, f"{where} has both questions and rounds; "
                                                       "a phase can have one or the other")
            elif from_choice is not None and any(o.questions for o in choices[from_choice].options):
                self.err(p.entries["rounds"].key_line, f'{where} has rounds and takes questions from choice '
                                                       f'"{from_choice}"; a phase can have one or the other')
        if silent and (questions or rounds is not None):
            self.warn(p.entries["silent"].key_line,
                      f"{where} is silent but has {'questions' if questions else 'rounds'}: a silent phase "
                      "says nothing after its announcement")
        if pid is None or title is None or ("at" in p.entries and at is None) or when is None:
            return None
        if duration is None and not (p.get("duration") is None and at is not None):
            return None
        return Phase(
            id=pid, title=title, duration=duration or Duration(0.0, 0.0), say=say, questions=questions,
            silent=bool(silent), cues=cues, rounds=rounds, from_choice=from_choice, when=when, at=at,
            line=p.line,
        )

    def at(self, node: YNode | None, where: str) -> int | None:
        if node is None:
            return None
        # YAML 1.1 reads an unquoted 12:00 as the number 720; the text is what was meant.
        text = node.text.strip() if isinstance(node, YScalar) else ""
        m = _CLOCK.match(text)
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
            return int(m.group(1)) * 3600 + int(m.group(2)) * 60
        shown = f'"{text}"' if isinstance(node, YScalar) and text else describe(node)
        self.err(node.line, f"the start time (at) of {where} should be a time of day like \"09:30\", not {shown}")
        return None

    def rounds(self, node: YNode | None, where: str) -> Rounds | None:
        if node is None:
            return None
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return Rounds() if node.value else None
        if isinstance(node, YMap):
            self.check.keys(node, ROUNDS_KEYS, "of rounds", _DUTCH)
            count = self.check.integer(node.get("count"), f"the number of rounds (count) of {where}",
                                       *_range(F.ROUNDS["count"]))
            say = self.check.text(node.get("say"), f"say of the rounds of {where}")
            leave_out = self.check.integer(node.get("leave_out"),
                                           f"the participants left out of the rounds (leave_out) of {where}",
                                           *_range(F.ROUNDS["leave_out"]))
            if count is not None and leave_out:
                self.err(node.get("leave_out").line,
                         f"the rounds of {where} have a fixed count, so nobody is left out of them: "
                         f"remove leave_out, or count")
            return Rounds(count, say, leave_out or 0)
        self.err(node.line, f"rounds of {where} should be true, or count: and say: fields, not {describe(node)}")
        return None



class _Plans:
    """The plans a method's choices make: the ``when`` of each phase, the
    start times of a clock-time programme, that every plan runs something
    and what the phases add up to. Part of one :class:`_Reader`."""

    def __init__(self, reader: _Reader):
        self.reader = reader

    def err(self, line: int, message: str) -> None:
        self.reader.err(line, message)

    def warn(self, line: int, message: str) -> None:
        self.reader.warn(line, message)

    def when(self, node: YNode | None, where: str, choices: dict[str, Choice]) -> dict[str, str] | None:
        if node is None:
            return {}
        m = self.reader.check.mapping(node, f"when of {where}")
        if m is None:
            return None if not (isinstance(node, YScalar) and node.value is None) else {}
        out: dict[str, str] = {}
        ok = True
        for cid, entry in m.entries.items():
            oid = self.reader.check.text(entry.node, f'when of {where}, choice "{_short(cid)}"')
            if cid not in choices:
                self.err(entry.key_line, self.unknown_choice(cid, choices, where, "when"))
                ok = False
            elif oid is None:
                if not isinstance(entry.node, (YMap, YSeq)):
                    self.err(entry.key_line, f'when of {where} names choice "{cid}" but no option of it')
                ok = False
            elif oid not in {o.id for o in choices[cid].options}:
                names = ", ".join(o.id for o in choices[cid].options)
                self.err(entry.node.line, f'when of {where}: choice "{cid}" has no option "{_short(oid)}" '
                                          f"(its options are {names})")
                ok = False
            else:
                out[cid] = oid
        return out if ok else None

    def unknown_choice(self, name: str, choices: dict[str, Choice], where: str, key: str = "from_choice") -> str:
        known = f"the choices are {', '.join(choices)}" if choices else "the method declares no choices"
        return f'{key} of {where} names a choice "{_short(name)}" that is not declared ({known})'

    def plan_keys(self, phases: list[Phase], choices: list[Choice]) -> list[dict[str, str]]:
        named = {k for p in phases for k in p.when}
        used = [c for c in choices if c.id in named]
        combos = 1
        for c in used:
            combos *= len(c.options)
        if combos > 256:  # absurd for a real method; check the file order only
            return [{}]
        return [dict(zip([c.id for c in used], ids))
                for ids in itertools.product(*[[o.id for o in c.options] for c in used])]

    def _plan(self, phases: list[Phase], key: Mapping[str, str]) -> list[Phase]:
        return [p for p in phases if all(key.get(k, v) == v for k, v in p.when.items())]

    def programme(self, phases: list[Phase], choices: list[Choice]) -> list[Phase]:
        """Checks the start times of a clock-time programme and gives each
        block without a duration the time up to the next block."""
        if not any(p.at is not None for p in phases):
            return phases
        bad = False
        groups: dict[tuple, list[Phase]] = {}
        for p in phases:
            groups.setdefault(tuple(sorted(p.when.items())), []).append(p)
        for group in groups.values():
            if any(p.at is not None for p in group):
                for p in group:
                    if p.at is None:
                        self.err(p.line, f'phase {_quote(p.id)} has no start time (at); in a programme with '
                                         'start times every block needs one, like at: "09:30"')
                        bad = True
        gaps: dict[str, set] = {p.id: set() for p in phases}
        reported = set()
        for key in self.plan_keys(phases, choices):
            plan = self._plan(phases, key)
            timed = [p for p in plan if p.at is not None]
            for before, after in zip(timed, timed[1:]):
                if after.at <= before.at and (before.id, after.id) not in reported:
                    reported.add((before.id, after.id))
                    self.err(after.line, f"phase {_quote(after.id)} starts at {_clock(after.at)}, which is not "
                                         f"after the block before it ({_quote(before.id)} at {_clock(before.at)})")
                    bad = True
            for p, nxt in zip(plan, plan[1:] + [None]):
                if p.at is not None:
                    gaps[p.id].add(nxt.at - p.at if nxt is not None and nxt.at is not None else None)
        if bad:
            return []
        out = []
        for p in phases:
            given = p.duration if p.duration.hi > 0 else None
            found = gaps.get(p.id) or {None}
            if p.at is None:
                out.append(p)
                continue
            if len(found) == 1 and None not in found:
                gap = found.pop()
                if gap <= 0:  # reported above
                    out.append(p)
                    continue
                if given is not None and given.hi != gap:
                    self.warn(p.line, f"the duration of phase {_quote(p.id)} ({format_duration(given)}) is not "
                                      f"used: the next block starts {format_seconds(gap)} after it, at "
                                      f"{_clock(p.at + gap)}")
                out.append(dataclasses.replace(p, duration=Duration(float(gap), float(gap))))
            elif given is None:
                why = ("it is the last block" if found == {None}
                       else "the block after it is not always the same or has no start time")
                self.err(p.line, f"phase {_quote(p.id)} needs a duration: {why}, so nothing else says when "
                                 "it ends")
                bad = True
            else:
                out.append(p)
        return [] if bad else out

    def plans_check(self, m: YMap, phases: list[Phase], choices: list[Choice]) -> None:
        for key in self.plan_keys(phases, choices):
            if key and not self._plan(phases, key):
                said = ", ".join(f"{k} = {v}" for k, v in key.items())
                # A session with nothing to run cannot be led: refuse it.
                self.err(m.entries["phases"].key_line, f"when {said}, no phase runs at all: "
                                                       "give every option at least one phase")

    def duration_matches(self, m: YMap, method: Method, duration: Duration) -> None:
        totals = set()
        for key in self.plan_keys(list(method.phases), list(method.choices)):
            plan = self._plan(list(method.phases), key)
            totals.add((sum(p.duration.lo for p in plan), sum(p.duration.hi for p in plan)))
        for lo, hi in totals:
            if hi == duration.hi or duration.lo <= hi <= duration.hi or lo <= duration.hi <= hi:
                return
        lo, hi = min(totals, key=lambda t: t[1])
        added = format_seconds(hi) if lo == hi else f"{format_seconds(lo)} to {format_seconds(hi)}"
        self.warn(m.entries["duration"].key_line,
                  f"the method's duration is {format_duration(duration)}, but its phases add up to {added}")


# --- describing ---------------------------------------------------------------------------------


def plan_keys(method: Method) -> list[dict[str, str]]:
    """Every combination of the options that decide which phases run."""
    return _Reader(method.path or "<method>").plans.plan_keys(list(method.phases), list(method.choices))


def describe_length(method: Method) -> str:
    """The planned length for people: ``45m``, ``35m-45m``, or ``6h or 7h``
    when a choice decides which phases run."""
    spans = []
    for key in plan_keys(method):
        plan = method.plan(key)
        spans.append((sum(p.duration.lo for p in plan), sum(p.duration.hi for p in plan)))
    texts = []
    for lo, hi in sorted(set(spans)):
        text = format_seconds(hi) if lo == hi else f"{format_seconds(lo)}-{format_seconds(hi)}"
        if text not in texts:
            texts.append(text)
    return " or ".join(texts)


# --- the library ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reload:
    """What :meth:`Library.reload` changed. ``refused`` maps a file to its
    errors; a refused file's method, if it was loaded before, stays."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    refused: Mapping[str, list[Problem]] = field(default_factory=dict)
    warnings: Mapping[str, list[Problem]] = field(default_factory=dict)

    @property
    def quiet(self) -> bool:
        """Nothing changed and nothing was refused."""
        return not (self.added or self.changed or self.removed or self.refused)


class Library:
    """The methods in one folder, by id.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "kort.yaml").write_text(
    ...     "id: kort\\ntitle: Kort\\nlanguage: nl\\nphases:\\n- {id: a, title: A, duration: 5m}\\n")
    >>> library = Library(folder)
    >>> sorted(library.methods), library.find("kort").title
    (['kort'], 'Kort')
    >>> _ = (folder / "kort.yaml").write_text("id: kort\\ntitle: [\\n")
    >>> change = library.reload()
    >>> list(change.refused), library.find("kort").title  # doctest: +ELLIPSIS
    ([...kort.yaml'], 'Kort')
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.methods: dict[str, Method] = {}
        self.refused: dict[str, list[Problem]] = {}
        self.warnings: dict[str, list[Problem]] = {}
        self.reload()

    def __iter__(self):
        return iter(sorted(self.methods.values(), key=lambda m: m.id))

    def __len__(self) -> int:
        return len(self.methods)

    def files(self) -> list[Path]:
        """The method files in the folder, by name; hidden files (editors'
        temporary copies) and files reached through links leading elsewhere
        are left out."""
        try:
            entries = sorted(self.folder.iterdir())
        except (OSError, ValueError):  # ValueError: a NUL in the folder's name
            return []
        root = self.folder.resolve()
        out = []
        for path in entries:
            if path.name.startswith(".") or path.suffix not in SUFFIXES:
                continue
            try:
                real = path.resolve()
            except RuntimeError:  # a symlink loop (Python < 3.13): refused when read, with its line
                out.append(path)
                continue
            except OSError:
                continue
            if real.parent != root and root not in real.parents:
                continue
            out.append(path)
        return out

    def reload(self) -> Reload:
        """Read the folder again. New and changed files that are valid replace
        what was loaded; refused files leave their old version in service; a
        method whose file is gone is removed."""
        fresh: dict[str, Method] = {}
        refused: dict[str, list[Problem]] = {}
        warnings: dict[str, list[Problem]] = {}
        kept_by_file: set[str] = set()
        for path in self.files():
            result = load_method(path)
            if result.warnings:
                warnings[str(path)] = result.warnings
            if result.method is None:
                refused[str(path)] = result.errors
                kept_by_file.add(path.stem)
                continue
            if result.method.id in fresh:
                other = fresh[result.method.id].path
                refused[str(path)] = [Problem(str(path), 1, f'method "{result.method.id}" is also in {other}; '
                                                            "remove one of the two files")]
                continue
            fresh[result.method.id] = result.method
        for mid, old in self.methods.items():
            if mid not in fresh and mid in kept_by_file:
                fresh[mid] = old  # its new file is broken: keep the version that worked
        added = tuple(sorted(set(fresh) - set(self.methods)))
        removed = tuple(sorted(set(self.methods) - set(fresh)))
        changed = tuple(sorted(m for m in set(fresh) & set(self.methods) if fresh[m] != self.methods[m]))
        self.methods, self.refused, self.warnings = fresh, refused, warnings
        return Reload(added, changed, removed, refused, warnings)

    def find(self, id_or_path: str | os.PathLike) -> Method:
        """A method by id, or by the path of a file (which may lie outside
        the folder). Raises :class:`MethodError` when it cannot be used."""
        text = str(id_or_path)
        if isinstance(id_or_path, os.PathLike) or "/" in text or text.endswith(SUFFIXES):
            result = load_method(id_or_path)
            if result.method is None:
                raise MethodError(result.errors)
            return result.method
        if not ID_PATTERN.match(text):
            raise MethodError([], f'"{_short(text)}" is not a method id (small letters, digits and hyphens) '
                                  "nor a path to a .yaml file")
        if text in self.methods:
            return self.methods[text]
        for path, problems in self.refused.items():
            if Path(path).stem == text:
                raise MethodError(problems)
        known = ", ".join(sorted(self.methods)) or "none"
        raise MethodError([], f'there is no method "{text}" in {self.folder} (known: {known})')


def default_methods_dir() -> Path:
    """Where the methods are: the repository's ``methods/`` when running
    from a checkout, else the config's ``methods_dir``."""
    repo = Path(__file__).resolve().parent.parent.parent.parent / "methods"
    if repo.is_dir() and (repo.parent / "pyproject.toml").is_file():
        return repo
    from intervisor.files.config import Config, ConfigError, load_config

    try:
        return Path(load_config().methods_dir)
    except ConfigError:
        return Path(Config.default().methods_dir)
