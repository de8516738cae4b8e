"""Seeded fuzzer for the "bad input" promise: every method file and config an
admin writes is either accepted or refused with FILE:LINE: messages; nothing
raises, nothing hangs; an accepted method runs through the engine to its end.

    PYTHONPATH=device python tests/fuzz_files.py --seed 1 --cases 3000 [--out DIR]

Each failure is written to DIR (default /tmp/fuzz-out) as the mutated file plus
a .txt with what went wrong; failures are grouped by a signature (exception
type and the innermost frame of the intervisor package, or the kind of bad
message).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "device"))

from intervisor.cli import method as commands_method
from intervisor.appliance import service
from intervisor.core.clock import FakeClock  # noqa: E402
from intervisor.files.config import ConfigError, load_config  # noqa: E402
from intervisor.core.engine import Engine  # noqa: E402
from intervisor.core.events import Command  # noqa: E402
from intervisor.files.method import Library, describe_length, load_method  # noqa: E402
from intervisor.core.rehearsal import rehearse  # noqa: E402

METHOD_SEEDS = sorted((REPO / "methods").glob("*.yaml"))
CONFIG_SEED = REPO / "docs" / "config.example.yaml"
CASE_TIMEOUT = 20.0
SLOW = 3.0


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


# ------------------------------------------------------------------ weird values

LONG = "x" * 70000
WEIRD_SCALARS = [
    "[]", "{}", "[a, b]", "{a: 1}", "[[[]]]", "99999999999999999999999999999999", "1e309", "-1e309",
    ".inf", "-.inf", ".nan", "-0", "-0.0", "0", "0x1F", "0o17", "0b101", "1_000", "1:30", "190:20:30",
    "true", "false", "yes", "no", "on", "off", "~", "null", "''", '""', "' '", f'"{LONG}"', LONG,
    '"\\u202eabc\\u202c"', "\u202eטקסט", "\u05e9\u05dc\u05d5\u05dd", '"a\\0b"', '"\\x01\\x1b[31m"',
    '"\\ud800"', '"\\udfff"', '"\\U0010FFFF"', '"\\t"', "\t", "a\tb", "\"\\N\\_\\L\\P\"", "'\u2028'",
    "\u0085x", "2001-12-14t21:59:43.10-05:00", "2002-12-14", "!!binary aGVsbG8=", "!!set {a, b}",
    "!!omap [a: 1]", "!!python/object:os.system ls", "!!python/name:os.system", "!custom x", "!!str 5",
    "!!int '12'", "!!float abc", "!!bool maybe", "!!null x", "!!timestamp foo", "!!int " + "9" * 5000,
    "!!float " + "9" * 400, "!!int 0x" + "f" * 5000, "=", "<<", "*undefined", "&anc value", "|\n  block\n",
    ">-\n  folded\n", "|-", "? complex\n: key", "-", ":", "#", "'unterminated", '"unterminated', "[unclosed",
    "{unclosed", "}", "]", "@at", "`tick", "%pct", "!", "!!", "&", "*", "a: b: c", "- - -", "..", "...",
    "---", "'''", "\\", "\ufeff", "\ufffe", "\uffff", "\U0001F600", "e\u0301", "ǅ", "İ",
]
DURATIONS = [
    "0m", "-1m", "25:00", "23:59", "1e3s", "90s", "0", "0s", "0h", "5-5m", "10-5m", "5m-10m", "1h30m",
    "1h90m", "99999999h", "9999999h", "9999999-99999999m", "1-9999999h", "1.5m", "5 m", "5M", "5-10",
    "-5-10m", "1h30", "1s", "1-2s", "2s", "1m1s", "59s", "61s", "3h", "24h", "100h", "00m", "0-1m",
    "٥m", "５m", "5m ", " 5m", "05m", "5mm", "m", "h", "5-", "-", "5-10h", "1h0m0s", "0h0m1s",
]
TIMES = ["09:30", "9:30", "00:00", "23:59", "24:00", "25:00", "12:60", "12:00", "'12:00'", "9:5",
         "٠٩:٣٠", "0930", "09.30", "9h30", "'23:59'", "'00:01'", "-1:00", "1:00:00"]
LANGS = ["nl", "en", "de", "NL", "'nl '", "en-GB", "''", "fr", "nl\u200b", "[nl]", "~", "no", "true"]
IDS = ["vijf-stappen", "five-steps", "own-cases", "../etc/passwd", "A", "vijf stappen", "a" * 300, "-",
       "--", "x.yaml", "é", "incidentmethode", "1", "0", "yes", "null", "'../x'"]
KEYS = ["id", "title", "language", "duration", "warn_before", "overtime_every", "min_cue", "auto_advance",
        "participants", "rules", "phases", "choices", "say", "questions", "silent", "rounds", "from_choice",
        "when", "at", "intro", "closing", "description", "source", "count", "leave_out", "options",
        "default", "text", "hint", "<<", "titel", "Title", "bogus", "", "~", "null", "1", "tïtle"]


def pick_value(rng: random.Random, key: str | None = None) -> str:
    r = rng.random()
    if key in ("duration", "warn_before", "overtime_every") and r < 0.6:
        return rng.choice(DURATIONS)
    if key == "at" and r < 0.6:
        return rng.choice(TIMES)
    if key == "language" and r < 0.6:
        return rng.choice(LANGS)
    if key in ("id", "from_choice", "default") and r < 0.5:
        return rng.choice(IDS)
    if key in ("participants", "count", "leave_out") and r < 0.5:
        return str(rng.choice([-1, 0, 1, 2, 3, 6, 12, 13, 10 ** 30, "1.5", "2.0", "true"]))
    return rng.choice(WEIRD_SCALARS)


# --------------------------------------------------------------- text mutations

KV = re.compile(r"^(\s*(?:-\s+)?)([^\s:#][^:#]*?):(\s+)(\S.*)$")


def m_delete(rng, lines):
    if lines:
        del lines[rng.randrange(len(lines))]


def m_duplicate(rng, lines):
    if lines:
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[i])


def m_swap(rng, lines):
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]


def m_indent(rng, lines):
    if lines:
        i = rng.randrange(len(lines))
        d = rng.choice([-4, -2, -1, 1, 2, 4, 8])
        if d < 0:
            lines[i] = re.sub("^ {0,%d}" % -d, "", lines[i])
        else:
            lines[i] = " " * d + lines[i]


def m_tab(rng, lines):
    if lines:
        i = rng.randrange(len(lines))
        lines[i] = re.sub(r"^( +)", lambda m: "\t" * max(1, len(m.group(1)) // rng.choice([1, 2, 4])), lines[i])
        if not lines[i].startswith("\t") and rng.random() < 0.5:
            lines[i] = lines[i].replace(": ", ":\t", 1)


def m_value(rng, lines):
    cands = [i for i, l in enumerate(lines) if KV.match(l)]
    if not cands:
        return
    i = rng.choice(cands)
    m = KV.match(lines[i])
    key = m.group(2).strip()
    val = pick_value(rng, key)
    if "\n" in val:
        ind = " " * (len(m.group(1)) + 2)
        first, *rest = val.split("\n")
        lines[i] = f"{m.group(1)}{m.group(2)}: {first}"
        for r in reversed([ind + x for x in rest if x]):
            lines.insert(i + 1, r)
    else:
        lines[i] = f"{m.group(1)}{m.group(2)}:{m.group(3)}{val}"


def m_key(rng, lines):
    cands = [i for i, l in enumerate(lines) if KV.match(l)]
    if cands:
        i = rng.choice(cands)
        m = KV.match(lines[i])
        lines[i] = f"{m.group(1)}{rng.choice(KEYS)}:{m.group(3)}{m.group(4)}"


def m_insert_kv(rng, lines):
    if not lines:
        lines.append("")
    i = rng.randrange(len(lines))
    ind = re.match(r"^\s*(?:-\s+)?", lines[i]).group(0)
    ind = " " * len(ind)
    key = rng.choice(KEYS)
    lines.insert(i + rng.randrange(2), f"{ind}{key}: {pick_value(rng, key)}")


def m_anchor_alias(rng, lines):
    cands = [i for i, l in enumerate(lines) if KV.match(l)]
    if len(cands) < 2:
        return
    i, j = sorted(rng.sample(cands, 2))
    mi, mj = KV.match(lines[i]), KV.match(lines[j])
    if rng.random() < 0.5:
        lines[i] = f"{mi.group(1)}{mi.group(2)}: &a {mi.group(4)}"
        lines[j] = f"{mj.group(1)}{mj.group(2)}: *a"
    else:  # alias before its anchor, or a self reference
        lines[i] = f"{mi.group(1)}{mi.group(2)}: *a"
        lines[j] = f"{mj.group(1)}{mj.group(2)}: &a {mj.group(4)}"


def m_merge(rng, lines):
    i = rng.randrange(len(lines) + 1)
    ind = " " * len(re.match(r"^\s*", lines[i - 1] if i and lines else "").group(0))
    lines.insert(i, f"{ind}<<: {rng.choice(['*a', '{x: 1}', '[*a]', 'x'])}")


def m_doc(rng, lines):
    r = rng.random()
    if r < 0.3:
        lines.insert(0, "---")
    elif r < 0.5:
        lines.append("---")
        lines.extend(["id: other", "title: Other"])
    elif r < 0.7:
        lines.insert(rng.randrange(len(lines) + 1), "...")
    elif r < 0.85:
        lines.insert(0, "%YAML 1.2")
        lines.insert(1, "---")
    else:
        lines.insert(0, "%TAG !e! tag:example.com,2000:")
        lines.insert(1, "---")


def m_truncate(rng, lines):
    if lines:
        i = rng.randrange(len(lines))
        del lines[i + 1:]
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]


def m_chars(rng, lines):
    if not lines:
        return
    i = rng.randrange(len(lines))
    l = lines[i]
    p = rng.randrange(len(l) + 1)
    ch = rng.choice(["\u2028", "\u2029", "\u0085", "\r", "\x0b", "\x0c", "\x7f", "\x01", "\x1b", "\t", "\u202e",
                     "\ufeff", "\u00a0", ":", "#", "'", '"', "{", "[", "&", "*", "!", "|", ">", "%", "@", "`",
                     "\U0001F600", "\u200b", " - ", ": "])
    lines[i] = l[:p] + ch + l[p:]


def m_flow_line(rng, lines):
    """Turn a block list item into flow or break a flow item."""
    if lines:
        i = rng.randrange(len(lines))
        lines[i] = lines[i].replace("- ", "- [", 1) + "]" if rng.random() < 0.5 else lines[i].replace("- ", "- {", 1)


def m_comment(rng, lines):
    if lines:
        i = rng.randrange(len(lines))
        lines[i] = ("# " if rng.random() < 0.5 else "#") + lines[i]


TEXT_MUTATORS = [m_delete, m_duplicate, m_swap, m_indent, m_tab, m_value, m_value, m_value, m_key,
                 m_insert_kv, m_anchor_alias, m_merge, m_doc, m_truncate, m_chars, m_chars, m_flow_line,
                 m_comment]


# ---------------------------------------------------------- structural mutations

def tree_paths(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from tree_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from tree_paths(v, path + (i,))


def tree_set(root, path, value):
    if not path:
        return value
    node = root
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return root


TREE_VALUES = [None, "", " ", 0, -0.0, 1, -1, 2, 13, 10 ** 40, 1.5, float("inf"), float("nan"), True, False, [],
               {}, ["x"], {"x": 1}, "x" * 5000, "\u202eטקסט", "a\x00b", "\x1b[2J", "\t", "1s", "0", "0m", "5-10m",
               "23:59", "00:00", "nl", "en", "de"]


def semantic(rng, doc):
    """Changes that keep the file valid YAML and often a valid method, to
    drive the engine into its corners."""
    if not isinstance(doc, dict):
        return doc
    phases = doc.get("phases") if isinstance(doc.get("phases"), list) else []
    r = rng.random()
    ph = [p for p in phases if isinstance(p, dict)]
    if r < 0.12 and ph:
        for p in ph:
            p["duration"] = rng.choice(["1s", "2s", "1-2s", "1m", "5-10m", "1h", "9999999h", "1-9999999h"])
    elif r < 0.22 and ph:
        # a clock-time programme, sometimes near midnight, sometimes out of order
        start = rng.choice([0, 9 * 60, 23 * 60 + 50, 23 * 60 + 58, 12 * 60])
        t = start
        for p in ph:
            p["at"] = f"{t // 60 % 24:02d}:{t % 60:02d}"
            t += rng.choice([0, 1, 5, 30, 90, -10])
            if rng.random() < 0.5:
                p.pop("duration", None)
        if rng.random() < 0.5:
            ph[-1]["duration"] = rng.choice(["1m", "5m", "1-2m", "24h"])
    elif r < 0.32 and ph:
        p = rng.choice(ph)
        p.pop("questions", None)
        p["rounds"] = rng.choice([True, False, {"count": rng.choice([2, 12, 13])},
                                  {"leave_out": rng.choice([0, 1, 2, 3])}, {"count": 2, "leave_out": 1},
                                  {"say": "Volgende."}, None, 0, "yes"])
        if rng.random() < 0.5:
            doc["participants"] = rng.choice([2, 3, 12, 1, 13, None])
    elif r < 0.42 and ph:
        p = rng.choice(ph)
        for k in ("warn_before", "overtime_every"):
            if rng.random() < 0.6:
                (p if rng.random() < 0.5 else doc)[k] = rng.choice(["0", "1s", "2s", "1m", "0m", "9999999h", "59s"])
        for k in ("min_cue", "auto_advance", "silent"):
            if rng.random() < 0.5:
                (p if rng.random() < 0.5 else doc)[k] = rng.choice([True, False])
    elif r < 0.55 and ph:
        # choices, when, from_choice
        n = rng.choice([2, 2, 3, 9])
        opts = [{"id": f"o{i}", "title": f"Optie {i}",
                 **({"questions": [f"V{i}.{j}" for j in range(rng.choice([0, 1, 3]))]} if rng.random() < 0.7 else {}),
                 **({"say": "Zeg iets."} if rng.random() < 0.3 else {})} for i in range(n)]
        choices = [{"id": "c", "title": "Kies", "options": opts}]
        if rng.random() < 0.4:
            choices[0]["default"] = rng.choice(["o1", "o0", "nope"])
        if rng.random() < 0.4:
            choices.append({"id": "d", "title": "Dag", "options": [{"id": "d1", "title": "Een"},
                                                                 {"id": "d2", "title": "Twee"}]})
        doc["choices"] = choices
        for p in ph:
            x = rng.random()
            if x < 0.3:
                p["from_choice"] = rng.choice(["c", "c", "d", "zz"])
            elif x < 0.6:
                p["when"] = {rng.choice(["c", "d"]): rng.choice(["o0", "o1", "d1", "d2"])}
    elif r < 0.65 and phases:
        # duplicate, remove or reorder phases; share phase objects (aliases)
        op = rng.random()
        if op < 0.3:
            phases.append(rng.choice(phases))
        elif op < 0.5 and len(phases) > 1:
            phases.pop(rng.randrange(len(phases)))
        elif op < 0.7:
            rng.shuffle(phases)
        else:
            del phases[1:]
    elif r < 0.75 and ph:
        p = rng.choice(ph)
        p["questions"] = [rng.choice(["Q?", {"text": "T?", "hint": "H"}, {"text": None}, "", None, ["x"],
                                      {"hint": "x"}, "\u202eQ"]) for _ in range(rng.choice([0, 1, 2, 50]))]
    else:
        paths = list(tree_paths(doc))
        path, _ = rng.choice(paths)
        doc = tree_set(doc, path, rng.choice(TREE_VALUES))
    return doc


def config_semantic(rng, doc):
    if not isinstance(doc, dict):
        return doc
    pins = ["button", "second_button", "green", "amber", "red", "mic_light"]
    r = rng.random()
    panel = doc.setdefault("panel", {}) if isinstance(doc.get("panel", {}), dict) else {}
    voice = doc.setdefault("voice", {}) if isinstance(doc.get("voice", {}), dict) else {}
    if r < 0.2 and panel is not None:
        panel[rng.choice(pins)] = rng.choice([2, 17, 22, 27, 28, 1, 0, -1, None, "17", 17.0, True])
    elif r < 0.35:
        panel["lights"] = rng.choice(["rgb", "three", "RGB", None])
        panel["rgb"] = rng.choice([None, [5, 6, 13], [17, 22, 27], [5, 6], [5, 6, 6], "5,6,13", [5, [6], 13]])
    elif r < 0.5:
        voice["enabled"] = rng.choice([True, False, "true", None])
        panel["enabled"] = rng.choice([True, False, None])
        panel["mic_light"] = rng.choice([None, 24, 17, "", []])
    elif r < 0.6:
        doc["choices"] = rng.choice([{"vragen": "vijf-vragen"}, {"Vragen": "x"}, {"a": None}, {"a": [1]}, [],
                                     {"a": "B"}, None, {"": "x"}])
        doc["selected"] = rng.choice(["vijf-stappen", "../x", None, "", 5, "Vijf"])
    elif r < 0.7:
        sec = rng.choice(["audio", "voice"])
        d = doc.get(sec) if isinstance(doc.get(sec), dict) else {}
        d[rng.choice(["voices", "models"])] = rng.choice([{"nl": "nl+f3"}, {"de": "x"}, {"nl": ""}, {"nl": None},
                                                          {"en": "/x"}, {"en": "rel"}, {"nl": ["x"]}, []])
        doc[sec] = d
    else:
        paths = list(tree_paths(doc))
        path, _ = rng.choice(paths)
        doc = tree_set(doc, path, rng.choice(TREE_VALUES + ["/tmp/a\x00b", "relative", "/"]))
    return doc


def dump(doc, rng) -> str:
    style = rng.random()
    if style < 0.15:
        return json.dumps(doc, ensure_ascii=rng.random() < 0.5, default=str) + "\n"
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=style < 0.3, width=10 ** 6)


# ----------------------------------------------------------------- byte-level

def byte_mutate(rng, data: bytes) -> bytes:
    r = rng.random()
    if r < 0.12:
        return b"\xef\xbb\xbf" + data
    if r < 0.24:
        return data.replace(b"\n", b"\r\n")
    if r < 0.32:
        return data.replace(b"\n", b"\r")
    if r < 0.40:
        return data.decode("utf-8").encode("utf-16")
    if r < 0.48:
        return data.decode("utf-8").encode("latin-1", "replace")
    if r < 0.60:
        p = rng.randrange(len(data) + 1)
        return data[:p] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xc0\xaf", b"\xf4\x90\x80\x80",
                                      b"\xe2\x80\xa8", b"\xc2\x85", b"\xef\xbf\xbe"]) + data[p:]
    if r < 0.70:
        p = rng.randrange(len(data) + 1)
        return data[:p]
    if r < 0.76:
        return b""
    if r < 0.80:
        return rng.choice([b" ", b"\n\n", b"# only a comment\n", b"~\n", b"null", b"[]", b"{}", b"- a\n", b"42",
                           b"---\n", b"...\n", b"--- |\n  text\n", b"\t", b"\xef\xbb\xbf", b"\r\n"])
    if r < 0.86:
        n = rng.choice([10, 33, 100, 1000])
        return b"id: " + b"[" * n + b"]" * n + b"\n" + data
    if r < 0.93:
        # billion laughs
        lines = [b"a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for k in range(1, rng.choice([4, 6, 9])):
            lines.append(b"a%d: &a%d [" % (k, k) + b", ".join([b"*a%d" % (k - 1)] * 10) + b"]")
        return b"\n".join(lines) + b"\n" + data
    # big, just under and over the limit
    size = rng.choice([256 * 1024 - 200, 256 * 1024 + 1, 10 * 1024 * 1024])
    pad = b"# " + b"x" * 78 + b"\n"
    body = data + pad * (max(0, size - len(data)) // len(pad))
    if rng.random() < 0.5:  # the same size in questions instead of comments
        body = data + b"rules:\n" + b"  - aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" * (max(0, size - len(data)) // 50)
    return body


# ------------------------------------------------------------------ the oracles

def n_lines(data: bytes) -> int:
    """Lines as an editor counts them (\\n, \\r\\n or a lone \\r end a line);
    one more is allowed for the empty line after the last newline."""
    text = data.decode("utf-8", "replace")
    return len(re.split(r"\r\n|\r|\n", text))


def check_messages(messages, name: str, data: bytes | None, failures: list):
    pat = re.compile(r"^" + re.escape(name) + r":(\d+): (warning: )?(\S.*)$", re.S)
    top = n_lines(data) if data is not None else 1
    for msg in messages:
        m = pat.match(msg)
        if not m:
            failures.append(("bad-message-format", msg))
            continue
        line = int(m.group(1))
        if not 1 <= line <= max(1, top):
            failures.append(("line-out-of-range", f"{msg!r} (file has {top} lines)"))
        if "this is a bug in the device" in msg:
            failures.append(("checker-gave-up", msg))
        if "Traceback" in msg:
            failures.append(("traceback-in-message", msg))


def run_check_cli(argv_files, config_files):
    out, err = io.StringIO(), io.StringIO()
    ns = argparse.Namespace(files=argv_files, config=config_files)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = commands_method.check_command(ns)
    # what main() would print: must be encodable (it reconfigures errors=replace,
    # so only report things that are not even str)
    return rc, out.getvalue(), err.getvalue()


def drive_engine(method, rng, failures):
    wall = rng.choice([1_767_258_000.0, 1_767_258_000.0 + 14 * 3600 + 59 * 60, 1_767_258_000.0 + 23 * 3600 + 59 * 60 + 30])
    clock = FakeClock(wall=wall)
    preset = {}
    for c in method.choices:
        if rng.random() < 0.5:
            preset[c.id] = rng.choice(c.options).id
    participants = rng.choice([None, None, 2, 6, 12])
    e = Engine(method, clock, choices=preset, participants=participants)
    e.phrases_to_render()
    e.start()
    steps = 0
    budget = 20 + 4 * sum(len(p.questions) + 13 for p in method.phases) + 40 * len(method.choices)
    budget += sum(len(o.questions) for c in method.choices for o in c.options)
    while not e.ended and steps < budget:
        steps += 1
        r = rng.random()
        if r < 0.55:
            cmd = Command.NEXT
        elif r < 0.8:
            due = e.next_due()
            clock.advance(max(0.0, (due - clock.monotonic()) if due is not None else rng.choice([0.5, 60, 3600])))
            cmd = Command.TICK
        else:
            cmd = rng.choice(list(Command))
            if rng.random() < 0.3:
                clock.advance(rng.choice([0.01, 1, 59, 600, 86400]))
        e.accepts(cmd)
        e.handle(cmd)
        e.status()
        if e.stage == "running" and rng.random() < 0.05:
            snap = json.loads(json.dumps(e.snapshot()))
            clock2 = FakeClock(wall=clock.time() + rng.choice([0, 5, 3600]), mono=rng.choice([0.0, 10.0]))
            e2 = Engine.restore(method, clock2, snap)
            e2.resumed()
            if rng.random() < 0.5:
                e, clock = e2, clock2
    # finish: the chair presses on
    for _ in range(10 * budget + 100):
        if e.ended:
            break
        if e.paused:
            e.handle(Command.RESUME)
        e.handle(Command.NEXT)
    if not e.ended:
        e.handle(Command.END)
        e.handle(Command.END)
    if not e.ended:
        failures.append(("engine-never-ends", f"{method.id}: stage {e.stage} after {steps} steps"))


def library_check(seed_path: Path, mutant: bytes, name: str, failures: list):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        for s in METHOD_SEEDS:
            shutil.copy(s, folder / s.name)
        lib = Library(folder)
        before = dict(lib.methods)
        (folder / name).write_bytes(mutant)
        change = lib.reload()
        for mid, m in before.items():
            if mid not in lib.methods:
                failures.append(("library-lost-method", f"{mid} lost after writing {name}"))
            elif Path(name).stem != mid and lib.methods[mid] != m and Path(m.path).name != name:
                failures.append(("library-changed-other", f"{mid} changed after writing {name}"))
        for path, problems in change.refused.items():
            check_messages([str(p) for p in problems], path, (Path(path).read_bytes()
                                                               if Path(path).is_file() else None), failures)
        service.folder_fingerprint(None, folder)


def method_case(rng, seed_path: Path, mutant: bytes, name: str, workdir: Path, failures: list, stats: dict,
                deep: bool):
    path = workdir / name
    path.write_bytes(mutant)
    result = load_method(path)
    check_messages([p.marked() for p in result.problems], str(path), mutant, failures)
    if result.method is None and not result.errors:
        failures.append(("refused-without-error", str(path)))
    rc, out, err = run_check_cli([str(path)], [])
    if (rc == 0) != result.ok:
        failures.append(("cli-status", f"rc={rc} ok={result.ok}"))
    check_messages([l for l in err.splitlines() if l], str(path), mutant, failures)
    if result.ok:
        stats["accepted"] += 1
        m = result.method
        describe_length(m)
        for _ in range(2 if deep else 1):
            drive_engine(m, rng, failures)
        if deep:
            rehearse(m)
            copy = service.method_copy(m)
            if copy is None:
                failures.append(("method-copy-none", f"{path}: an accepted, unchanged file gives no copy"))
    else:
        stats["refused"] += 1
    if deep or rng.random() < 0.15:
        library_check(seed_path, mutant, name, failures)


def config_case(rng, mutant: bytes, workdir: Path, failures: list, stats: dict):
    path = workdir / "config.yaml"
    path.write_bytes(mutant)
    ok = True
    try:
        config = load_config(path)
    except ConfigError as e:
        ok = False
        check_messages([str(p) for p in e.problems], str(path), mutant, failures)
        if not e.problems:
            failures.append(("config-refused-without-error", str(path)))
    stats["accepted" if ok else "refused"] += 1
    settings, problems = service.load_settings(path)
    check_messages(problems, str(path), mutant, failures)
    rc, out, err = run_check_cli([], [str(path)])
    if (rc == 0) != ok:
        failures.append(("cli-status", f"rc={rc} ok={ok}"))
    check_messages([l for l in err.splitlines() if l], str(path), mutant, failures)
    if ok:
        # what the service does with an accepted config before anything else
        for key in ("state_dir", "methods_dir", "cache_dir"):
            p = Path(getattr(config, key))
            p.exists()  # a path the service will mkdir/iterdir
            try:
                os.stat(p)
            except OSError:
                pass
            except ValueError as e:
                failures.append(("config-path-unusable", f"{key}={getattr(config, key)!r}: {e}"))
        Library(config.methods_dir)
        service.folder_fingerprint(path, config.methods_dir)


def special_cases(workdir: Path):
    """Things that are not files, dropped in the methods folder."""
    out = []
    def mk(kind, name):
        p = workdir / name
        if kind == "dir":
            p.mkdir()
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind == "loop":
            os.symlink(name, p)
        elif kind == "loop2":
            os.symlink("b-" + name, p)
            os.symlink(name, workdir / ("b-" + name))
        elif kind == "dangling":
            os.symlink("/nonexistent/x.yaml", p)
        elif kind == "outside":
            os.symlink("/etc/passwd", p)
        elif kind == "to-dir":
            os.symlink("/", p)
        elif kind == "to-fifo":
            os.mkfifo(workdir / "f.fifo")
            os.symlink("f.fifo", p)
        elif kind == "devzero":
            os.symlink("/dev/zero", p)
        elif kind == "unreadable":
            p.write_text("id: x\n")
            os.chmod(p, 0)
        elif kind == "socket":
            import socket
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(p))
            out.append(s)
        elif kind == "empty":
            p.write_bytes(b"")
        elif kind == "hidden":
            p.write_bytes(b"id: [")
        return p
    return mk


# ------------------------------------------------------------------------ main

def signature(kind: str, detail: str) -> str:
    return f"{kind}: {detail[:160]}"


def exc_signature(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in tb if "/intervisor/" in f.filename]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} {ours[-1].name}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def mutate(rng: random.Random, base: bytes, semantic_mutator, text_on_top: float) -> bytes:
    """One mutant of a seed file: line edits, edits of the parsed document
    dumped again (sometimes with a line edit on top), or raw byte edits."""
    r = rng.random()
    if r < 0.45:
        lines = base.decode().split("\n")
        for _ in range(rng.choice([1, 1, 2, 3, 5])):
            rng.choice(TEXT_MUTATORS)(rng, lines)
        return "\n".join(lines).encode("utf-8", "surrogatepass")
    if r < 0.85:
        doc = yaml.safe_load(base)
        for _ in range(rng.choice([1, 1, 2, 3])):
            doc = semantic_mutator(rng, doc)
        data = dump(doc, rng).encode("utf-8", "surrogatepass")
        if rng.random() < text_on_top:
            lines = data.decode("utf-8", "surrogatepass").split("\n")
            rng.choice(TEXT_MUTATORS)(rng, lines)
            data = "\n".join(lines).encode("utf-8", "surrogatepass")
        return data
    return byte_mutate(rng, base)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--out", default="/tmp/fuzz-out")
    ap.add_argument("--deep-every", type=int, default=10)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGALRM, _alarm)
    seeds = {p: p.read_bytes() for p in METHOD_SEEDS}
    config_seed = CONFIG_SEED.read_bytes()
    found: dict[str, dict] = {}
    stats = {"cases": 0, "accepted": 0, "refused": 0, "method": 0, "config": 0, "special": 0, "slow": 0}
    t_start = time.time()
    special_kinds = ["dir", "fifo", "loop", "loop2", "dangling", "outside", "to-dir", "to-fifo", "devzero",
                     "unreadable", "socket", "empty", "hidden"]

    def record(sig, case_id, data, detail, name):
        entry = found.setdefault(sig, {"count": 0, "first": case_id})
        entry["count"] += 1
        if entry["count"] == 1 or (data is not None and len(data) < len(entry.get("data") or b"x" * 10 ** 9)):
            entry.update(data=data, detail=detail, name=name, case=case_id)

    for n in range(args.cases):
        case_rng = random.Random(f"{args.seed}-{n}")
        kind_r = case_rng.random()
        workdir = Path(tempfile.mkdtemp(prefix="fz"))
        data, name = None, None
        failures: list = []
        deep = n % args.deep_every == 0
        try:
            signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT)
            t0 = time.time()
            if n % 97 == 5:
                stats["special"] += 1
                kind = special_kinds[(n // 97) % len(special_kinds)]
                mk = special_cases(workdir)
                folder = workdir / "methods"
                folder.mkdir()
                for s in METHOD_SEEDS:
                    shutil.copy(s, folder / s.name)
                lib = Library(folder)
                before = dict(lib.methods)
                name = f"{kind}.yaml" if kind != "hidden" else ".vijf-stappen.yaml.swp.yaml"
                p = special_cases(folder)(kind, name)
                data = kind.encode()
                change = lib.reload()
                if set(before) - set(lib.methods):
                    failures.append(("library-lost-method", kind))
                for path, problems in change.refused.items():
                    check_messages([str(x) for x in problems], path, None, failures)
                Library(folder)
                service.folder_fingerprint(None, folder)
                if kind not in ("fifo", "to-fifo", "socket"):   # load_method on a FIFO named directly
                    r = load_method(p)
                    check_messages([x.marked() for x in r.problems], str(p), None, failures)
                rc, o, err = run_check_cli([str(p)], [str(p)])
                check_messages([l for l in err.splitlines() if l], str(p), None, failures)
            elif kind_r < 0.78:
                stats["method"] += 1
                seed_path = case_rng.choice(METHOD_SEEDS)
                base = seeds[seed_path]
                name = seed_path.name
                data = mutate(case_rng, base, semantic, text_on_top=0.3)
                if case_rng.random() < 0.08:
                    other = case_rng.choice(METHOD_SEEDS).stem
                    name = case_rng.choice([f"{other}.yaml", "x.yml", "Vijf-Stappen.yaml", "a b.yaml"])
                method_case(case_rng, seed_path, data, name, workdir, failures, stats, deep)
            else:
                stats["config"] += 1
                name = "config.yaml"
                data = mutate(case_rng, config_seed, config_semantic, text_on_top=0.0)
                config_case(case_rng, data, workdir, failures, stats)
            dt = time.time() - t0
            if dt > SLOW:
                stats["slow"] += 1
                failures.append(("slow", f"{dt:.1f}s"))
        except Timeout:
            failures.append(("timeout", f">{CASE_TIMEOUT}s"))
        except Exception as e:  # noqa: BLE001
            failures.append(("exception", exc_signature(e) + "\n" + "".join(traceback.format_exception(e))[-3000:]))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for root, dirs, files in os.walk(workdir):
                for d in dirs:
                    try:
                        os.chmod(os.path.join(root, d), 0o755)
                    except OSError:
                        pass
            shutil.rmtree(workdir, ignore_errors=True)
        stats["cases"] += 1
        for kind, detail in failures:
            if kind == "exception":
                sig = "exception: " + detail.split("\n", 1)[0]
            elif kind in ("line-out-of-range", "bad-message-format", "checker-gave-up"):
                msg = re.sub(r"^.*?:\d+: ", "", detail.strip("'\""))
                sig = f"{kind}: " + re.sub(r'"[^"]*"|\d+', "_", msg)[:90]
            else:
                sig = f"{kind}: " + re.sub(r"\d+", "_", detail.split("\n")[0])[:90]
            record(sig, n, data, detail, name)
        if n % 200 == 0:
            print(f"[{time.time() - t_start:6.0f}s] case {n}: {stats} distinct failures {len(found)}",
                  file=sys.stderr, flush=True)

    print(json.dumps(stats))
    for i, (sig, e) in enumerate(sorted(found.items(), key=lambda kv: -kv[1]["count"])):
        base = out / f"f{i:02d}"
        if e.get("data") is not None:
            (base.with_suffix(".yaml")).write_bytes(e["data"])
        (base.with_suffix(".txt")).write_text(
            f"{sig}\ncount {e['count']}, first case {e['first']}, kept case {e['case']}, name {e['name']}\n\n"
            f"{e['detail']}\n", errors="replace")
        print(f"f{i:02d} x{e['count']:4d} (case {e['case']}) {sig}")
    print(f"elapsed {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
