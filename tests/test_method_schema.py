"""The JSON Schema of method files against the loader it is generated from:
the shipped file is the generated one, every shipped method passes it, and
what the loader refuses the schema refuses wherever a schema can say it
(and what the loader takes, the schema takes)."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from intervisor.files import method_fields as F
from intervisor.files.method import load_method, load_method_text
from intervisor.files.method_schema import SHIPPED, method_schema, schema_text

ROOT = Path(__file__).resolve().parent.parent
METHODS = sorted((ROOT / "methods").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(method_schema())

BASE = {
    "id": "kort", "title": "Kort", "language": "nl",
    "choices": [{"id": "vragen", "title": "Welke vragen?",
                 "options": [{"id": "vijf", "title": "Vijf", "questions": ["Wat?"]},
                             {"id": "drie", "title": "Drie"}]}],
    "phases": [{"id": "a", "title": "A", "duration": "5m", "questions": ["Wat?", {"text": "Hoe?", "hint": "h"}]},
               {"id": "b", "title": "B", "duration": "10m", "rounds": {"count": 3}}],
}

# Where each part of BASE sits, to put a field into it.
PLACES = {
    "method": lambda m: m,
    "phase": lambda m: m["phases"][0],
    "choice": lambda m: m["choices"][0],
    "option": lambda m: m["choices"][0]["options"][0],
    "question": lambda m: m["phases"][0]["questions"][1],
    "rounds": lambda m: m["phases"][1]["rounds"],
}

# A value of the wrong kind for each kind of field.
WRONG = {"text": [1, 2], "name": {"a": 1}, "id": "Niet Goed!", "texts": {"a": 1}, "language": "de",
         "duration": "soon", "length0": "soon", "boolean": "maybe", "clock": "25:61", "questions": "Wat?",
         "rounds": "often", "when": "dag-2", "list": "one", "times": "guess"}


def both(doc: dict) -> tuple[bool, bool]:
    """(the loader takes it, the schema takes it), from one YAML text."""
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    return load_method_text(text, "<snippet>").ok, VALIDATOR.is_valid(yaml.safe_load(text))


def changed(part: str, **fields) -> dict:
    doc = copy.deepcopy(BASE)
    target = PLACES[part](doc)
    for key, value in fields.items():
        if value is _GONE:
            del target[key]
        else:
            target[key] = value
    return doc


_GONE = object()


def test_the_shipped_schema_is_the_generated_one():
    assert SHIPPED.read_text(encoding="utf-8") == schema_text(), (
        "schema/method.schema.json is stale: .venv/bin/python -m intervisor.files.method_schema > "
        "schema/method.schema.json")
    jsonschema.Draft202012Validator.check_schema(method_schema())


@pytest.mark.parametrize("path", METHODS, ids=lambda p: p.name)
def test_every_shipped_method_passes_the_schema(path):
    assert load_method(path).ok
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert errors == []


def test_the_base_snippet_passes_both():
    assert both(BASE) == (True, True)


@pytest.mark.parametrize("part,key", [(p, k) for p, fields in F.PARTS.items() for k in fields])
def test_a_value_of_the_wrong_kind_is_refused_by_both(part, key):
    field = F.PARTS[part][key]
    value = WRONG[field.kind] if field.kind != "integer" else field.hi + 1
    assert both(changed(part, **{key: value})) == (False, False)


@pytest.mark.parametrize("part,key", [(p, k) for p, fields in F.PARTS.items() for k, f in fields.items()
                                      if f.required])
def test_a_missing_required_field_is_refused_by_both(part, key):
    assert both(changed(part, **{key: _GONE})) == (False, False)


@pytest.mark.parametrize("part", list(PLACES))
def test_an_unknown_field_is_refused_by_both(part):
    assert both(changed(part, colour="blue")) == (False, False)


BAD = {
    "participants below the range": changed("method", participants=1),
    "participants above the range": changed("method", participants=13),
    "participants as text": changed("method", participants="zes"),
    "leave_out above the range": changed("rounds", count=_GONE, leave_out=3),
    "rounds count of one": changed("rounds", count=1),
    "rounds empty": changed("phase", rounds=None),
    "a duration without a unit": changed("phase", duration="5"),
    "a duration as a number": changed("phase", duration=5),
    "a duration of zero": changed("phase", duration="0m"),
    "a duration in words": changed("phase", duration="5 minutes"),
    "a duration with the unit twice": changed("phase", duration="5m-10m"),
    "a duration of eight digits": changed("phase", duration="12345678m"),
    "a warning as a range": changed("method", warn_before="1-2m"),
    "a warning without a unit": changed("method", warn_before=5),
    "no duration and no start time": changed("phase", duration=_GONE),
    "no phases": changed("method", phases=[]),
    "phases empty": changed("method", phases=None),
    "one option": changed("choice", options=[{"id": "een", "title": "Een"}]),
    "a method id with capitals": changed("method", id="Kort"),
    "an option id with a space": changed("option", id="vijf vragen"),
    "an empty title": changed("method", title=""),
    "a blank title": changed("phase", title="   "),
    "a title with a NUL": changed("method", title="Ko\0rt"),
    "a say with a NUL": changed("phase", say="a\0b"),
    "an empty question": changed("phase", questions=[""]),
    "a question without text": changed("phase", questions=[{"hint": "h"}]),
    "an empty rule": changed("method", rules=["Eén", ""]),
    "a language left empty": changed("method", language=None),
    "a start time at 24:00": changed("phase", at="24:00"),
    "a start time in words": changed("phase", at="noon"),
    "when names no option": changed("phase", when={"vragen": None}),
    "min_cue as text": changed("phase", min_cue="ja"),
    # The size limits (method_fields' hi on lists), one past each:
    "too many phases": changed("method", phases=[{"id": f"p{i}", "title": "P", "duration": "1m"}
                                                 for i in range(F.METHOD["phases"].hi + 1)]),
    "too many questions in a phase": changed("phase", questions=["Wat?"] * (F.PHASE["questions"].hi + 1)),
    "too many questions in an option": changed("option", questions=["Wat?"] * (F.OPTION["questions"].hi + 1)),
    "too many options": changed("choice", options=[{"id": f"o{i}", "title": "O"}
                                                   for i in range(F.CHOICE["options"].hi + 1)]),
    "too many choices": changed("method", choices=[
        {"id": f"c{i}", "title": "C", "options": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]}
        for i in range(F.METHOD["choices"].hi + 1)]),
}


@pytest.mark.parametrize("doc", list(BAD.values()), ids=list(BAD))
def test_a_bad_snippet_is_refused_by_both(doc):
    assert both(doc) == (False, False)


GOOD = {
    "rounds: true": changed("phase", rounds=True, questions=_GONE),
    "no warning (0)": changed("method", warn_before=0),
    "no warning (0m)": changed("phase", warn_before="0m", overtime_every="0"),
    "a range": changed("phase", duration="5-10m"),
    "hours and minutes": changed("phase", duration="1h30m"),
    "a number as the title": changed("method", title=2024),
    "one rule as text": changed("method", rules="Wat hier gezegd wordt, blijft hier."),
    "an empty optional text": changed("method", description=None, intro=""),
    "a programme": changed("method", phases=[{"id": "a", "title": "A", "at": "9:30"},
                                             {"id": "b", "title": "B", "at": "12:00", "duration": "1h"}]),
    "a phase for one option": changed("phase", when={"vragen": "drie"}, from_choice="vragen"),
    "an integer id": changed("option", id=2024),
}


@pytest.mark.parametrize("doc", list(GOOD.values()), ids=list(GOOD))
def test_what_the_loader_takes_the_schema_takes(doc):
    assert both(doc) == (True, True)


def test_loader_only_checks_pass_the_schema_and_are_refused_by_the_loader():
    """What only the loader can check (docs/method-format.md lists it):
    the schema lets these through, the loader does not."""
    only_loader = [
        changed("phase", duration="10-5m"),                  # range backwards
        changed("choice", default="zes"),                     # default not an option
        changed("phase", from_choice="dag"),                  # an undeclared choice
        changed("method", phases=[BASE["phases"][0]] * 2),   # a phase id twice
        changed("phase", rounds={"count": 3, "leave_out": 1}, questions=_GONE),
    ]
    for doc in only_loader:
        assert both(doc) == (False, True)


def test_a_method_may_name_the_schema_in_a_comment(tmp_path):
    text = (ROOT / "methods" / "vijf-stappen.yaml").read_text(encoding="utf-8")
    path = tmp_path / "vijf-stappen.yaml"
    path.write_text("# yaml-language-server: $schema=../schema/method.schema.json\n" + text, encoding="utf-8")
    assert load_method(path).ok


def _intervisor(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "intervisor.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_new_writes_a_skeleton_that_passes_check_and_the_schema(tmp_path, lang):
    done = _intervisor("new", "teamoverleg.yaml", "--lang", lang, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "teamoverleg.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# yaml-language-server: $schema={SHIPPED}\n")
    assert text.count("#") > 10  # commented, field by field
    assert _intervisor("check", str(path), cwd=tmp_path).returncode == 0
    assert VALIDATOR.is_valid(yaml.safe_load(text))
    assert load_method(path).method.language == lang


def test_new_from_a_method_copies_it_under_the_new_id(tmp_path):
    done = _intervisor("new", "mijn-balint.yaml", "--from", "balintmethode", "--dir", str(ROOT / "methods"),
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    new, old = load_method(tmp_path / "mijn-balint.yaml").method, load_method(ROOT / "methods" /
                                                                               "balintmethode.yaml").method
    assert new.id == "mijn-balint"
    unlined = lambda m: [dataclasses.replace(p, line=0) for p in m.phases]  # noqa: E731
    assert unlined(new) == unlined(old) and new.title == old.title
    assert "# The Balint method" in (tmp_path / "mijn-balint.yaml").read_text(encoding="utf-8")


def test_new_inside_the_checkout_names_the_schema_relatively(tmp_path):
    from intervisor.cli.starter import schema_comment

    assert schema_comment(ROOT / "methods" / "x.yaml", SHIPPED).endswith("=../schema/method.schema.json")


@pytest.mark.parametrize("args,message", [
    (("new", "Team Overleg.yaml"), "the file name must be the method's id"),
    (("new", "kort.yaml"), "the file exists already"),
    (("new", "x.yaml", "--from", "geen-methode"), 'there is no method "geen-methode"'),
])
def test_new_refuses_and_writes_nothing(tmp_path, args, message):
    (tmp_path / "kort.yaml").write_text("keep me\n")
    done = _intervisor(*args, "--dir", str(ROOT / "methods"), cwd=tmp_path) if "--from" in args else \
        _intervisor(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kort.yaml"]
    assert (tmp_path / "kort.yaml").read_text() == "keep me\n"


def test_the_schema_command_prints_the_shipped_schema(tmp_path):
    assert _intervisor("schema", cwd=tmp_path).stdout == SHIPPED.read_text(encoding="utf-8")
