"""Method files: every rule of the core contract and of our extensions, each
refusal with its line; the library folder; the commands that read them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from intervisor.files.method import (
    Library, MethodError, Problem, default_methods_dir, describe_length, format_seconds, load_method,
    load_method_text, parse_duration,
)
from intervisor.core.model import Cues, Duration, Question, Rounds

REPO = Path(__file__).resolve().parent.parent

HEAD = """\
id: m
title: Een methode
language: nl
"""
ONE_PHASE = """\
phases:
  - id: a
    title: A
    duration: 5m
"""


def load(text: str, name: str = "m.yaml"):
    return load_method_text(textwrap.dedent(text) if isinstance(text, str) else text, name)


def errors(text: str, name: str = "m.yaml") -> list[str]:
    result = load(text, name)
    assert result.method is None, "expected the file to be refused"
    return [str(p) for p in result.errors]


def warnings(text: str, name: str = "m.yaml") -> list[str]:
    result = load(text, name)
    assert result.method is not None, [str(p) for p in result.errors]
    return [p.marked() for p in result.warnings]


def one_error(text: str, name: str = "m.yaml") -> str:
    found = errors(text, name)
    assert len(found) == 1, found
    return found[0]


# --- the core contract ---------------------------------------------------------------------------


CORE_EXAMPLE = """\
id: vijf-stappen                 # required. [a-z0-9-]+, equal to the file's stem
title: Intervisie in vijf stappen # required. Spoken when the method is chosen
language: nl                     # required. nl or en
description: Een casus in vijf stappen, van inbrengen tot evaluatie.
source: CBO-module Intervisie
duration: 10m
warn_before: 1m
rules:
  - Alles wat besproken wordt is vertrouwelijk.
phases:
  - id: inbrengen
    title: Inbrengen van de casus
    duration: 5-10m
    say: >
      De casusinbrenger vertelt wat het probleem is en sluit af met een vraag.
    questions:
      - Wat wilde je bereiken?
      - text: Is dat gelukt?
        hint: Wanneer noem je het geslaagd?
    silent: false
    warn_before: 2m
"""


def test_the_core_example_loads_into_the_model():
    result = load(CORE_EXAMPLE, "vijf-stappen.yaml")
    assert result.errors == [] and result.warnings == []
    m = result.method
    assert (m.id, m.title, m.language) == ("vijf-stappen", "Intervisie in vijf stappen", "nl")
    assert m.description.startswith("Een casus") and m.source == "CBO-module Intervisie"
    assert m.duration == Duration(600, 600) and m.rules == ("Alles wat besproken wordt is vertrouwelijk.",)
    (p,) = m.phases
    assert (p.id, p.title, p.duration, p.line) == ("inbrengen", "Inbrengen van de casus", Duration(300, 600), 11)
    assert p.say == "De casusinbrenger vertelt wat het probleem is en sluit af met een vraag."
    assert p.questions == (Question("Wat wilde je bereiken?"),
                           Question("Is dat gelukt?", "Wanneer noem je het geslaagd?"))
    assert p.silent is False and p.cues.warn_before == 120
    assert m.path == "vijf-stappen.yaml"


def test_every_shipped_method_is_valid():
    for path in sorted((REPO / "methods").glob("*.yaml")):
        result = load_method(path)
        assert result.ok, [str(p) for p in result.errors]


@pytest.mark.parametrize("text,seconds", [
    ("90s", (90, 90)), ("5m", (300, 300)), ("1h", (3600, 3600)), ("1h30m", (5400, 5400)),
    ("5-10m", (300, 600)), ("30-90s", (30, 90)), ("1-2h", (3600, 7200)), ("1m30s", (90, 90)),
])
def test_durations_in_every_written_form(text, seconds):
    assert parse_duration(text) == Duration(*seconds)


@pytest.mark.parametrize("text", ["5", "5 min", "5min", "1.5h", "m", "", "10-5m", "5m-10m", "5-5m",
                                  "0m", "-5m", "1h 30m", "5M", "1d", "30m1h"])
def test_anything_else_is_not_a_duration(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("written,said", [
    ("5", 'the duration of phase "a" ("5") has no unit; write 5m for minutes or 5s for seconds'),
    ("5 min", 'the duration of phase "a" ("5 min") is not a length of time; write it like 90s, 5m, 1h or '
              "1h30m, or as a range like 5-10m"),
    ("10-5m", 'the lower end of the duration of phase "a" is longer than its upper end (10-5m)'),
    ("5m-10m", 'the duration of phase "a" ("5m-10m"): write a range with the unit once, at the end, like 5-10m'),
    ("0m", 'the duration of phase "a" cannot be 0'),
    ("1.5", 'the duration of phase "a" ("1.5") should be whole minutes or seconds, like 1m30s'),
    ("[5m]", 'the duration of phase "a" should be a length of time, not a list; write it like 90s, 5m, 1h '
             "or 1h30m, or as a range like 5-10m"),
])
def test_a_bad_duration_is_explained_on_its_line(written, said):
    assert one_error(HEAD + f"phases:\n  - id: a\n    title: A\n    duration: {written}\n") == f"m.yaml:7: {said}"


NEGATIVE_AT = {"duration": ("the method's duration", 4), "phase": ('the duration of phase "a"', 8),
               "warn_before": ('warn_before of phase "a"', 9), "overtime_every": ('overtime_every of phase "a"', 9)}


@pytest.mark.parametrize("field,written", [("duration", "-5m"), ("phase", "-5m"), ("warn_before", "-5m"),
                                           ("overtime_every", "-5m"), ("phase", "-5-10m"), ("duration", "-90s")])
def test_a_negative_length_anywhere_in_a_method_is_refused_on_its_line(field, written):
    # A negative time would run a phase backwards or chime before it
    # starts; the whole file is refused, with the line it was written on.
    text = HEAD + f"duration: {written if field == 'duration' else '10m'}\n"
    text += f"phases:\n  - id: a\n    title: A\n    duration: {written if field == 'phase' else '5m'}\n"
    if field in ("warn_before", "overtime_every"):
        text += f"    {field}: {written}\n"
    where, line = NEGATIVE_AT[field]
    found = one_error(text)
    assert found.startswith(f'm.yaml:{line}: {where} ("{written}") is not a length of time'), found


def test_required_fields_are_named_when_missing():
    found = errors("description: nothing else\n")
    assert found == [
        "m.yaml:1: the method has no id",
        "m.yaml:1: the method has no title; it is spoken when the method is chosen",
        'm.yaml:1: the method has no language; add "language: nl" or "language: en"',
        "m.yaml:1: the method has no phases; it needs at least one",
    ]


def test_a_phase_missing_its_fields():
    found = errors(HEAD + "phases:\n  - say: hallo\n")
    assert found == [
        "m.yaml:5: phase 1 has no id",
        "m.yaml:5: phase 1 has no title; it is announced when the phase starts",
        "m.yaml:5: phase 1 has no duration; write it like 90s, 5m, 1h or 1h30m, or as a range like 5-10m",
    ]


def test_an_empty_phase_list_is_refused():
    assert one_error(HEAD + "phases: []\n") == "m.yaml:4: the method has no phases; it needs at least one"
    assert one_error(HEAD + "phases:\n") == "m.yaml:4: the method has no phases; it needs at least one"


@pytest.mark.parametrize("mid,said", [
    ("Vijf-Stappen", 'the id "Vijf-Stappen" may only use small letters a-z, digits and hyphens (-), like '
                     "vijf-stappen"),
    ("vijf stappen", 'the id "vijf stappen" may only use small letters a-z, digits and hyphens (-), like '
                     "vijf-stappen"),
    ("../../etc/passwd", 'the id "../../etc/passwd" may only use small letters a-z, digits and hyphens (-), '
                         "like vijf-stappen"),
])
def test_the_id_is_lowercase_letters_digits_and_hyphens(mid, said):
    assert one_error(f"id: {mid}\ntitle: T\nlanguage: nl\n" + ONE_PHASE) == f"m.yaml:1: {said}"


def test_the_id_must_equal_the_file_stem():
    assert one_error(HEAD + ONE_PHASE, "andere.yaml") == (
        'andere.yaml:1: the id "m" must be the same as the file name without .yaml ("andere"); rename the '
        "file to m.yaml or change the id")
    assert load(HEAD + ONE_PHASE, "/some/where/m.yml").ok
    assert load(HEAD + ONE_PHASE, "<stdin>").ok


def test_language_is_nl_or_en():
    text = HEAD.replace("language: nl", "language: de") + ONE_PHASE
    assert one_error(text) == 'm.yaml:3: language should be "nl" or "en", not "de"'


def test_times_are_fixed_or_a_proposal():
    assert load(HEAD + ONE_PHASE).method.times == "fixed"
    assert load(HEAD.replace("language: nl", "language: nl\ntimes: proposal") + ONE_PHASE).method.times == "proposal"
    text = HEAD.replace("language: nl", "language: nl\ntimes: guess") + ONE_PHASE
    assert one_error(text) == 'm.yaml:4: times should be "fixed" or "proposal", not "guess"'


def test_phase_ids_are_unique():
    text = HEAD + ONE_PHASE + "  - id: a\n    title: B\n    duration: 1m\n"
    assert one_error(text) == ('m.yaml:8: the phase id "a" is used twice (first on line 5); each phase '
                               "needs its own")


def test_phase_ids_are_free_text_as_in_the_core():
    m = load(HEAD + "phases:\n  - id: Stap 1\n    title: A\n    duration: 5m\n").method
    assert m.phases[0].id == "Stap 1"


def test_questions_are_strings_or_text_with_hint():
    text = HEAD + ONE_PHASE + "    questions:\n      - Eerste?\n      - {text: Tweede?, hint: Denk na}\n"
    assert load(text).method.phases[0].questions == (Question("Eerste?"), Question("Tweede?", "Denk na"))


def test_bad_questions_are_named_by_number_and_line():
    text = HEAD + ONE_PHASE + ("    questions:\n      - Eerste?\n      - hint: zonder tekst\n"
                               "      - [a, b]\n      -\n      - {text: X, tip: Y}\n")
    assert errors(text) == [
        'm.yaml:10: question 2 of phase "a" has no text',
        'm.yaml:11: question 3 of phase "a" should be text, or text: with an optional hint:, not a list',
        'm.yaml:12: question 4 of phase "a" is empty',
        'm.yaml:13: "tip" is not a field of a question; did you mean "hint"?',
    ]
    assert one_error(HEAD + ONE_PHASE + "    questions: Wat nu?\n") == (
        'm.yaml:8: the questions of phase "a" should be a list, one question per line starting with "- "')


def test_silent_must_be_true_or_false():
    assert one_error(HEAD + ONE_PHASE + "    silent: soms\n") == (
        'm.yaml:8: silent of phase "a" should be true or false, not "soms"')
    assert load(HEAD + ONE_PHASE + "    silent: true\n").method.phases[0].silent is True


def test_warn_before_zero_means_none_and_a_phase_overrides_the_method():
    text = HEAD + "warn_before: 0\n" + ONE_PHASE + "  - {id: b, title: B, duration: 5m, warn_before: 30s}\n"
    a, b = load(text).method.phases
    assert a.cues.warn_before == 0 and b.cues.warn_before == 30


def test_warn_before_cannot_be_a_range():
    assert one_error(HEAD + "warn_before: 1-2m\n" + ONE_PHASE) == (
        "m.yaml:4: warn_before of the method cannot be a range; write one length, like 2m")


def test_a_warning_as_long_as_the_phase_is_a_warning():
    assert warnings(HEAD + ONE_PHASE + "    warn_before: 5m\n") == [
        'm.yaml:8: warning: the warning of phase "a" (5m) is not shorter than the phase itself (5m), so it '
        "will never sound"]


def test_a_duration_mismatch_is_a_warning_not_an_error():
    text = HEAD + "duration: 45m\n" + ONE_PHASE
    assert warnings(text) == ["m.yaml:4: warning: the method's duration is 45m, but its phases add up to 5m"]
    assert warnings(HEAD + "duration: 5m\n" + ONE_PHASE) == []


def test_a_duration_within_the_ranges_of_the_phases_matches():
    text = HEAD + "duration: 45m\nphases:\n  - {id: a, title: A, duration: 40-50m}\n"
    assert warnings(text) == []


def test_unknown_keys_are_errors_with_a_suggestion():
    text = HEAD + "titel: dubbel\n" + ONE_PHASE + "    duratoin: 5m\n    kleur: rood\n"
    assert errors(text) == [
        'm.yaml:4: "titel" is not a field of a method; did you mean "title"?',
        'm.yaml:9: "duratoin" is not a field of a phase; did you mean "duration"?',
        'm.yaml:10: "kleur" is not a field of a phase; known fields are: id, title, duration, say, questions, '
        "silent, rounds, from_choice, when, at, warn_before, min_cue, overtime_every, auto_advance",
    ]


def test_dutch_field_names_point_to_the_english_ones():
    text = "id: m\ntitel: T\ntaal: nl\nfasen: []\n"
    found = errors(text)
    assert 'm.yaml:2: "titel" is not a field of a method; did you mean "title"?' in found
    assert 'm.yaml:3: "taal" is not a field of a method; did you mean "language"?' in found
    assert 'm.yaml:4: "fasen" is not a field of a method; did you mean "phases"?' in found


def test_all_problems_of_a_file_are_reported_at_once():
    text = """\
    id: Slecht
    title: T
    language: fr
    phases:
      - id: a
        title: A
        duration: 5 minuten
      - id: a
        duration: 5m
    """
    assert errors(text) == [
        'm.yaml:1: the id "Slecht" may only use small letters a-z, digits and hyphens (-), like vijf-stappen',
        'm.yaml:3: language should be "nl" or "en", not "fr"',
        'm.yaml:7: the duration of phase "a" ("5 minuten") is not a length of time; write it like 90s, 5m, 1h '
        "or 1h30m, or as a range like 5-10m",
        'm.yaml:8: the phase id "a" is used twice (first on line 5); each phase needs its own',
        'm.yaml:8: phase "a" has no title; it is announced when the phase starts',
    ]


def test_a_file_that_is_not_a_mapping():
    assert one_error("- id: m\n") == ("m.yaml:1: is not a method file: it is a list, not a set of fields "
                                      "(id:, title:, language:, phases: ...)")
    assert one_error("") == "m.yaml:1: is empty; a method file needs at least id, title, language and phases"
    assert one_error("# nothing\n") == ("m.yaml:1: is empty; a method file needs at least id, title, language "
                                        "and phases")


def test_numbers_and_yes_no_are_read_as_the_text_written():
    m = load(HEAD.replace("Een methode", "2024") + ONE_PHASE.replace("title: A", "title: yes")).method
    assert m.title == "2024" and m.phases[0].title == "yes"


def test_yaml_syntax_errors_have_their_line():
    assert one_error(HEAD + "phases:\n  - id: a\n   title: A\n") == (
        "m.yaml:6: a list item here is indented differently from the others")
    assert one_error(HEAD + "phases:\n\t- id: a\n") == (
        "m.yaml:5: a tab character is used here; YAML needs spaces for indentation")


# --- extensions: intro, closing, participants, cues ----------------------------------------------


def test_intro_closing_and_participants():
    text = HEAD + "intro: Welkom.\nclosing: Dank.\nparticipants: 8\n" + ONE_PHASE
    m = load(text).method
    assert (m.intro, m.closing, m.participants) == ("Welkom.", "Dank.", 8)
    assert load(HEAD + ONE_PHASE).method.participants == 6


@pytest.mark.parametrize("value", ["1", "13", "zes", "6.5"])
def test_participants_between_2_and_12(value):
    assert one_error(HEAD + f"participants: {value}\n" + ONE_PHASE) == (
        f'm.yaml:4: participants should be a whole number from 2 to 12, not "{value}"')


def test_cue_defaults_and_overrides():
    text = HEAD + "min_cue: false\novertime_every: 0\nauto_advance: true\n" + ONE_PHASE + (
        "  - {id: b, title: B, duration: 5m, min_cue: true, overtime_every: 3m, auto_advance: false}\n")
    a, b = load(text).method.phases
    assert a.cues == Cues(warn_before=60, min_cue=False, overtime_every=0, auto_advance=True)
    assert b.cues == Cues(warn_before=60, min_cue=True, overtime_every=180, auto_advance=False)
    assert load(HEAD + ONE_PHASE).method.phases[0].cues == Cues()


def test_bad_cue_values():
    text = HEAD + "min_cue: ja graag\novertime_every: 2\n" + ONE_PHASE
    assert errors(text) == [
        'm.yaml:4: min_cue of the method should be true or false, not "ja graag"',
        'm.yaml:5: overtime_every of the method ("2") has no unit; write 2m for minutes or 2s for seconds',
    ]


# --- extensions: choices, from_choice, when --------------------------------------------------------


CHOICES = """\
choices:
  - id: vragen
    title: Welke vragen?
    default: vijf
    options:
      - id: vijf
        title: De vijf vragen
        say: Leer van wat je deed.
        questions: [Wat wilde je?, {text: Is het gelukt?, hint: Hoe weet je dat?}]
      - id: alt
        title: De alternatieve vragen
"""


def test_choices_and_from_choice():
    text = HEAD + CHOICES + ONE_PHASE + "    from_choice: vragen\n"
    m = load(text).method
    (c,) = m.choices
    assert (c.id, c.title, c.default) == ("vragen", "Welke vragen?", "vijf")
    assert [o.id for o in c.options] == ["vijf", "alt"]
    assert c.option("vijf").say == "Leer van wat je deed."
    assert c.option("vijf").questions[1] == Question("Is het gelukt?", "Hoe weet je dat?")
    assert m.phases[0].from_choice == "vragen"


def test_choice_problems():
    text = HEAD + """\
choices:
  - id: Vragen
    options:
      - id: een
        title: Een
  - id: b
    title: B
    default: drie
    options:
      - {id: een, title: Een}
      - {id: een, title: Twee}
      - {title: Drie}
""" + ONE_PHASE
    assert errors(text) == [
        'm.yaml:5: the id "Vragen" may only use small letters a-z, digits and hyphens (-), like vijf-stappen',
        "m.yaml:5: choice 1 has no title; it is spoken as the question",
        "m.yaml:7: choice 1 needs at least two options",
        'm.yaml:14: the option id "een" is used twice in choice "b" (first on line 13)',
        'm.yaml:15: option 3 of choice "b" has no id',
    ]


def test_a_choice_default_must_be_an_option():
    text = HEAD + CHOICES.replace("default: vijf", "default: zes") + ONE_PHASE
    assert one_error(text) == ('m.yaml:7: the default of choice "vragen" is "zes", which is not one of its '
                               "options (vijf, alt)")


def test_from_choice_and_when_must_name_declared_choices_and_options():
    text = HEAD + CHOICES + ONE_PHASE + "    from_choice: vraag\n    when: {vragen: zes, dag: een}\n"
    assert errors(text) == [
        'm.yaml:19: from_choice of phase "a" names a choice "vraag" that is not declared (the choices are '
        "vragen)",
        'm.yaml:20: when of phase "a": choice "vragen" has no option "zes" (its options are vijf, alt)',
        'm.yaml:20: when of phase "a" names a choice "dag" that is not declared (the choices are vragen)',
    ]


def test_when_selects_the_phases_of_a_plan():
    text = HEAD + CHOICES + ONE_PHASE + "  - {id: b, title: B, duration: 1m, when: {vragen: alt}}\n"
    m = load(text).method
    assert [p.id for p in m.plan({"vragen": "vijf"})] == ["a"]
    assert [p.id for p in m.plan({"vragen": "alt"})] == ["a", "b"]
    assert describe_length(m) == "5m or 6m"


# --- extensions: rounds ---------------------------------------------------------------------------


def test_rounds_true_or_with_count_and_say():
    text = HEAD + ONE_PHASE + "    rounds: true\n  - {id: b, title: B, duration: 5m, rounds: {count: 4, say: Volgende.}}\n"
    a, b = load(text).method.phases
    assert a.rounds == Rounds() and b.rounds == Rounds(4, "Volgende.")
    assert load(text).method.needs_participants


def test_rounds_problems():
    text = HEAD + ONE_PHASE + "    rounds: 6\n  - {id: b, title: B, duration: 5m, rounds: {count: 20}}\n"
    assert errors(text) == [
        'm.yaml:8: rounds of phase "a" should be true, or count: and say: fields, not "6"',
        'm.yaml:9: the number of rounds (count) of phase "b" should be a whole number from 2 to 12, not "20"',
    ]


def test_a_phase_has_questions_or_rounds_not_both():
    text = HEAD + ONE_PHASE + "    questions: [Een?]\n    rounds: true\n"
    assert one_error(text) == 'm.yaml:9: phase "a" has both questions and rounds; a phase can have one or the other'
    text = HEAD + CHOICES + ONE_PHASE + "    from_choice: vragen\n    rounds: true\n"
    assert one_error(text) == ('m.yaml:20: phase "a" has rounds and takes questions from choice "vragen"; '
                               "a phase can have one or the other")


# --- extensions: clock-time programmes -----------------------------------------------------------


PROGRAMME = HEAD + """\
phases:
  - {id: ochtend, title: Ochtend, at: "09:30"}
  - {id: lunch, title: Lunch, at: 12:00}
  - {id: middag, title: Middag, at: "13:00", duration: 2h}
"""


def test_a_programme_derives_durations_from_the_next_block():
    m = load(PROGRAMME).method
    assert m.is_programme
    assert [(p.at, p.duration.hi) for p in m.phases] == [(34200, 9000), (43200, 3600), (46800, 7200)]
    assert describe_length(m) == "5h30m"


def test_the_last_block_needs_a_duration():
    text = PROGRAMME.replace(', duration: 2h}', '}')
    assert one_error(text) == ('m.yaml:7: phase "middag" needs a duration: it is the last block, so nothing '
                               "else says when it ends")


def test_blocks_must_start_in_order_and_all_have_a_time():
    text = PROGRAMME.replace('at: 12:00', 'at: "09:00"') + "  - {id: borrel, title: Borrel, duration: 1h}\n"
    assert errors(text) == [
        'm.yaml:6: phase "lunch" starts at 09:00, which is not after the block before it ("ochtend" at 09:30)',
        'm.yaml:8: phase "borrel" has no start time (at); in a programme with start times every block '
        'needs one, like at: "09:30"',
    ]


@pytest.mark.parametrize("value", ['"9.30"', '"25:00"', "morgen", '"09:75"'])
def test_at_is_a_time_of_day(value):
    text = HEAD + f"phases:\n  - {{id: a, title: A, at: {value}, duration: 1h}}\n"
    shown = value.strip('"')
    assert one_error(text) == (f'm.yaml:5: the start time (at) of phase "a" should be a time of day like '
                               f'"09:30", not "{shown}"')


def test_a_duration_that_disagrees_with_the_next_block_is_a_warning():
    text = PROGRAMME.replace('at: "09:30"}', 'at: "09:30", duration: 2h}')
    assert warnings(text) == [
        'm.yaml:5: warning: the duration of phase "ochtend" (2h) is not used: the next block starts 2h30m '
        "after it, at 12:00"]


def test_programmes_per_day_by_choice():
    text = HEAD + """\
choices:
  - id: dag
    title: Welke dag?
    options: [{id: een, title: Dag een}, {id: twee, title: Dag twee}]
phases:
  - {id: a1, title: A, when: {dag: een}, at: "09:30"}
  - {id: a2, title: B, when: {dag: een}, at: "12:00", duration: 1h}
  - {id: b1, title: C, when: {dag: twee}, at: "10:00", duration: 2h}
"""
    m = load(text).method
    assert [p.duration.hi for p in m.phases] == [9000, 3600, 7200]
    assert [p.id for p in m.plan({"dag": "twee"})] == ["b1"]
    assert describe_length(m) == "2h or 3h30m"


# --- hostile files -------------------------------------------------------------------------------


def test_object_tags_are_refused():
    text = HEAD + ONE_PHASE + "    say: !!python/object/apply:os.system [echo pwned]\n"
    assert one_error(text) == ("m.yaml:8: the tag !!python/object/apply:os.system is not allowed: files here "
                               "are plain data (remove the tag; put the value in quotes if it must stay as "
                               "written)")


def test_latin1_bytes_are_refused_with_a_hint():
    data = (HEAD + ONE_PHASE + "    say: caf\xe9\n").encode("latin-1")
    assert one_error(data) == ("m.yaml:8: is not UTF-8 text (byte 0xe9 on this line cannot be read); save the "
                               "file with UTF-8 encoding")


def test_utf8_bytes_with_a_bom_are_fine():
    data = b"\xef\xbb\xbf" + (HEAD + ONE_PHASE + "    say: caf\xe9\n").encode()
    assert load(data).method.phases[0].say == "caf\xe9"


# --- files, the library, the default folder ---------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def method_text(mid: str, title: str = "T") -> str:
    return f"id: {mid}\ntitle: {title}\nlanguage: nl\n" + ONE_PHASE


def test_load_method_reads_a_file_and_names_it(tmp_path):
    path = write(tmp_path, "m.yaml", method_text("m"))
    assert load_method(path).method.path == str(path)
    result = load_method(tmp_path / "missing.yaml")
    assert [str(p) for p in result.errors] == [f"{tmp_path}/missing.yaml:1: there is no such file"]
    assert [str(p) for p in load_method(tmp_path).errors] == [f"{tmp_path}:1: is a folder, not a file"]


def test_a_huge_file_is_refused_without_being_read(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as f:
        f.truncate(10 * 1024 * 1024)
    assert [str(p) for p in load_method(path).errors] == [
        f"{path}:1: is too big (10.0 MB); a file here may be at most 64 KB"]


def test_a_fifo_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "m.yaml")
    assert [p.message for p in load_method(tmp_path / "m.yaml").errors] == ["is not a regular file"]
    assert len(Library(tmp_path)) == 0


def test_library_loads_a_folder_and_finds_by_id_or_path(tmp_path):
    write(tmp_path, "a.yaml", method_text("a"))
    write(tmp_path, "b.yml", method_text("b"))
    write(tmp_path, "notes.txt", "not a method")
    write(tmp_path, ".#a.yaml", "editor lock file")
    library = Library(tmp_path)
    assert sorted(library.methods) == ["a", "b"] and [m.id for m in library] == ["a", "b"]
    assert library.find("a").id == "a"
    elsewhere = write(tmp_path.parent, "c.yaml", method_text("c")) if False else None
    other = tmp_path / "sub"
    other.mkdir()
    path = write(other, "c.yaml", method_text("c"))
    assert library.find(str(path)).id == "c"
    assert library.find(path).id == "c"


def test_library_find_refuses_unknown_and_escaping_ids(tmp_path):
    write(tmp_path, "a.yaml", method_text("a"))
    library = Library(tmp_path)
    with pytest.raises(MethodError, match='there is no method "zzz"'):
        library.find("zzz")
    with pytest.raises(MethodError, match="is not a method id"):
        library.find("..")
    with pytest.raises(MethodError, match="no such file"):
        library.find("../a.yaml")


def test_library_find_names_the_problems_of_a_refused_file(tmp_path):
    write(tmp_path, "a.yaml", "id: a\ntitle: T\nlanguage: xx\n" + ONE_PHASE)
    with pytest.raises(MethodError) as caught:
        Library(tmp_path).find("a")
    assert [str(p) for p in caught.value.problems] == [
        f'{tmp_path}/a.yaml:3: language should be "nl" or "en", not "xx"']


def test_reload_reports_what_changed(tmp_path):
    write(tmp_path, "a.yaml", method_text("a"))
    write(tmp_path, "b.yaml", method_text("b"))
    library = Library(tmp_path)
    assert library.reload().quiet
    write(tmp_path, "a.yaml", method_text("a", "Nieuw"))
    (tmp_path / "b.yaml").unlink()
    write(tmp_path, "c.yaml", method_text("c"))
    change = library.reload()
    assert (change.added, change.changed, change.removed, dict(change.refused)) == (("c",), ("a",), ("b",), {})
    assert library.find("a").title == "Nieuw"


def test_reload_keeps_the_old_method_when_its_new_file_is_bad(tmp_path):
    write(tmp_path, "a.yaml", method_text("a", "Goed"))
    library = Library(tmp_path)
    write(tmp_path, "a.yaml", "id: a\ntitle: [kapot\n")
    change = library.reload()
    assert list(change.refused) == [str(tmp_path / "a.yaml")]
    assert change.changed == () and change.removed == ()
    assert library.find("a").title == "Goed"
    write(tmp_path, "a.yaml", "id: ander\ntitle: T\nlanguage: nl\n" + ONE_PHASE)  # valid YAML, wrong id
    library.reload()
    assert library.find("a").title == "Goed"
    write(tmp_path, "a.yaml", method_text("a", "Beter"))
    assert library.reload().changed == ("a",)
    assert library.find("a").title == "Beter" and library.refused == {}


def test_a_second_file_with_the_same_id_is_refused(tmp_path):
    write(tmp_path, "a.yaml", method_text("a"))
    write(tmp_path, "a.yml", method_text("a", "Tweede"))
    library = Library(tmp_path)
    assert library.find("a").title == "T"
    assert [p.message for p in library.refused[str(tmp_path / "a.yml")]] == [
        f'method "a" is also in {tmp_path}/a.yaml; remove one of the two files']


def test_links_that_lead_out_of_the_folder_are_ignored(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "x.yaml", method_text("x"))
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "x.yaml").symlink_to(outside / "x.yaml")
    assert len(Library(folder)) == 0


def test_a_missing_folder_is_an_empty_library(tmp_path):
    assert len(Library(tmp_path / "nowhere")) == 0


def test_default_methods_dir_is_the_checkout_methods_folder():
    assert default_methods_dir() == REPO / "methods"


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 45, 90, 300, 3600, 5400, 5430)] == [
        "0m", "45s", "1m30s", "5m", "1h", "1h30m", "1h30m30s"]


# --- the commands -----------------------------------------------------------------------------------


def intervisor(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "intervisor.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_check_says_ok_for_valid_files_and_exits_0(tmp_path):
    path = write(tmp_path, "m.yaml", HEAD + "duration: 10m\n" + ONE_PHASE)
    r = intervisor("check", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{path}: ok (Een methode, 1 phase, 5m)\n"
    assert r.stderr == f"{path}:4: warning: the method's duration is 10m, but its phases add up to 5m\n"


def test_check_prints_every_problem_and_exits_1(tmp_path):
    good = write(tmp_path, "m.yaml", method_text("m"))
    bad = write(tmp_path, "x.yaml", "id: x\ntitle: T\nlanguage: fr\nphases: 5\n")
    r = intervisor("check", str(good), str(bad), str(tmp_path / "none.yaml"))
    assert r.returncode == 1
    assert r.stdout == f"{good}: ok (T, 1 phase, 5m)\n"
    assert r.stderr.splitlines() == [
        f'{bad}:3: language should be "nl" or "en", not "fr"',
        f'{bad}:4: phases should be a list (lines starting with "- "), not "5"',
        f"{tmp_path}/none.yaml:1: there is no such file",
    ]


def test_methods_lists_a_folder(tmp_path):
    write(tmp_path, "a.yaml", method_text("a", "Eerste methode"))
    write(tmp_path, "b.yaml", "id: b\n")
    r = intervisor("methods", "--dir", str(tmp_path))
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        "id  title           language  length  phases",
        "a   Eerste methode  nl        5m      1",
    ]
    assert f"{tmp_path}/b.yaml:1: the method has no title" in r.stderr


def test_methods_lists_the_shipped_methods_by_default():
    r = intervisor("methods", "--json", cwd=Path("/"))
    assert r.returncode == 0, r.stderr
    import json

    rows = json.loads(r.stdout)
    assert {row["id"] for row in rows} == {p.stem for p in (REPO / "methods").glob("*.yaml")}
    assert all(set(row) == {"id", "title", "language", "length", "phases"} for row in rows)


def test_methods_in_a_missing_folder_is_an_error(tmp_path):
    r = intervisor("methods", "--dir", str(tmp_path / "none"))
    assert r.returncode == 1 and "there is no such folder" in r.stderr


def test_check_a_folder_checks_each_method_file_in_it(tmp_path):
    good = write(tmp_path, "a.yaml", method_text("a"))
    bad = write(tmp_path, "x.yml", "id: x\ntitle: T\nlanguage: fr\nphases: 5\n")
    write(tmp_path, ".a.yaml.swp", "an editor's copy")
    write(tmp_path, "notes.txt", "not a method")
    r = intervisor("check", str(tmp_path))
    assert r.returncode == 1
    assert r.stdout == f"{good}: ok (T, 1 phase, 5m)\n"
    assert r.stderr.splitlines()[0] == f'{bad}:3: language should be "nl" or "en", not "fr"'
    assert intervisor("check", str(REPO / "methods")).stdout.count(": ok (") == len(list((REPO / "methods").glob("*.yaml")))
    empty = tmp_path / "empty"
    empty.mkdir()
    r = intervisor("check", str(empty))
    assert r.returncode == 1 and r.stderr == f"{empty}: no method files (.yaml, .yml) in this folder\n"


def off_the_device(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command as a new user runs it from a checkout: no config named."""
    env = {k: v for k, v in os.environ.items() if k != "INTERVISOR_CONFIG"}
    return subprocess.run([sys.executable, "-m", "intervisor.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60)


def test_methods_list_off_the_device_lists_the_repositorys_methods(tmp_path):
    if Path("/var/lib/intervisor/methods").is_dir() or Path("/etc/intervisor/config.yaml").exists():
        pytest.skip("this machine is set up as a device")
    r = off_the_device("methods", "list", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert {row["id"] for row in json.loads(r.stdout)} == {p.stem for p in (REPO / "methods").glob("*.yaml")}
    assert "/var/lib/intervisor/methods is not here" in r.stderr
    # A config that names the folder is taken at its word.
    config = write(tmp_path, "config.yaml", f"methods_dir: {tmp_path / 'none'}\n")
    r = off_the_device("methods", "list", "--config", str(config), cwd=tmp_path)
    assert r.returncode == 1 and "there is no such folder" in r.stderr


def test_methods_list_takes_its_options_before_or_after_list(tmp_path):
    write(tmp_path, "a.yaml", method_text("a", "Eerste methode"))
    for args in (("methods", "list", "--dir", str(tmp_path)), ("methods", "--dir", str(tmp_path), "list")):
        r = off_the_device(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[1:] == ["a   Eerste methode  nl        5m      1"]
    r = off_the_device("methods", "list", "--dir", str(tmp_path), "--json", cwd=tmp_path)
    assert [row["id"] for row in json.loads(r.stdout)] == ["a"]


def test_problem_reads_as_file_line_message():
    assert str(Problem("a.yaml", 3, "x")) == "a.yaml:3: x"
    assert str(Problem("a.yaml", 3, "x", warning=True)) == "a.yaml:3: x"
    assert Problem("a.yaml", 3, "x", warning=True).marked() == "a.yaml:3: warning: x"
    assert Problem("a.yaml", 3, "x").marked() == "a.yaml:3: x"


def test_check_checks_a_config_file_too(tmp_path):
    good = write(tmp_path, "config.yaml", "language: en\n")
    bad = write(tmp_path, "bad.yaml", "panel:\n  button: 99\n")
    r = intervisor("check", "--config", str(good))
    assert (r.returncode, r.stdout) == (0, f"{good}: ok (config)\n")
    r = intervisor("check", "--config", str(bad), "--config", str(tmp_path / "none.yaml"))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f'{bad}:2: panel.button should be a BCM GPIO pin number from 2 to 27, not "99"',
        f"{tmp_path}/none.yaml:1: there is no such file (the device would use all defaults)",
    ]
    assert intervisor("check").returncode == 2


def test_a_flood_of_problems_is_cut_short_but_still_refused():
    # 50 questions (the most a phase may have), each with 10 wrong fields
    wrong = ", ".join(f"hnt{k}: {k}" for k in range(10))
    text = HEAD + ONE_PHASE + "    questions:\n" + "".join(f"      - {{text: q, {wrong}}}\n" for i in range(50))
    found = errors(text)
    assert len(found) == 101
    assert found[0] == 'm.yaml:9: "hnt0" is not a field of a question; did you mean "hint"?'
    assert found[-1] == "m.yaml:18: ... and 400 more; fix the ones above first"


def test_a_choice_that_leaves_no_phase_to_run_is_an_error():
    text = """id: leeg
title: Leeg
language: nl
choices:
  - id: dag
    title: Welke dag?
    options:
      - {id: dag-1, title: Dag een}
      - {id: dag-2, title: Dag twee}
phases:
  - id: a
    title: A
    duration: 5m
    when: {dag: dag-1}
"""
    result = load_method_text(text, "leeg.yaml")
    assert result.method is None
    assert [str(p) for p in result.errors] == [
        "leeg.yaml:10: when dag = dag-2, no phase runs at all: give every option at least one phase"]


def test_an_empty_language_is_named_with_its_line():
    # Found in review: the file was refused with no message at all.
    for written, message in (("", "the language is empty"), (" ''", 'language should be "nl" or "en", not empty')):
        text = f"id: m\ntitle: T\nlanguage:{written}\nphases:\n  - id: a\n    title: A\n    duration: 5m\n"
        result = load_method_text(text, "m.yaml")
        assert not result.ok
        assert [str(p) for p in result.errors] == [f"m.yaml:3: {message}" + (
            '; write "language: nl" or "language: en"' if not written else "")]


def test_rounds_may_leave_out_the_case_bringer():
    text = ("id: m\ntitle: T\nlanguage: nl\nparticipants: 6\nphases:\n  - id: a\n    title: Advies\n"
            "    duration: 20m\n    rounds: {leave_out: 1, say: Volgende.}\n")
    result = load_method_text(text, "m.yaml")
    assert result.ok and result.method.phases[0].rounds.leave_out == 1
    bad = text.replace("{leave_out: 1,", "{count: 5, leave_out: 1,")
    assert [str(p) for p in load_method_text(bad, "m.yaml").errors] == [
        "m.yaml:9: the rounds of phase \"a\" have a fixed count, so nobody is left out of them: "
        "remove leave_out, or count"]
    assert "m.yaml:9:" in str(load_method_text(text.replace("leave_out: 1", "leave_out: 5"), "m.yaml").errors[0])
