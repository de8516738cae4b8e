"""The listening bench's word error rate (bench/listening.py): numbers
count the same as digits or as words, in Dutch and English."""

import importlib.util
from pathlib import Path

# Loaded by its path, not by putting bench/ on sys.path: bench/ holds
# scripts whose names would shadow libraries for every later test.
_spec = importlib.util.spec_from_file_location(
    "bench_listening", Path(__file__).resolve().parent.parent / "bench" / "listening.py")
_listening = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_listening)
errors, naive_words, words = _listening.errors, _listening.naive_words, _listening.words


def wer(said: str, heard: str, language: str) -> int:
    return errors(words(said, language), words(heard, language))


def test_number_words_and_digits_are_the_same_word():
    assert wer("Fase 2 van 6. Verhelderen. 5 tot 10 minuten.", "fase twee van zes verhelderen vijf tot tien minuten", "nl") == 0
    assert wer("Nog 45 minuten", "nog vijfenveertig minuten", "nl") == 0
    assert wer("Beurt 3 van 12.", "Beurt drie van twaalf", "nl") == 0
    assert wer("Phase 2 of 6. 25 minutes", "phase two of six, twenty-five minutes", "en") == 0
    assert wer("1 minute", "one minute", "en") == 0
    # The Dutch 1 is written "een" as often as "1" or "één".
    assert wer("Nog 1 minuut, één voor één", "nog een minuut een voor een", "nl") == 0


def test_a_wrong_number_is_still_wrong():
    assert wer("10 minuten", "13 minuten", "nl") == 1
    assert wer("Fase 5 van 6.", "fase vijftien van zes", "nl") == 1
    assert wer("five minutes", "nine minutes", "en") == 1


def test_times_of_day_punctuation_and_case_do_not_count():
    assert wer("Dit duurt tot 13 uur 30.", "dit duurt tot 13.30 uur", "nl") == 0
    assert wer("until 9:30 am", "Until nine thirty a.m.", "en") == 0
    assert wer("Wat is het probleem?", "wat is het, probleem", "nl") == 0
    assert wer("5 to 10 minutes", "5-10 minutes.", "en") == 0 and wer("5 tot 10 minuten", "5-10 minuten", "nl") == 0


def test_the_naive_count_keeps_digits_and_words_apart():
    assert errors(naive_words("5 tot 10"), naive_words("vijf tot tien")) == 2


def test_errors_count_substitutions_deletions_and_insertions():
    assert errors("a b c d".split(), "a x c".split()) == 2
    assert errors([], "a b".split()) == 2
    assert errors("a b".split(), []) == 2


def test_no_bench_script_shadows_a_module_the_device_imports():
    # A bench script runs with bench/ first on sys.path: one named like a
    # library (bench/piper.py did) is imported in its place by the device
    # code it measures, and by any test that puts bench/ on the path.
    bench = Path(__file__).resolve().parent.parent / "bench"
    shadowing = [p.name for p in bench.glob("*.py") if importlib.util.find_spec(p.stem) is not None]
    assert shadowing == []


def test_a_whole_prompt_is_its_parts_from_the_first_start_to_the_last_end():
    parts = [{"step": 1, "at": 0.0, "until": 1.2, "text": "Welkom."},
             {"step": 4, "at": 3.0, "until": 3.9, "text": "Fase 2 van 6."},
             {"step": 4, "at": 3.9, "until": 5.0, "text": "Verhelderen."},
             {"step": 4, "at": 5.0, "until": 6.5, "text": "5 tot 10 minuten."},
             {"step": 7, "at": 9.0, "until": 9.8, "text": "Nog 1 minuut."}]
    whole = _listening.whole_prompts(parts)
    assert [(w["at"], w["until"]) for w in whole] == [(0.0, 1.2), (3.0, 6.5), (9.0, 9.8)]
    assert whole[1]["text"] == "Fase 2 van 6. Verhelderen. 5 tot 10 minuten."
    assert wer(whole[1]["text"], "fase twee van zes verhelderen vijf tot tien minuten", "nl") == 0
    assert parts[1]["until"] == 3.9 and parts[1]["text"] == "Fase 2 van 6."   # the parts stay as they were
