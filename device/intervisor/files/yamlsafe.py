"""Safe, bounded YAML reading that remembers where every value came from.

Method files and the config are written by hand and copied over SSH, so
they must be read as data only, in bounded time and memory, and every
complaint about them must name a line. PyYAML's ``safe_load`` gives plain
values but forgets the lines and expands alias bombs; this module walks
PyYAML's event stream itself (libyaml when present) and builds small nodes
that carry their line:

>>> doc = parse("title: Intervisie\\nphases:\\n  - id: start\\n", "m.yaml")
>>> doc.problems
[]
>>> doc.node.get("phases").items[0].get("id").value, doc.node.entries["phases"].key_line
('start', 2)
>>> parse("x: !!python/object:os.system ls\\n", "m.yaml").problems[0].line
1

:func:`parse` only ever returns a :class:`Parsed`: a node, or a list of
:class:`Problem` s. Refused are object-building and unknown tags, merge keys,
duplicate keys, more than one document, files over :data:`MAX_BYTES`,
nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_NODES` values
once aliases are counted out (billion laughs), NUL bytes, and bytes that are
not UTF-8.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple

import yaml

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 200_000

# libyaml is much faster; both emit the same events with the same marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp", "value")}
_COLLECTION_TAGS = {_STD + "map", _STD + "seq"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file an administrator wrote.

    >>> str(Problem("vijf-stappen.yaml", 12, 'phase "pauze" has no title'))
    'vijf-stappen.yaml:12: phase "pauze" has no title'

    A warning reads the same; :meth:`marked` says which it is, for output
    that mixes both:

    >>> Problem("m.yaml", 3, "phases add up to 50m", warning=True).marked()
    'm.yaml:3: warning: phases add up to 50m'
    """

    file: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return self._line("")

    def marked(self) -> str:
        return self._line("warning: " if self.warning else "")

    def _line(self, tag: str) -> str:
        return f"{_one_line(self.file)}:{self.line}: {tag}{_one_line(self.message)}"


# A message quotes what the file says; a line break or a terminal control in
# that quote would split the FILE:LINE: line (the journal stores each part
# apart) or garble the terminal. Shown escaped instead, like \n.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text)


class YScalar:
    """A single value. ``value`` is what YAML makes of it (str, int, float,
    bool or None), ``text`` exactly what was written, so that ``12:00`` (an
    integer to YAML 1.1) can still be read as a time of day."""

    __slots__ = ("value", "text", "line", "plain", "size")

    def __init__(self, value: Any, text: str, line: int, plain: bool):
        self.value, self.text, self.line, self.plain, self.size = value, text, line, plain, 1

    def __repr__(self) -> str:
        return f"YScalar({self.value!r}, line={self.line})"


class Entry(NamedTuple):
    key_line: int
    node: "YNode"


class YMap:
    """A mapping with string keys; ``entries[key]`` is ``(key_line, node)``."""

    __slots__ = ("entries", "line", "size")

    def __init__(self, line: int):
        self.entries: dict[str, Entry] = {}
        self.line, self.size = line, 1

    def get(self, key: str) -> "YNode | None":
        entry = self.entries.get(key)
        return entry.node if entry else None

    def __repr__(self) -> str:
        return f"YMap({list(self.entries)}, line={self.line})"


class YSeq:
    """A list of nodes."""

    __slots__ = ("items", "line", "size")

    def __init__(self, line: int):
        self.items: list[YNode] = []
        self.line, self.size = line, 1

    def __repr__(self) -> str:
        return f"YSeq({len(self.items)} items, line={self.line})"


YNode = YScalar | YMap | YSeq


@dataclass
class Parsed:
    """What :func:`parse` answers: a node (``None`` for an empty file) or problems."""

    node: YNode | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


class _Refuse(Exception):
    def __init__(self, line: int, message: str):
        self.line, self.message = line, message


def plain(node: YNode | None) -> Any:
    """The node as plain Python values (dicts, lists, scalars)."""
    if node is None:
        return None
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [plain(n) for n in node.items]
    return {k: plain(e.node) for k, e in node.entries.items()}


def walk(node: YNode) -> Iterator[YNode]:
    """Every node under ``node``, itself first (aliased nodes as often as used)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, YSeq):
            todo.extend(reversed(n.items))
        elif isinstance(n, YMap):
            todo.extend(e.node for e in reversed(n.entries.values()))


def read_bytes(path: str | os.PathLike, *, name: str | None = None,
               max_bytes: int = MAX_BYTES) -> tuple[bytes | None, list[Problem]]:
    """The bytes of a small regular file, read once and no more than
    ``max_bytes + 1`` of them, or the problem that stopped it. Opened
    without blocking and checked on the open file, so a FIFO, a device or a
    file swapped in after a check can neither hang the read nor be read.

    >>> read_bytes("/dev/zero", name="m.yaml")[1][0].message
    'is not a regular file'
    """
    name = str(path) if name is None else name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, [Problem(name, 1, "there is no such file")]
    except IsADirectoryError:
        return None, [Problem(name, 1, "is a folder, not a file")]
    except PermissionError:
        return None, [Problem(name, 1, "cannot be read: permission denied")]
    except OSError as e:
        return None, [Problem(name, 1, f"cannot be read: {e.strerror or e}")]
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return None, [Problem(name, 1, "is a folder, not a file")]
        if not stat.S_ISREG(st.st_mode):
            return None, [Problem(name, 1, "is not a regular file")]
        if st.st_size > max_bytes:
            return None, [_too_big(name, st.st_size, max_bytes)]
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        return None, [Problem(name, 1, f"cannot be read: {e.strerror or e}")]
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # grew after the fstat
        return None, [_too_big(name, len(data), max_bytes)]
    return data, []


def read_file(path: str | os.PathLike, *, name: str | None = None, max_bytes: int = MAX_BYTES) -> Parsed:
    """Read and parse a file, refusing what is not a small regular file."""
    name = str(path) if name is None else name
    data, problems = read_bytes(path, name=name, max_bytes=max_bytes)
    if data is None:
        return Parsed(None, problems)
    return parse(data, name, max_bytes=max_bytes)


def parse(data: str | bytes, filename: str, *, max_bytes: int = MAX_BYTES) -> Parsed:
    """Parse one YAML document from text or bytes, safely and within bounds."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if len(data) > max_bytes:
            return Parsed(None, [_too_big(filename, len(data), max_bytes)])
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return Parsed(None, [Problem(filename, 1, "is saved as UTF-16 text; save the file with UTF-8 encoding")])
        nul = data.find(b"\x00")
        if nul >= 0:
            return Parsed(None, [_nul(filename, data.count(b"\n", 0, nul) + 1)])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            return Parsed(None, [Problem(
                filename, line,
                f"is not UTF-8 text (byte 0x{data[e.start]:02x} on this line cannot be read);"
                " save the file with UTF-8 encoding")])
    elif isinstance(data, str):
        text = data
        if len(text) > max_bytes:
            return Parsed(None, [_too_big(filename, len(text), max_bytes)])
        nul = text.find("\x00")
        if nul >= 0:
            return Parsed(None, [_nul(filename, text.count("\n", 0, nul) + 1)])
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            line = text.count("\n", 0, e.start) + 1
            return Parsed(None, [Problem(filename, line, "contains characters that are not valid text")])
    else:
        raise TypeError(f"parse() takes str or bytes, not {type(data).__name__}")
    try:
        return Parsed(_compose(text), [])
    except _Refuse as r:
        return Parsed(None, [Problem(filename, r.line, r.message)])
    except yaml.YAMLError as e:
        return Parsed(None, [_yaml_problem(filename, e, text)])


def _too_big(filename: str, size: int, max_bytes: int) -> Problem:
    return Problem(filename, 1, f"is too big ({_kb(size)}); a file here may be at most {_kb(max_bytes)}")


def _kb(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{max(1, round(n / 1024))} KB"


def _nul(filename: str, line: int) -> Problem:
    return Problem(filename, line, "contains a NUL byte: this looks like a binary file, not YAML text")


def _compose(text: str) -> YNode | None:
    loader = _Loader(text)
    try:
        # The end of a stream with no last newline is marked a line past it.
        return _Composer(loader, _line_map(text), len(_LINE_ENDS.split(text))).run()
    finally:
        loader.dispose()


_LINE_ENDS = re.compile("\r\n|\r|\n")
_BREAKS = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")


def _line_map(text: str) -> list[int] | None:
    """YAML also ends a line at NEL, LS and PS (U+0085, U+2028, U+2029, as
    pasted text may hold); an editor, grep and sed do not. The file's line
    of each of YAML's lines (index: YAML's line - 1), or None when they agree."""
    if not any(c in text for c in "\x85\u2028\u2029"):
        return None
    out, line = [1], 1
    for m in _BREAKS.finditer(text):
        if m.group() not in ("\x85", "\u2028", "\u2029"):
            line += 1
        out.append(line)
    return out


def _file_line(yaml_line: int, lines: list[int] | None) -> int:
    return lines[min(yaml_line, len(lines)) - 1] if lines else yaml_line


class _Composer:
    """Builds nodes from events without recursion, so depth and size are
    checked as the file is read, before anything can grow."""

    def __init__(self, loader: Any, lines: list[int] | None = None, last: int = 1 << 62):
        self.loader = loader
        self.lines = lines
        self.last = last
        self.anchors: dict[str, YNode] = {}
        self.stack: list[list] = []  # [node, pending key (text, line) or None]
        self.root: YNode | None = None
        self.documents = 0
        self.aliases = 0

    def run(self) -> YNode | None:
        loader = self.loader
        while loader.check_event():
            ev = loader.get_event()
            line = min(_file_line(ev.start_mark.line + 1, self.lines), self.last) if ev.start_mark else 1
            if isinstance(ev, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise _Refuse(line, "holds more than one YAML document (a second '---'); "
                                        "put one method in each file")
                self.anchors.clear()
            elif isinstance(ev, yaml.ScalarEvent):
                self._add(self._scalar(ev, line), line)
                if ev.anchor:
                    self.anchors[ev.anchor] = self._last
            elif isinstance(ev, yaml.AliasEvent):
                self._alias(ev, line)
            elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                self._open(ev, line)
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                node, pending = self.stack.pop()
                self._add(node, node.line, opened=True)
        return self.root

    def _scalar(self, ev: Any, line: int) -> YScalar:
        tag = ev.tag
        plain_style = bool(ev.implicit[0]) and not ev.style
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, ev.value, ev.implicit) if tag is None else _STD + "str"
        if tag == _STD + "merge":
            raise _Refuse(line, "'<<' (merging mappings) is not supported here; write the keys out in full")
        if tag not in _SCALAR_TAGS:
            raise _Refuse(line, _bad_tag(tag))
        text = ev.value
        if tag in (_STD + "str", _STD + "timestamp", _STD + "value"):
            value: Any = text
        elif tag == _STD + "null":
            value = None
        else:
            node = yaml.ScalarNode(tag, text)
            constructor = yaml.constructor.SafeConstructor()
            try:
                if tag == _STD + "int":
                    value = constructor.construct_yaml_int(node)
                elif tag == _STD + "float":
                    value = constructor.construct_yaml_float(node)
                else:
                    value = constructor.construct_yaml_bool(node)
            except (ValueError, KeyError, TypeError, OverflowError):
                kind = {"int": "a whole number", "float": "a number"}.get(tag[len(_STD):], "true or false")
                raise _Refuse(line, f"{_short(text)!r} cannot be read as {kind}") from None
        return YScalar(value, text, line, plain_style)

    def _open(self, ev: Any, line: int) -> None:
        if ev.tag not in (None, "!") and ev.tag not in _COLLECTION_TAGS:
            raise _Refuse(line, _bad_tag(ev.tag))
        if len(self.stack) >= MAX_DEPTH:
            raise _Refuse(line, f"is nested more than {MAX_DEPTH} levels deep")
        node: YNode = YSeq(line) if isinstance(ev, yaml.SequenceStartEvent) else YMap(line)
        if ev.anchor:
            self.anchors[ev.anchor] = node
        self.stack.append([node, None])

    def _alias(self, ev: Any, line: int) -> None:
        node = self.anchors.get(ev.anchor)
        if node is None:
            raise _Refuse(line, f"*{ev.anchor} refers to an anchor &{ev.anchor} that is not defined above it")
        if any(frame[0] is node for frame in self.stack):
            raise _Refuse(line, f"*{ev.anchor} refers to the list or mapping it is inside of")
        self.aliases += 1
        self._add(node, line)

    def _add(self, node: YNode, line: int, opened: bool = False) -> None:
        self._last = node
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        parent = frame[0]
        if isinstance(parent, YMap) and frame[1] is None:
            if not isinstance(node, YScalar):
                raise _Refuse(line, "a key must be a plain word, not a list or mapping")
            key = node.text
            if not key.strip():
                raise _Refuse(line, "there is a key with no name (a line that starts with ':')")
            frame[1] = (key, line)
            return
        parent.size += node.size
        if parent.size > MAX_NODES:
            raise _Refuse(line, (f"uses aliases (*name) that repeat too much: more than {MAX_NODES} values in all"
                                 if self.aliases else f"holds more than {MAX_NODES} values"))
        if isinstance(parent, YSeq):
            parent.items.append(node)
            return
        key, key_line = frame[1]
        frame[1] = None
        if key in parent.entries:
            first = parent.entries[key].key_line
            raise _Refuse(key_line, f"{_key(key)} is given twice (first on line {first}); keep one")
        parent.entries[key] = Entry(key_line, node)


def _bad_tag(tag: str) -> str:
    shown = "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag
    return (f"the tag {_short(shown, 80)} is not allowed: files here are plain data "
            "(remove the tag; put the value in quotes if it must stay as written)")


def _short(text: str, n: int = 40) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


# A key is quoted back only when it could be a field name someone mistyped;
# anything else (a line of a key file that YAML reads as a key) is not
# repeated: the line number finds it.
_FIELD_NAME = re.compile(r"[^\W\d][\w -]{0,39}\Z")


def looks_like_fields(node: YMap, known: Any) -> bool:
    """Whether a mapping can be a file of ours, with mistakes: no keys, or
    a key that is known or could be a mistyped field name. A file that is
    not (a key file YAML happens to read as a mapping) is refused as a
    whole, quoting nothing of it."""
    return not node.entries or any(k in known or _FIELD_NAME.match(k) for k in node.entries)


def _key(key: str) -> str:
    """A key as a message names it.

    >>> _key("titel"), _key("root:$6$aSalt$aHash:19000:0:99999:7:")
    ('"titel"', 'the key on this line')
    """
    return f'"{key}"' if _FIELD_NAME.match(key) else "the key on this line"


# PyYAML's own wording, said so that someone who never heard of YAML can fix it.
_PLAIN = (
    ("maximum nesting depth", f"is nested more than {MAX_DEPTH} levels deep"),
    ("mapping values are not allowed", "a colon (:) is in an unexpected place; text that contains ': ' "
                                       "must be put in quotes, and check the indentation"),
    ("could not find expected ':'", "a line here is missing its ':' or is indented wrongly"),
    ("did not find expected key", "the indentation is not consistent here"),
    ("expected <block end>", "the indentation is not consistent here"),
    ("did not find expected '-' indicator", "a list item here is indented differently from the others"),
    ("found unexpected end of stream", "the file ends in the middle of something (an unclosed quote or bracket?)"),
    ("while scanning a quoted scalar", "a quote here is never closed"),
    ("found undefined alias", "an alias (*name) here refers to an anchor that is not defined"),
    ("found duplicate anchor", "the same anchor (&name) is defined twice"),
    ("control characters are not allowed", "contains a control character that is not allowed in text"),
    ("special characters are not allowed", "contains a control character that is not allowed in text"),
    ("unacceptable character", "contains a control character that is not allowed in text"),
    ("found character that cannot start any token", "a character here cannot start a value; "
                                                    "put the text in quotes"),
)


def _yaml_problem(filename: str, error: yaml.YAMLError, text: str) -> Problem:
    lines = _LINE_ENDS.split(text)
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        line = _file_line(mark.line + 1, _line_map(text))
    elif isinstance(getattr(error, "position", None), int):
        line = text.count("\n", 0, error.position) + 1
    else:
        line = 1
    # At the end of a stream with no last newline YAML points past the last line.
    line = min(line, len(lines))
    raw = " ".join(str(x) for x in (getattr(error, "context", None), getattr(error, "problem", None)) if x)
    raw = raw or str(error).splitlines()[0]
    if 0 < line <= len(lines) and lines[line - 1][:1] == "\t" or "'\\t'" in raw:
        return Problem(filename, line, "a tab character is used here; YAML needs spaces for indentation")
    for needle, said in _PLAIN:
        if needle in raw:
            return Problem(filename, line, said)
    return Problem(filename, line, f"this is not valid YAML ({raw})")


class Checker:
    """Collects what is wrong with one file while its values are read, so
    that every problem is reported at once, each with its line.

    Each reader returns the value, or ``None`` after recording why not:

    >>> doc = parse("rate: fast\\n", "config.yaml").node
    >>> check = Checker("config.yaml")
    >>> check.integer(doc.get("rate"), "rate", 80, 450) is None
    True
    >>> print(check.errors[0])
    config.yaml:1: rate should be a whole number from 80 to 450, not "fast"
    """

    #: Beyond this many, more problems only bury the first ones.
    MAX_PROBLEMS = 100

    def __init__(self, filename: str):
        self.file = filename
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.more = {False: 0, True: 0}  # problems found but not kept, by warning or not

    @property
    def full(self) -> bool:
        return len(self.errors) + len(self.warnings) >= self.MAX_PROBLEMS

    def error(self, line: int, message: str) -> None:
        self._keep(self.errors, Problem(self.file, line, message))

    def warn(self, line: int, message: str) -> None:
        self._keep(self.warnings, Problem(self.file, line, message, warning=True))

    def _keep(self, into: list[Problem], problem: Problem) -> None:
        if self.full:
            self.more[problem.warning] += 1
        else:
            into.append(problem)

    def finish(self) -> tuple[list[Problem], list[Problem]]:
        """Errors and warnings in file order; a last one says how many more
        were left out."""
        out = []
        for found, warning in ((self.errors, False), (self.warnings, True)):
            found = sorted(found, key=lambda p: p.line)
            if self.more[warning]:
                found.append(Problem(self.file, found[-1].line if found else 1,
                                     f"... and {self.more[warning]} more; fix the ones above first", warning))
            out.append(found)
        return out[0], out[1]

    def keys(self, node: YMap, allowed: Any, where: str, aliases: dict[str, str] | None = None) -> None:
        """Report every key of ``node`` that is not in ``allowed``."""
        import difflib

        allowed = list(allowed)
        for key, entry in node.entries.items():
            if key in allowed:
                continue
            if self.full:
                self.more[False] += 1
                continue
            guess = (aliases or {}).get(key.lower())
            if guess is None:
                close = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
                guess = close[0] if close else None
            hint = f'; did you mean "{guess}"?' if guess else f"; known fields are: {', '.join(allowed)}"
            self.error(entry.key_line, f"{_key(key)} is not a field {where}{hint}")

    def mapping(self, node: YNode | None, what: str) -> YMap | None:
        if node is None or isinstance(node, YMap):
            return node
        self.error(node.line, f"{what} should be a set of fields (key: value lines), not {describe(node)}")
        return None

    def sequence(self, node: YNode | None, what: str) -> YSeq | None:
        if node is None or isinstance(node, YSeq) or _is_null(node):
            return None if node is None or _is_null(node) else node
        self.error(node.line, f'{what} should be a list (lines starting with "- "), not {describe(node)}')
        return None

    def text(self, node: YNode | None, what: str) -> str | None:
        """Text as written; numbers and yes/no count as the text they were
        written as. Empty and null give ``None``."""
        if node is None or _is_null(node):
            return None
        if isinstance(node, YScalar):
            value = node.value if isinstance(node.value, str) else node.text
            if "\x00" in value:
                # A raw NUL is refused by parse(); this one was written \0 in quotes.
                # No path, name or spoken text may hold it (open() raises ValueError).
                self.error(node.line, f"{what} contains a NUL character (written \\0); remove it")
                return None
            value = value.strip()
            return value or None
        self.error(node.line, f"{what} should be text, not {describe(node)}")
        return None

    def boolean(self, node: YNode | None, what: str) -> bool | None:
        if node is None or _is_null(node):
            return None
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        self.error(node.line, f"{what} should be true or false, not {describe(node)}")
        return None

    def integer(self, node: YNode | None, what: str, lo: int, hi: int) -> int | None:
        return self._numeric(node, what, lo, hi, int, f"a whole number from {lo} to {hi}")

    def number(self, node: YNode | None, what: str, lo: float, hi: float) -> float | None:
        value = self._numeric(node, what, lo, hi, (int, float), f"a number from {lo:g} to {hi:g}")
        return None if value is None else float(value)

    def _numeric(self, node: YNode | None, what: str, lo: float, hi: float, kind: Any, said: str) -> Any:
        if node is None or _is_null(node):
            return None
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, kind) and not isinstance(value, bool) and lo <= value <= hi:
            return value
        self.error(node.line, f"{what} should be {said}, not {describe(node)}")
        return None

    def one_of(self, node: YNode | None, what: str, choices: tuple[str, ...]) -> str | None:
        """One of ``choices``; null gives ``None`` (the caller decides what
        a missing value means), and so does anything else, with an error."""
        value = self.text(node, what)
        if value is None and isinstance(node, YScalar) and not _is_null(node):
            self.error(node.line, f"{what} should be {_or(choices)}, not empty")
            return None
        if value is None or value in choices:
            return value
        self.error(node.line, f"{what} should be {_or(choices)}, not \"{_short(value)}\"")
        return None


def _is_null(node: YNode) -> bool:
    return isinstance(node, YScalar) and node.value is None


def describe(node: YNode) -> str:
    """How a value reads to someone who wrote it: ``"fast"``, a list, a mapping."""
    if isinstance(node, YSeq):
        return "a list"
    if isinstance(node, YMap):
        return "a set of fields"
    if node.value is None:
        return "empty"
    return f'"{_short(node.text)}"'


def kind_of(node: YNode | None) -> str:
    """What a value is, without quoting any of it: for files that turn out
    not to be what they were given as (a key file checked as a method).

    >>> kind_of(parse("secret text", "f").node), kind_of(parse("- a", "f").node)
    ('text', 'a list')
    """
    if node is None:
        return "empty"
    if isinstance(node, YScalar):
        return "empty" if node.value is None else "text"
    return describe(node)


def _or(choices: tuple[str, ...]) -> str:
    quoted = [f'"{c}"' for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
