"""The method files shipped in ``methods/``: each loads cleanly, reads well
aloud, and rehearses to the timings its source gives.

The expected timings below are written out by hand from the seed documents
(not computed from the files), so a slip in a file shows up here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from intervisor.files.method import load_method
from intervisor.core.rehearsal import rehearse

METHODS = Path(__file__).resolve().parent.parent / "methods"
FILES = sorted(METHODS.glob("*.yaml"))

MIN = 60

# Phase start times (s since the session started) and the session end, for a
# punctual chair who closes each phase at its time-up (a range's upper end).
TIMINGS = {
    # CBO: inbrengen 5-10, verhelderen 5-10, denkpauze 5, adviesronde 20, evaluatie 5;
    # step 4 split into the round itself (15) and the case-bringer's choice (5).
    "vijf-stappen": ([0, 600, 1200, 1500, 2400, 2700], 3000),
    "five-steps": ([0, 600, 1200, 1500, 2400, 2700], 3000),
    # GGZ handout: inleiding 5, presentatie 5, discussie 30, afronding 10.
    "beeldbellen-eigen-casus": ([0, 300, 600, 2400], 3000),
    "beeldbellen-verhalen": ([0, 300, 600, 2400], 3000),
    "video-call-stories": ([0, 300, 600, 2400], 3000),
    "own-cases": ([0, 300, 600, 2400], 3000),
    # Toolkit (no times in the seed; ours): 10, 10, 15, 5 + 15, 20, 15.
    "intervisie-met-clienten": ([0, 600, 1200, 2100, 2400, 3300, 4500], 5400),
    # Incident method: 5, 10, 5, 15, 5, 15, 5.
    "incidentmethode": ([0, 300, 900, 1200, 2100, 2400, 3300], 3600),
    "incident-method": ([0, 300, 900, 1200, 2100, 2400, 3300], 3600),
    # Balint: 10, 10, 25, 10, 5.
    "balintmethode": ([0, 600, 1200, 2700, 3300], 3600),
    # Gossip method: 10, 10, 20, 10, 10.
    "roddelmethode": ([0, 600, 1200, 2400, 3000], 3600),
}

# The training programme, per day: block ids and their clock times.
PROGRAMME = {
    "dag-1": [("sessie-1", "09:30"), ("lunch", "12:00"), ("sessie-2", "13:00"),
              ("pauze-dag-1", "15:00"), ("sessie-3", "15:30")],
    "dag-2": [("sessie-4", "09:30"), ("pauze-dag-2", "11:30"), ("sessie-5", "11:45")],
    # The seed allows day 2 in the afternoon but gives no times: ours.
    "dag-2-middag": [("sessie-4-middag", "13:00"), ("pauze-dag-2-middag", "15:00"),
                     ("sessie-5-middag", "15:15")],
}
PROGRAMME_END = {"dag-1": "17:30", "dag-2": "13:45", "dag-2-middag": "17:15"}


def _clock(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 3600 + int(m) * 60


def _raw(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


RAW = {p.stem: _raw(p) for p in FILES}


def _spoken(doc: dict) -> list[str]:
    """Every text of a method file that the device speaks (or shows)."""
    texts = [doc.get("title"), doc.get("intro"), doc.get("closing"), doc.get("description")]
    texts += doc.get("rules") or []

    def questions(items):
        for q in items or []:
            if isinstance(q, str):
                yield q
            else:
                yield q["text"]
                yield q.get("hint")

    for choice in doc.get("choices") or []:
        texts.append(choice["title"])
        for opt in choice["options"]:
            texts += [opt["title"], opt.get("say"), *questions(opt.get("questions"))]
    for phase in doc["phases"]:
        texts += [phase["title"], phase.get("say"), *questions(phase.get("questions"))]
        rounds = phase.get("rounds")
        if isinstance(rounds, dict):
            texts.append(rounds.get("say"))
    return [t for t in texts if t]


# ---------------------------------------------------------------- the files


def test_the_library_is_complete():
    langs = [doc["language"] for doc in RAW.values()]
    assert langs.count("nl") >= 8 and langs.count("en") >= 3
    assert set(TIMINGS) | {"begeleiden-van-intervisie"} == set(RAW)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_file_is_plain_data_named_for_its_id(path):
    doc = _raw(path)
    assert doc["id"] == path.stem
    assert re.fullmatch(r"[a-z0-9-]+", doc["id"])
    assert doc["language"] in ("nl", "en")
    assert doc.get("source"), "every shipped method says where it comes from"
    ids = [p["id"] for p in doc["phases"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_texts_read_well_aloud(path):
    """espeak-ng reads these: no brackets, links, abbreviations or digits,
    and sentences short enough to follow by ear."""
    for text in _spoken(_raw(path)):
        assert not re.search(r"[()\[\]/]|https?:|www\.|\.nl\b", text), text
        assert not re.search(r"\b(a\.d\.h\.v|o\.a|e\.d|bijv|etc|m\.b\.t|i\.p\.v|e\.g|i\.e)\b",
                             text, re.I), text
        assert not re.search(r"\d", text), text
        for sentence in re.split(r"[.?!]\s", text):
            assert len(sentence.split()) <= 32, sentence


@pytest.mark.parametrize("mid", ["beeldbellen-eigen-casus", "own-cases"])
def test_ggz_own_cases_offers_both_question_sets_with_hints(mid):
    doc = RAW[mid]
    (choice,) = doc["choices"]
    assert len(choice["options"]) == 2
    for opt in choice["options"]:
        assert len(opt["questions"]) == 5
        assert all(q["hint"] for q in opt["questions"])
    discussion = doc["phases"][2]
    assert discussion["from_choice"] == choice["id"]
    assert len(doc["rules"]) == 4


def test_ggz_five_questions_are_the_handouts():
    (choice,) = RAW["beeldbellen-eigen-casus"]["choices"]
    five = [q["text"] for q in choice["options"][0]["questions"]]
    assert five[1:] == ["Is dat gelukt?", "Hoe weet je dat?", "Kun je dat verklaren?",
                        "Wat neem je hieruit mee naar een volgende keer?"]
    alternative = [q["text"] for q in choice["options"][1]["questions"]]
    assert alternative[:2] == ["Wat heb je gedaan?", "Wat gebeurde er vervolgens?"]


@pytest.mark.parametrize("mid", ["beeldbellen-verhalen", "video-call-stories"])
def test_ggz_stories_are_the_six_with_their_questions(mid):
    doc = RAW[mid]
    (choice,) = doc["choices"]
    assert choice["default"] == "annie"     # a session started without a choice has a story
    assert [o["title"] for o in choice["options"]] == [
        "Annie", "Bob", "Hans", "Leon", "Anja", "Willemijn"]
    for opt in choice["options"]:
        assert opt["say"] and opt["questions"]
    assert len(choice["options"][0]["questions"]) == 2  # Annie asks two things
    discussion = next(p for p in doc["phases"] if p.get("from_choice"))
    assert discussion["from_choice"] == choice["id"] and discussion["duration"] == "30m"


@pytest.mark.parametrize("mid", ["vijf-stappen", "five-steps"])
def test_five_steps_have_a_silent_pause_and_an_advice_round(mid):
    phases = RAW[mid]["phases"]
    assert [p.get("silent", False) for p in phases] == [False, False, True, False, False, False]
    assert [bool(p.get("rounds")) for p in phases] == [False, False, False, True, False, False]
    assert [p["duration"] for p in phases] == ["5-10m", "5-10m", "5m", "15m", "5m", "5m"]
    assert phases[3]["rounds"]["leave_out"] == 1  # the case-bringer listens
    # ... and says so: the case-bringer gives no advice of their own.
    assert re.search(r"geeft zelf geen advies|gives no advice", phases[3]["say"])


def test_the_toolkit_gives_no_times_so_ours_are_said_as_a_proposal():
    assert RAW["intervisie-met-clienten"]["times"] == "proposal"
    result = rehearse(load_method(METHODS / "intervisie-met-clienten.yaml").method)
    starts = [e["text"] for e in result.events if e["kind"] == "phase_start"]
    assert len(starts) == 7 and all("Voorgestelde tijd:" in s for s in starts)
    assert "voorstel" in result.events[0]["text"]       # the introduction says so too


def test_training_blocks_keep_the_seed_clock_times():
    phases = RAW["begeleiden-van-intervisie"]["phases"]
    for day, blocks in PROGRAMME.items():
        mine = [(p["id"], p["at"]) for p in phases if p["when"] == {"dag": day}]
        assert mine == blocks
    assert sum(1 for p in phases if p.get("silent")) == 4  # the lunch and three breaks


# ------------------------------------------- the loader and the rehearsal


def _load(path: Path):
    """Load one file; fail with every message when it is refused or warns."""
    result = load_method(path)
    assert not result.problems, "\n".join(map(str, result.problems))
    return result.method


def test_check_command_passes_every_shipped_file():
    out = subprocess.run([sys.executable, "-m", "intervisor.cli", "check", *map(str, FILES)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning" not in (out.stdout + out.stderr).lower()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_loads_without_errors_or_warnings(path):
    method = _load(path)
    assert method.id == path.stem
    if method.duration is not None:
        assert method.duration.lo == sum(p.duration.lo for p in method.phases)
        assert method.duration.hi == sum(p.duration.hi for p in method.phases)


def _rehearse(method, choices=None, participants=None):
    return rehearse(method, choices=choices, participants=participants).events


def _option_sets(method):
    """One choice dict per option of each choice (the others at default)."""
    if not method.choices:
        return [{}]
    return [{c.id: o.id} for c in method.choices for o in c.options]


@pytest.mark.parametrize("mid", sorted(TIMINGS))
def test_rehearses_to_the_seed_timings(mid):
    method = _load(METHODS / f"{mid}.yaml")
    starts, end = TIMINGS[mid]
    for choices in _option_sets(method):
        events = _rehearse(method, choices)
        assert [e["t"] for e in events if e["kind"] == "phase_start"] == starts
        assert [e["phase"] for e in events if e["kind"] == "phase_start"] == \
            [p.id for p in method.plan(choices)]
        assert [e["t"] for e in events if e["kind"] == "session_end"] == [end]


@pytest.mark.parametrize("day", sorted(PROGRAMME))
def test_training_day_rehearses_on_its_clock_times(day):
    method = _load(METHODS / "begeleiden-van-intervisie.yaml")
    blocks = PROGRAMME[day]
    first = _clock(blocks[0][1])
    events = _rehearse(method, {"dag": day})
    starts = [(e["phase"], e["t"]) for e in events if e["kind"] == "phase_start"]
    assert starts == [(bid, float(_clock(at) - first)) for bid, at in blocks]
    ends = [e["t"] for e in events if e["kind"] == "session_end"]
    assert ends == [float(_clock(PROGRAMME_END[day]) - first)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_question_is_asked_once_in_order(path):
    method = _load(path)
    for choices in _option_sets(method):
        full = {c.id: choices.get(c.id, c.default or c.options[0].id) for c in method.choices}
        events = _rehearse(method, full)
        for phase in method.plan(full):
            expected = [q.text for q in phase.questions]
            if phase.from_choice:
                expected += [q.text for q in
                             method.choice(phase.from_choice).option(full[phase.from_choice]).questions]
            asked = [e["text"] for e in events
                     if e["kind"] == "question" and e["phase"] == phase.id]
            assert asked == ([] if phase.silent else expected), phase.id


@pytest.mark.parametrize("mid", ["vijf-stappen", "five-steps", "incidentmethode",
                                 "incident-method", "intervisie-met-clienten"])
@pytest.mark.parametrize("participants", [4, 8])
def test_rounds_give_every_participant_a_turn(mid, participants):
    """Every participant but those the round leaves out (the case-bringer)."""
    method = _load(METHODS / f"{mid}.yaml")
    events = _rehearse(method, participants=participants)
    for phase in method.phases:
        if phase.rounds is None:
            continue
        turns = [e for e in events if e["kind"] == "turn" and e["phase"] == phase.id]
        assert len(turns) == participants - phase.rounds.leave_out
