"""Safe YAML reading: lines kept, hostile input refused quickly and cleanly,
and never anything but a result or a list of problems (hypothesis)."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intervisor.files.method import METHOD_KEYS, PHASE_KEYS, LoadResult, load_method_text
from intervisor.files.yamlsafe import MAX_BYTES, MAX_DEPTH, Problem, YMap, YScalar, YSeq, parse, plain, walk


def refused(data, name: str = "f.yaml") -> str:
    parsed = parse(data, name)
    assert parsed.node is None and len(parsed.problems) == 1, parsed.problems
    return str(parsed.problems[0])


# --- what is kept ---------------------------------------------------------------------------------


def test_every_node_keeps_its_line():
    doc = parse("a: 1\nb:\n  - x\n  - {c: 2}\nd: |\n  text\n", "f.yaml").node
    assert isinstance(doc, YMap) and doc.line == 1
    assert [(k, e.key_line) for k, e in doc.entries.items()] == [("a", 1), ("b", 2), ("d", 5)]
    b = doc.get("b")
    assert isinstance(b, YSeq) and b.line == 3 and [n.line for n in b.items] == [3, 4]
    assert doc.get("d").value == "text\n"
    assert plain(doc) == {"a": 1, "b": ["x", {"c": 2}], "d": "text\n"}
    assert len(list(walk(doc))) == 7


def test_scalars_keep_the_text_as_written():
    doc = parse("a: 12:00\nb: 09:30\nc: yes\nd: '5'\ne: ~\nf: 0x1F\n", "f.yaml").node
    a, b, c, d, e, f = (doc.get(k) for k in "abcdef")
    assert (a.value, a.text) == (720, "12:00")  # YAML 1.1 sexagesimal
    assert (b.value, c.value, d.value, e.value, f.value) == ("09:30", True, "5", None, 31)
    assert a.plain and not d.plain


def test_anchors_and_aliases_within_bounds_are_fine():
    doc = parse("vragen: &v [Een?, Twee?]\nook: *v\n", "f.yaml").node
    assert plain(doc) == {"vragen": ["Een?", "Twee?"], "ook": ["Een?", "Twee?"]}


def test_dates_stay_text():
    assert plain(parse("d: 2026-01-01\n", "f.yaml").node) == {"d": "2026-01-01"}


# --- what is refused --------------------------------------------------------------------------------


BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))


def test_an_alias_bomb_is_refused():
    assert refused(BILLION_LAUGHS).startswith("f.yaml:6: uses aliases (*name) that repeat too much")
    result = load_method_text(BILLION_LAUGHS, "f.yaml")
    assert result.method is None and "aliases" in result.errors[0].message


def test_a_quadratic_blowup_of_aliases_is_refused():
    text = "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 1000) + "]\n"
    assert "repeat too much" in refused(text)


def test_an_alias_to_itself_is_refused():
    assert refused("a: &a [1, *a]\n") == "f.yaml:1: *a refers to the list or mapping it is inside of"
    assert refused("a: *nowhere\n") == ("f.yaml:1: *nowhere refers to an anchor &nowhere that is not "
                                        "defined above it")


@pytest.mark.parametrize("size", [MAX_BYTES + 1, 10 * 1024 * 1024])
def test_a_huge_file_is_refused(size):
    assert refused(b"a" * size) == (f"f.yaml:1: is too big ({size / 1048576:.1f} MB); a file here may be "
                                    "at most 256 KB" if size >= 1048576 else
                                    "f.yaml:1: is too big (256 KB); a file here may be at most 256 KB")
    assert "is too big" in refused("# " + "x" * size)


@pytest.mark.parametrize("text", [
    "[" * 100_000,
    "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    "".join("  " * i + f"k{i}:\n" for i in range(200)),
    "".join("  " * i + "-\n" for i in range(200)),
    "{a: " * 5000 + "1" + "}" * 5000,
])
def test_deep_nesting_is_refused(text):
    assert "nested" in refused(text) or "deep" in refused(text)


@pytest.mark.parametrize("text,shown", [
    ("a: !!python/object:os.system x\n", "!!python/object:os.system"),
    ("a: !!python/object/apply:subprocess.check_output [[ls]]\n", "!!python/object/apply:subprocess.check_output"),
    ("a: !!python/name:os.system ''\n", "!!python/name:os.system"),
    ("a: !!binary aGVsbG8=\n", "!!binary"),
    ("a: !!set {x}\n", "!!set"),
    ("a: !!omap [x: 1]\n", "!!omap"),
    ("a: !vault secret\n", "!vault"),
    ("a: !<tag:example.com,2000:x> 1\n", "tag:example.com,2000:x"),
])
def test_tags_that_build_objects_or_are_unknown_are_refused(text, shown):
    assert refused(text) == (f"f.yaml:1: the tag {shown} is not allowed: files here are plain data (remove "
                             "the tag; put the value in quotes if it must stay as written)")


def test_standard_scalar_tags_are_allowed():
    assert plain(parse("a: !!str 5\nb: !!int '7'\nc: !!float 1\n", "f.yaml").node) == {
        "a": "5", "b": 7, "c": 1.0}
    assert refused("a: !!int zeven\n") == "f.yaml:1: 'zeven' cannot be read as a whole number"


def test_binary_garbage_is_refused():
    assert refused(b"id: m\n\x00\x01\x02") == ("f.yaml:2: contains a NUL byte: this looks like a binary file, "
                                              "not YAML text")
    assert refused("a: b\x00c") == "f.yaml:1: contains a NUL byte: this looks like a binary file, not YAML text"
    assert refused(b"\x89PNG\r\n\x1a\n") == ("f.yaml:1: is not UTF-8 text (byte 0x89 on this line cannot be "
                                             "read); save the file with UTF-8 encoding")
    assert refused("id: m\n".encode("utf-16")) == "f.yaml:1: is saved as UTF-16 text; save the file with UTF-8 encoding"
    assert refused("a: \x07\n") == "f.yaml:1: contains a control character that is not allowed in text"
    assert refused("a: \ud800\n") == "f.yaml:1: contains characters that are not valid text"


def test_latin1_is_refused_on_its_line():
    assert refused("a: 1\nb: caf\xe9\n".encode("latin-1")) == (
        "f.yaml:2: is not UTF-8 text (byte 0xe9 on this line cannot be read); save the file with UTF-8 encoding")


def test_other_refusals():
    assert refused("a: 1\na: 2\n") == 'f.yaml:2: "a" is given twice (first on line 1); keep one'
    assert refused("a: 1\n---\nb: 2\n") == ("f.yaml:2: holds more than one YAML document (a second '---'); put "
                                            "one method in each file")
    assert refused("base: &b {x: 1}\nc:\n  <<: *b\n") == ("f.yaml:3: '<<' (merging mappings) is not supported "
                                                          "here; write the keys out in full")
    assert refused("? [a, b]\n: c\n") == "f.yaml:1: a key must be a plain word, not a list or mapping"
    assert refused('"": x\n') == "f.yaml:1: there is a key with no name (a line that starts with ':')"
    assert refused("a: " + "9" * 5000 + "\n").startswith("f.yaml:1: '99999")
    assert refused('a: "open\n') == ("f.yaml:2: the file ends in the middle of something (an unclosed quote "
                                     "or bracket?)")


# --- never anything but a result or problems (property tests) -------------------------------------------


def _answers_cleanly(result: LoadResult) -> None:
    assert isinstance(result, LoadResult)
    assert (result.method is None) == bool(result.errors)
    for p in result.errors + result.warnings:
        assert isinstance(p, Problem) and p.line >= 1 and p.message
        assert str(p).startswith(f"{p.file}:{p.line}: ")


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=400))
def test_any_text_gets_a_result_or_problems(text):
    _answers_cleanly(load_method_text(text, "m.yaml"))


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_get_a_result_or_problems(data):
    _answers_cleanly(load_method_text(data, "m.yaml"))


# YAML-looking text: the characters YAML gives meaning to, in any order.
yamlish = st.lists(st.sampled_from(
    ["\n", "  ", "- ", ": ", "id", "title", "phases", "duration", "5m", "5-10m", "&a ", "*a", "!!str ",
     "[", "]", "{", "}", ",", "'", '"', "#", "|", ">", "? ", "---", "~", "12:00", "yes", "0x1", "\t", "%YAML 1.1",
     "questions", "text", "x"]), max_size=60).map("".join)


@FUZZ
@given(yamlish)
def test_any_yamlish_text_gets_a_result_or_problems(text):
    _answers_cleanly(load_method_text(text, "m.yaml"))


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(["5m", "1h30m", "5-10m", "0", "09:30", "nl", "en",
                                                           "m", "a", "true"]))
keys = st.one_of(st.sampled_from(METHOD_KEYS + PHASE_KEYS + ("text", "hint", "options", "count", "say")),
                 st.text(min_size=1, max_size=8).filter(lambda k: k.strip()))
structures = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(keys, inner, max_size=6)),
                          max_leaves=30)


@FUZZ
@given(structures)
def test_any_structure_gets_a_result_or_problems(value):
    _answers_cleanly(load_method_text(yaml.safe_dump(value, allow_unicode=True), "m.yaml"))


phase = st.fixed_dictionaries({"id": st.sampled_from(["a", "b", "c"]), "title": scalars},
                              optional={k: scalars for k in PHASE_KEYS if k not in ("id", "title")})
method = st.fixed_dictionaries(
    {"id": st.just("m"), "title": scalars, "language": st.sampled_from(["nl", "en", "de"]),
     "phases": st.lists(phase, max_size=4)},
    optional={k: scalars for k in METHOD_KEYS if k not in ("id", "title", "language", "phases")})


@FUZZ
@given(method)
def test_any_method_shaped_structure_gets_a_result_or_problems(value):
    _answers_cleanly(load_method_text(yaml.safe_dump(value, allow_unicode=True), "m.yaml"))


@FUZZ
@given(structures)
def test_what_is_read_equals_safe_load(value):
    text = yaml.safe_dump(value, allow_unicode=True)
    parsed = parse(text, "f.yaml")
    assert parsed.problems == []
    expected = yaml.safe_load(text)
    assert _same(plain(parsed.node), expected)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)
