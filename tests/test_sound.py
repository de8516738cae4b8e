"""The sound adapter: one persistent stream into a real PulseAudio null sink,
recorded at the sink's monitor to check what the group would hear."""

import dataclasses
import threading
import time

import numpy as np
import pytest

from intervisor.sound.cues import synth
from intervisor.core.events import Cue, Hush, Light, Mark, Play, Say, Show
from intervisor.sound.adapter import FakeSound, Sound
from intervisor.sound.config import from_config
from intervisor.sound.mixer import Mixer
from intervisor.sound.output import SoundOutput
from intervisor.sound.prompts import to_float
from intervisor.sound.stream import StreamKeeper
from intervisor.sound.speech import Speech

RATE = 48000


def tone(freq: float, seconds: float, level: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def run(mixer: Mixer, blocks: int, frames: int = 256) -> np.ndarray:
    out = []
    for _ in range(blocks):
        buf = np.zeros((frames, 2), dtype=np.float32)
        mixer.fill(buf)
        assert np.array_equal(buf[:, 0], buf[:, 1])
        out.append(buf[:, 0].copy())
    return np.concatenate(out)


def strength(x: np.ndarray, freq: float, rate: int = RATE) -> float:
    """How much of ``freq`` is in ``x`` (0..1 of its energy)."""
    if len(x) == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    k = int(round(freq * len(x) / rate))
    return float(spectrum[max(0, k - 3) : k + 4].sum() / (spectrum.sum() + 1e-12))


# ------------------------------------------------------------ the mixer alone


def test_a_cue_mixes_over_speech():
    m = Mixer(RATE)
    m.say(tone(300, 0.5), m.next_generation())
    m.play(tone(2000, 0.1))
    out = run(m, 40)
    assert strength(out[:4800], 300) > 0.2 and strength(out[:4800], 2000) > 0.2
    assert strength(out[6000:12000], 300) > 0.9


def test_a_new_prompt_interrupts_with_a_fade_not_a_click():
    m = Mixer(RATE)
    m.say(np.full(RATE, 0.5, dtype=np.float32), m.next_generation())  # DC: any cut shows
    first = run(m, 4)
    m.say(np.zeros(1000, dtype=np.float32), m.next_generation())
    rest = run(m, 8)
    both = np.concatenate([first, rest])
    assert np.abs(np.diff(both)).max() < 0.01       # no sample-to-sample jump
    assert np.abs(rest[int(0.02 * RATE) :]).max() == 0.0  # and gone within 20 ms


def test_hush_fades_the_prompt_and_leaves_the_cue():
    m = Mixer(RATE)
    m.say(tone(300, 1.0), m.next_generation())
    run(m, 4)
    m.play(tone(2000, 0.2))
    m.hush(m.next_generation())
    out = run(m, 20)
    tail = out[int(0.03 * RATE) : int(0.15 * RATE)]
    assert strength(tail, 2000) > 0.9 and strength(tail, 300) < 0.01


def test_a_prompt_overtaken_while_loading_is_dropped():
    m = Mixer(RATE)
    late = m.next_generation()
    newer = m.next_generation()
    m.say(tone(500, 0.2), newer)
    m.say(tone(300, 0.2), late)  # arrives after the newer one: must not cut it off
    out = run(m, 20)
    assert strength(out, 500) > 0.9 and strength(out, 300) < 0.01


def test_the_mix_never_clips():
    m = Mixer(RATE)
    m.say(np.full(4800, 0.9, dtype=np.float32), m.next_generation())
    m.play(np.full(4800, 0.9, dtype=np.float32))
    assert np.abs(run(m, 10)).max() <= 1.0


def test_the_mixer_reports_what_is_left():
    m = Mixer(RATE)
    m.say(np.full(1024, 0.1, dtype=np.float32), m.next_generation())
    run(m, 1)
    assert m.speech_left == 1024 - 256
    run(m, 4)
    assert m.speech_left == 0 and m.cues_left == 0


def test_a_timed_cue_starts_on_its_own_sample_in_any_block():
    # The block that holds the cue's time is heard from `heard_at`; the
    # cue's first sample lands exactly where its time falls.
    for offset in (0, 1, 255, 256, 700):
        m = Mixer(RATE)
        m.play(np.ones(64, dtype=np.float32), at=10.0 + offset / RATE)
        out = []
        for b in range(4):
            buf = np.zeros((256, 1), dtype=np.float32)
            m.fill(buf, heard_at=10.0 + b * 256 / RATE)
            out.append(buf[:, 0])
        out = np.concatenate(out)
        assert int(np.flatnonzero(out)[0]) == offset and out.sum() == 64


def test_a_late_timed_cue_plays_at_once_and_whole():
    m = Mixer(RATE)
    m.play(np.ones(64, dtype=np.float32), at=9.9)
    buf = np.zeros((256, 1), dtype=np.float32)
    m.fill(buf, heard_at=10.0)
    assert buf[0, 0] == 1.0 and buf.sum() == 64


def test_a_timed_prompt_waits_for_its_time_and_counts_as_speech_left():
    m = Mixer(RATE)
    m.say(np.full(300, 0.5, dtype=np.float32), m.next_generation(), at=1.0 + 100 / RATE)
    buf = np.zeros((256, 1), dtype=np.float32)
    m.fill(buf, heard_at=1.0)
    assert int(np.flatnonzero(buf[:, 0])[0]) == 100
    assert m.speech_left == 300 - 156


def test_a_timed_prompt_lets_the_one_speaking_go_on_until_it_starts():
    m = Mixer(RATE)
    m.say(np.full(RATE, 0.5, dtype=np.float32), m.next_generation())
    buf = np.zeros((256, 1), dtype=np.float32)
    m.fill(buf, heard_at=0.0)
    m.say(np.full(RATE, -0.25, dtype=np.float32), m.next_generation(), at=(256 + 600) / RATE)
    out = []
    for b in range(1, 6):
        buf = np.zeros((256, 1), dtype=np.float32)
        m.fill(buf, heard_at=b * 256 / RATE)
        out.append(buf[:, 0].copy())
    out = np.concatenate(out)
    assert np.all(out[:600] == 0.5)                 # no gap before the new prompt
    assert out[600] == pytest.approx(0.5 - 0.25)    # the fade begins with it
    assert np.abs(np.diff(out)).max() < 0.3         # and is no click
    assert np.all(out[600 + int(0.013 * RATE):] == -0.25)


def test_a_time_on_another_clock_plays_at_once_rather_than_never():
    m = Mixer(RATE)
    m.play(np.ones(8, dtype=np.float32), at=1e6)
    buf = np.zeros((16, 1), dtype=np.float32)
    m.fill(buf, heard_at=5.0)
    assert buf.sum() == 8


def test_when_a_block_is_heard_comes_from_portaudio_or_the_nominal_latency():
    class Info:
        def __init__(self, current, dac):
            self.currentTime, self.outputBufferDacTime = current, dac

    keeper = StreamKeeper()
    keeper.output_latency = 0.016
    assert keeper.heard_at(10.0, Info(1000.0, 1000.021)) == pytest.approx(10.021)
    for odd in (None, Info(0.0, 0.0), Info(1000.0, 1000.0), Info(1000.0, 990.0)):
        assert keeper.heard_at(10.0, odd) == pytest.approx(10.016)


# ----------------------------------------------------------------- the fake


def test_the_fake_and_the_real_adapter_keep_one_contract():
    import inspect

    for name in [n for n in dir(Sound) if not n.startswith("_")]:
        real, fake = inspect.getattr_static(SoundOutput, name), inspect.getattr_static(FakeSound, name)
        if callable(real):
            assert inspect.signature(real) == inspect.signature(fake), name
    assert isinstance(FakeSound(), Sound) and issubclass(SoundOutput, Sound)


def test_the_adapter_tells_what_the_service_and_the_demo_read_of_it():
    # The service's cue lead counts two blocks; the demo's prerender stops once it is closed.
    out = SoundOutput(start=False, block_size=480, sample_rate=44100)
    assert (out.block_size, out.rate, out.output_latency, out.closed) == (480, 44100, 0.0, False)
    out.close()
    assert out.closed


def test_the_fake_records_what_it_was_asked():
    fake = FakeSound()
    for action in (Say(("Nog", "5 minuten")), Play(Cue.TURN), Show(Light.RUNNING), Hush(), Mark("turn")):
        fake.perform(action)
    assert fake.said == ["Nog 5 minuten"] and fake.played == [Cue.TURN] and fake.hushes == 1
    assert len(fake.actions) == 3 and not fake.is_busy() and not fake.faulted
    assert fake.prepare(["Welkom."], language="en") == 0 and fake.language == "en"


# ---------------------------------------------------------- real PulseAudio


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return Speech("nl", 170, 1.0, tmp_path_factory.mktemp("speech"))


@pytest.fixture
def sound(pulse_server, speech):
    out = SoundOutput(speech)
    assert not out.faulted, out.fault
    yield out
    out.close()


LONG = "Dit is een lange uitleg over de werkwijze, die we halverwege onderbreken omdat de voorzitter verder wil."
SHORT = "Volgende vraag."


def speak_long(sound, rec, seconds: float):
    """Start the long prompt and return its onset once ``seconds`` of it
    have been heard (counted in the sink's samples)."""
    sound.prepare([LONG])
    t = time.monotonic()
    sound.perform(Say((LONG,)))
    start = rec.wait_for_sound(after=t, timeout=5)
    assert start is not None
    assert rec.wait_until(lambda: rec.count > start.index + int(seconds * RATE), timeout=10)
    return start



@pytest.mark.audio
def test_a_cue_is_heard_and_it_is_the_cue(pulse_server, sound):
    with pulse_server.record() as rec:
        t = time.monotonic()
        sound.perform(Play(Cue.WARNING))
        onset = rec.wait_for_sound(after=t, timeout=5)
        assert onset is not None
        assert sound.finish(timeout=10)
        heard = rec.samples(max(0, onset.index - 480))[: RATE // 4]
    expected = synth(Cue.WARNING, RATE)[: RATE // 8] * np.float32(sound.cue_volume)
    # The same sound, at the level asked for: correlation near 1 at the best lag.
    lags = np.correlate(heard, expected, mode="valid")
    best = int(np.argmax(lags))
    window = heard[best : best + len(expected)]
    corr = float(lags[best] / (np.linalg.norm(window) * np.linalg.norm(expected)))
    assert corr > 0.95
    assert abs(np.abs(window).max() - np.abs(expected).max()) < 0.05


@pytest.mark.audio
def test_a_cue_given_its_time_ahead_is_heard_then_not_before(pulse_server, sound):
    # What the loop does with a deadline: hand the cue over early, with the
    # deadline as its time. It must not sound early, and lands near it (a
    # generous bound: this checks the placement, the bench measures it).
    with pulse_server.record() as rec:
        sound.perform(Play(Cue.HEARD))
        assert sound.finish(timeout=10)
        errors = []
        for _ in range(3):
            at = time.monotonic() + 0.25
            sound.perform(Play(Cue.WARNING, at=at))
            onset = rec.wait_for_sound(after=at - 0.2, timeout=5)
            assert onset is not None
            errors.append(onset.time - at)
            assert sound.finish(timeout=10)
    assert all(-0.012 < e < 0.05 for e in errors), errors


@pytest.mark.audio
def test_everything_plays_through_one_persistent_stream(pulse_server, sound):
    sound.prepare(["Welkom.", SHORT])
    with pulse_server.record() as rec:
        for action in (Say(("Welkom.",)), Play(Cue.TURN), Say((SHORT,)), Play(Cue.HEARD)):
            t = time.monotonic()
            sound.perform(action)
            assert rec.wait_for_sound(after=t, timeout=5) is not None
            assert pulse_server.sink_inputs() == 1
    assert sound.finish(timeout=10)


@pytest.mark.audio
def test_a_press_during_a_long_prompt_stops_it_and_the_next_starts(pulse_server, sound, speech):
    sound.prepare([LONG, SHORT])
    long_len = len(sound.prompts.get(LONG))
    short_len = len(sound.prompts.get(SHORT))
    with pulse_server.record() as rec:
        start = speak_long(sound, rec, 1.0)
        sound.perform(Say((SHORT,)))
        end = rec.wait_for_silence(after=start.time, seconds=0.4, timeout=20)
        assert end is not None
    heard = (rec.index_at(end) - start.index)
    # Far less than the long prompt, about one second plus the short one.
    assert heard < 0.6 * long_len
    assert heard > RATE + 0.5 * short_len


@pytest.mark.audio
def test_hush_stops_speech_with_a_fade(pulse_server, sound):
    with pulse_server.record() as rec:
        start = speak_long(sound, rec, 0.5)
        sound.perform(Hush())
        end = rec.wait_for_silence(after=start.time, seconds=0.3, timeout=20)
        assert end is not None
        speech = rec.samples(start.index)[: rec.index_at(end) - start.index]
    assert len(speech) < 0.5 * len(sound.prompts.get(LONG))
    # The last milliseconds fade: far softer than the speech before them.
    assert np.abs(speech[-int(0.002 * RATE) :]).max() < 0.3 * np.abs(speech).max()


@pytest.mark.audio
def test_a_cue_plays_over_speech(pulse_server, sound):
    with pulse_server.record() as rec:
        start = speak_long(sound, rec, 0.5)
        before = rec.count
        sound.perform(Play(Cue.TURN))  # G6: 1568 Hz, above most of the voice
        assert rec.wait_until(lambda: rec.count > before + RATE // 2, timeout=10)
        sound.perform(Hush())
        heard = rec.samples(before)[: RATE // 3]
        voice = rec.samples(start.index)[: RATE // 3]
    assert strength(heard, 1568) > 5 * strength(voice, 1568)
    # ... and the speech went on under it (a quarter second: longer than
    # the pause between two Dutch words).
    assert np.sqrt(np.mean(heard[-RATE // 4 :] ** 2)) > 0.01


@pytest.mark.audio
def test_busy_while_speaking_for_the_voice_adapter(pulse_server, sound):
    sound.prepare([SHORT])
    assert not sound.is_busy()
    sound.perform(Say((SHORT,)))
    assert sound.is_busy()
    until = sound.speaking_until()
    assert until == 0.0 or until > time.monotonic() - 0.1
    assert sound.finish(timeout=10)
    assert not sound.is_busy() and sound.speaking_until() == 0.0


@pytest.mark.audio
def test_a_prompt_not_yet_rendered_is_spoken_anyway(pulse_server, sound):
    text = f"Een zin die nog niet klaar stond {time.time_ns()}."
    with pulse_server.record() as rec:
        t = time.monotonic()
        sound.perform(Say((text,)))  # returns at once; the feeder renders it
        assert rec.wait_for_sound(after=t, timeout=20) is not None


def heard_prompt(pulse_server, sound, parts) -> np.ndarray:
    """Say ``parts`` as one prompt and return what the sink heard of it,
    from its onset to the silence after it."""
    with pulse_server.record() as rec:
        t = time.monotonic()
        sound.perform(Say(tuple(parts)))
        onset = rec.wait_for_sound(after=t, timeout=20)
        assert onset is not None
        # Longer than the pause between the parts of a prompt (prosody.PAUSE).
        end = rec.wait_for_silence(after=onset.time, seconds=1.0, timeout=20)
        assert end is not None
        heard = rec.samples(onset.index)[: rec.index_at(end) - onset.index]
    # Under load the silence's time maps back to an index a little late:
    # the silence after the prompt is no part of it.
    loud = np.flatnonzero(np.abs(heard) > 0.005)
    return heard[: int(loud[-1]) + 1] if len(loud) else heard


@pytest.mark.audio
@pytest.mark.parametrize("ready", [True, False], ids=["in-memory", "rendered-when-said"])
def test_prompts_in_parts_are_heard_whole_at_the_sink(pulse_server, sound, ready):
    # Both ways a prompt reaches the mixer: from memory, and through the
    # feeder that renders parts not ready yet.
    parts = ("Nog", f"{7 if ready else time.time_ns() % 90 + 10} minuten", "voor deze ronde.")
    if ready:
        sound.prepare(parts)
    heard = heard_prompt(pulse_server, sound, parts)
    assert sound.finish(timeout=10)
    from intervisor.sound.prosody import PAUSE

    whole = sum(len(sound.prompts.get(p)) for p in parts) + int((len(parts) - 1) * PAUSE * RATE)
    # Every part, one after the other: the length of all of them (a prompt
    # cut to its first part or two would be far shorter).
    # (The sink's silence is found up to a second and a half late under load;
    # the upper bound catches only a prompt said twice over.)
    assert 0.9 * whole < len(heard) < whole + 1.5 * RATE, (len(heard), whole)
    last = to_float(sound.prompts.get(parts[-1]))[: RATE // 4]
    tail = heard[-len(sound.prompts.get(parts[-1])) - RATE // 20 :]
    lags = np.correlate(tail, last, mode="valid")
    best = int(np.argmax(lags))
    window = tail[best : best + len(last)]
    assert lags[best] / (np.linalg.norm(window) * np.linalg.norm(last) + 1e-12) > 0.9  # the last part, last


@pytest.mark.audio
def test_gpiozero_threads_may_play_cues_at_the_same_time(pulse_server, sound):
    errors = []

    def tick():
        try:
            for _ in range(20):
                sound.perform(Play(Cue.HEARD))
        except Exception as e:  # pragma: no cover - the failure we look for
            errors.append(e)

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=10)
    assert not errors
    assert sound.finish(timeout=10) and not sound.faulted


@pytest.mark.audio
def test_from_config(pulse_server, tmp_path):
    from intervisor.files.config import Config

    config = dataclasses.replace(Config.default(), cache_dir=str(tmp_path))
    out = from_config(config, language="nl")
    try:
        assert not out.faulted and out.speech.language == "nl"
        out.prepare(["Welkom."], language="en")
        assert out.speech.language == "en"
        assert list((tmp_path / "speech").glob("*.wav"))
    finally:
        out.close()


# ------------------------------------------------- no device, lost, found again


@pytest.mark.audio
def test_no_device_at_start_keeps_running_silently(pulse_server, speech):
    faults = []
    out = SoundOutput(speech, device="no such speaker", on_fault=lambda f, why: faults.append((f, why)))
    try:
        assert out.faulted and "no such speaker" in out.fault
        assert faults and faults[0][0] is True
        out.perform(Say(("Welkom.",)))
        out.perform(Play(Cue.TIME_UP))
        out.perform(Hush())
        assert out.finish(timeout=1)
    finally:
        out.close()


@pytest.mark.audio
@pytest.mark.slow
def test_a_lost_device_is_found_again_without_restart(pulse_server, speech, monkeypatch):
    """Its own sound server, killed mid-session (the speaker unplugged) and
    started again on the same socket (plugged back in)."""
    from pulse import start_pulse

    with start_pulse(sink="unplugged", set_env=False) as private:
        monkeypatch.setenv("PULSE_SERVER", private.server)
        changes = []
        found = threading.Event()
        lost = threading.Event()

        def on_fault(faulted, why):
            changes.append(faulted)
            (lost if faulted else found).set()

        out = SoundOutput(speech, retry_every=0.5, on_fault=on_fault)
        try:
            assert not out.faulted
            private.kill()
            assert lost.wait(timeout=15), "the lost device was not noticed"
            assert out.faulted
            out.perform(Say(("Welkom.",)))   # said into the void: must not come later
            out.perform(Play(Cue.TURN))
            found.clear()
            private.start()
            assert found.wait(timeout=30), "the device was not picked up again"
            assert changes[-2:] == [True, False]
            with private.record() as rec:
                silence_from = time.monotonic()
                assert rec.wait_until(lambda: rec.count > RATE // 2, timeout=10)
                assert rec.onset_after(silence_from, threshold=0.02) is None
                t = time.monotonic()
                out.perform(Play(Cue.TIME_UP))
                assert rec.wait_for_sound(after=t, timeout=10) is not None
        finally:
            out.close()


# ------------------------------------------------------------ the commands


@pytest.fixture
def admin_env(pulse_server, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"cache_dir: {tmp_path / 'cache'}\naudio:\n  rate: 170\n")
    return {**pulse_server.client_env(), "INTERVISOR_CONFIG": str(config)}


def intervisor(*args, env):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "intervisor.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.audio
def test_intervisor_say_is_heard(pulse_server, admin_env):
    with pulse_server.record() as rec:
        t = time.monotonic()
        done = intervisor("say", "De luidspreker werkt.", "--lang", "nl", env=admin_env)
        assert done.returncode == 0, done.stderr
        assert rec.onset_after(t) is not None
    assert "luidspreker" not in done.stdout + done.stderr  # never echoes what it said


@pytest.mark.audio
def test_intervisor_chime_is_heard_and_a_wrong_name_is_explained(pulse_server, admin_env):
    with pulse_server.record() as rec:
        t = time.monotonic()
        done = intervisor("chime", "HEARD", env=admin_env)
        assert done.returncode == 0, done.stderr
        assert rec.onset_after(t) is not None
    wrong = intervisor("chime", "gong", env=admin_env)
    assert wrong.returncode == 2 and "no cue called 'gong'" in wrong.stderr and "time_up" in wrong.stderr
    listed = intervisor("chime", "--list", env=admin_env)
    assert listed.returncode == 0 and len(listed.stdout.split()) == len(Cue)


def test_intervisor_say_to_a_file(tmp_path, pulse_server, admin_env):
    from intervisor.sound.speech import read_wav

    out = tmp_path / "say.wav"
    done = intervisor("say", "Time is up.", "--lang", "en", "--out", str(out), env=admin_env)
    assert done.returncode == 0, done.stderr
    samples, rate = read_wav(out)
    assert len(samples) > 0.3 * rate


@pytest.mark.parametrize("command", [("say", "Hallo."), ("chime", "time_up")])
def test_intervisor_say_and_chime_without_a_device_say_so_in_one_line(pulse_server, admin_env, command):
    done = intervisor(*command, "--device", "no such speaker", env=admin_env)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1, done.stderr     # no "running silently, retrying"
    assert "no sound device" in done.stderr and "no such speaker" in done.stderr


def test_intervisor_chime_to_a_file(tmp_path, admin_env):
    from intervisor.sound.cues import Chimes
    from intervisor.sound.speech import read_wav

    out = tmp_path / "time_up.wav"
    done = intervisor("chime", "time_up", "--out", str(out), "--device", "no such speaker", env=admin_env)
    assert done.returncode == 0, done.stderr
    samples, rate = read_wav(out)
    expected = Chimes(rate, 0.6)[Cue.TIME_UP]
    assert len(samples) == len(expected) and np.abs(samples - expected).max() < 1e-3


# ------------------------------------------------------------ the soundtrack


def onsets_at(samples: np.ndarray, rate: int, offsets: list[float], window: float = 0.05) -> list[bool]:
    """For each offset: does sound begin within ``window`` seconds of it,
    after a moment of (relative) quiet?"""
    found = []
    for at in offsets:
        i = int(at * rate)
        after = np.abs(samples[i : i + int(window * rate)]).max(initial=0)
        found.append(bool(after > 0.02))
    return found


def test_a_soundtrack_places_each_step_after_the_speech_before_it(tmp_path):
    from intervisor.sound.soundtrack import render
    from intervisor.sound.speech import read_wav

    factory = lambda language: Speech(language, 170, 1.0, tmp_path / "cache")  # noqa: E731
    steps = [
        (0.0, [Play(Cue.PHASE_START), Say(("Welkom bij de intervisie.",)), Mark("intro")]),
        (600.0, [Play(Cue.WARNING), Mark("warning")]),
        (600.5, [Say(("Nog", "1 minuut"))]),
        (1200.0, [Hush(), Show(Light.TIME_UP), Play(Cue.TIME_UP)]),
    ]
    offsets = render(steps, factory, tmp_path / "s.wav", gap=1.0, language="nl")
    samples, rate = read_wav(tmp_path / "s.wav")
    speech = factory("nl")
    welcome = len(speech.render("Welkom bij de intervisie.")) / rate
    assert offsets[0] == 0.0
    # The wait of ten minutes is cut to the gap, after the welcome was said.
    assert 1.0 <= offsets[1] <= welcome + 1.0 + 0.01
    assert abs(offsets[2] - (offsets[1] + 0.6 + 0.5)) < 0.01   # the real half second kept
    assert offsets[3] > offsets[2] + 1.0
    assert all(onsets_at(samples, rate, offsets))
    assert len(samples) / rate < 20 and np.abs(samples).max() <= 1.0


def test_a_rehearsed_method_has_an_audio_offset_for_each_event(tmp_path):
    from intervisor.files.method import Library
    from intervisor.core.rehearsal import rehearse
    from intervisor.sound.soundtrack import render_rehearsal
    from intervisor.sound.speech import read_wav

    method = Library("methods").find("vijf-stappen")
    result = rehearse(method)
    factory = lambda language: Speech(language, 220, 1.0, tmp_path / "cache")  # noqa: E731
    offsets = render_rehearsal(result, tmp_path / "session.wav", gap=0.5, speech_factory=factory)
    assert len(offsets) == len(result.events)
    assert offsets == sorted(offsets)
    samples, rate = read_wav(tmp_path / "session.wav")
    session = result.steps[-1][0] - result.steps[0][0]
    assert offsets[-1] < len(samples) / rate < session / 5
    assert all(onsets_at(samples, rate, [o for o, e in zip(offsets, result.events) if e.get("text")]))


def test_the_timeline_says_where_each_spoken_part_begins_and_ends(tmp_path, monkeypatch):
    import json

    from intervisor.cli import main
    from intervisor.sound.speech import read_wav

    config = tmp_path / "config.yaml"
    config.write_text(f"cache_dir: {tmp_path / 'cache'}\naudio:\n  rate: 220\n")
    monkeypatch.setenv("INTERVISOR_CONFIG", str(config))
    out, timeline = tmp_path / "s.wav", tmp_path / "t.json"
    assert main(["rehearse", "vijf-stappen", "--gap", "0.3", "--out", str(out),
                 "--timeline", str(timeline)]) == 0
    parts = json.loads(timeline.read_text())["parts"]
    samples, rate = read_wav(out)
    opening = [p for p in parts if p["step"] == 0]
    assert opening[0]["text"] == "Intervisie in vijf stappen." and len(opening) > 4   # title, intro, rules...
    assert all(a["until"] <= b["at"] for a, b in zip(parts, parts[1:]))
    assert all(onsets_at(samples, rate, [p["at"] for p in parts]))
    # Each part is sound from its start to its end: a part's span holds its words.
    assert all(np.abs(samples[int(p["at"] * rate) : int(p["until"] * rate)]).max() > 0.1 for p in parts)
    assert parts[-1]["until"] <= len(samples) / rate + 0.001


@pytest.mark.audio
def test_after_a_silence_the_stream_rests_and_the_next_sound_wakes_it(pulse_server, speech):
    out = SoundOutput(speech, standby_after=0.3)
    try:
        deadline = time.monotonic() + 10
        while not out.standby and time.monotonic() < deadline:
            time.sleep(0.02)  # the watch thread stops it; no event to wait on
        assert out.standby and not out.faulted
        with pulse_server.record() as rec:
            t = time.monotonic()
            out.perform(Play(Cue.TURN))
            assert rec.wait_for_sound(after=t, timeout=5) is not None
        assert not out.faulted
    finally:
        out.close()


def test_a_restart_after_silence_never_drops_a_cue_already_taken_in():
    # Found in review: a cue taken into the buffer, then its words posted,
    # and the restart meant for silence cut the cue's start (a click).
    class Stream:
        aborted = 0

        def abort(self, ignore_errors=True):
            self.aborted += 1

        def start(self):
            pass

    class NoSpeech:
        language, sample_rate = "nl", 48000

        def render(self, text):
            return np.zeros(4800, dtype=np.float32)

    sound = SoundOutput(NoSpeech(), start=False, standby_after=None)
    sound.library.load("Gepauzeerd.")     # in memory: said, it is posted at once
    stream = Stream()
    out = np.zeros((480, 1), dtype=np.float32)
    sound.mixer.fill(out)                  # silence so far
    sound.play(Cue.PAUSED)
    sound.stream.kicked(stream)            # only silence is queued: restart, heard at once
    assert stream.aborted == 1
    sound.mixer.fill(out)                  # the callback takes the cue in
    sound.say("Gepauzeerd.")               # and its words come
    assert sound.mixer.pending
    sound.stream.kick_due = True
    sound.stream.kicked(stream)
    assert stream.aborted == 1 and not sound.stream.kick_due
    assert np.abs(out).max() > 0           # the cue is in the buffer, and stays there
