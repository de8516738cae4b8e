"""Regression tests for what tests/fuzz_files.py found: each fails on the code
before its fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from intervisor.files.config import ConfigError, load_config_text
from intervisor.files.method import Library, load_method_text, parse_duration

REPO = Path(__file__).resolve().parent.parent
GOOD = "id: m\ntitle: T\nlanguage: nl\nphases:\n  - id: a\n    title: A\n    duration: 5m\n"


def test_a_symlink_loop_in_the_methods_folder_is_refused_not_a_crash(tmp_path):
    (tmp_path / "vijf-stappen.yaml").write_bytes((REPO / "methods" / "vijf-stappen.yaml").read_bytes())
    os.symlink("loop.yaml", tmp_path / "loop.yaml")
    library = Library(tmp_path)          # RuntimeError: Symlink loop from ... (Python 3.11)
    assert "vijf-stappen" in library.methods


@pytest.mark.parametrize("key", ["state_dir", "methods_dir", "cache_dir", "input"])
def test_an_escaped_nul_in_a_config_value_is_refused_with_its_line(key):
    with pytest.raises(ConfigError) as e:
        load_config_text(f'language: nl\n{key}: "/var/lib/x\\0y"\n', "config.yaml")
    assert [str(p).split(":")[1] for p in e.value.problems] == ["2"]


def test_an_escaped_nul_in_a_method_text_is_refused_with_its_line():
    result = load_method_text(GOOD.replace("title: T", 'title: "T\\0"'), "m.yaml")
    assert not result.ok and str(result.errors[0]).startswith("m.yaml:2: ")


@pytest.mark.parametrize("value", ['"a\\nb"', '"a\\rb"', "|\n  on\n  ''", '"\\e[2J"'])
def test_every_message_is_one_line(value):
    result = load_method_text(f"id: {value}\ntitle: T\nlanguage: nl\nphases: []\n", "m.yaml")
    assert not result.ok
    for problem in result.problems:
        text = problem.marked()
        assert text.splitlines() == [text], text
        assert "\x1b" not in text


def test_an_error_at_the_end_of_a_file_names_a_line_of_the_file():
    text = GOOD + "    s"                  # cut off mid-line, no newline at the end (8 lines)
    result = load_method_text(text, "m.yaml")
    assert [str(p) for p in result.errors] == [
        "m.yaml:8: a line here is missing its ':' or is indented wrongly"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_a_unicode_line_separator_does_not_shift_the_line_numbers(separator):
    text = GOOD.replace("title: T", f'title: "Een{separator}twee"').replace("duration: 5m", "duration: 5x")
    result = load_method_text(text, "m.yaml")
    assert [str(p).split(":")[1] for p in result.errors] == ["7"]   # "duration: 5x" is line 7 of 7


@pytest.mark.parametrize("text", ["٥m", "５m", "١-٢m", "1h٣٠m"])
def test_durations_take_only_ascii_digits(text):
    assert parse_duration(text) is None


def test_a_start_time_takes_only_ascii_digits():
    result = load_method_text(GOOD + "    at: '٠٩:٣٠'\n", "m.yaml")
    assert not result.ok and str(result.errors[0]).startswith("m.yaml:8: the start time")


def test_a_file_of_comments_without_a_last_newline_is_refused_on_a_line_it_has():
    result = load_method_text("---\n# only a comment", "m.yaml")
    assert [str(p).split(":")[1] for p in result.errors] == ["2"]   # was 3


@pytest.mark.parametrize("key", ["methods_dir", "state_dir", "cache_dir"])
@pytest.mark.parametrize("empty", ['""', "' '", "|-\n  "])
def test_an_empty_folder_in_the_config_is_its_default_not_none(key, empty):
    config = load_config_text(f"{key}: {empty}\n", "config.yaml")   # accepted by `intervisor check`
    assert isinstance(getattr(config, key), str)                    # was None: Path(None) -> TypeError
