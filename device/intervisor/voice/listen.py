"""Voice commands that never fire on the conversation.

Hearing "volgende" is easy; not acting on it in "de volgende keer" is the
work. The :class:`CommandGate` acts on an utterance only when every defence
lets it through, each with its own setting in :class:`VoiceSettings`:

- isolation: silence before (``pre_silence``) and after (``post_silence``);
- length: between ``min_speech`` and ``max_speech`` of speech;
- content: exactly one command phrase and nothing else, no ``[unk]``,
  every word at least ``min_confidence``;
- fit: the command's sounds fit the audio nearly as well as the best any
  sounds could (``min_fit``, a likelihood ratio against an unconstrained
  loop of the model's sounds), so speech forced onto a command is refused;
  a wake word, long and always the same, is held to more (``min_wake_fit``);
- deafness while the device itself speaks or chimes and ``deaf_after`` it;
- a ``refractory`` time after a command.

Every accepted command is answered by the engine's "heard" cue, so a wrong
one is noticed and "terug" undoes it.

Nothing of what is said is kept: audio lives in memory for the utterance
being decided and is dropped; recognised words never leave the gate. The
log names the command acted on and counts rejections by reason only.

Over a recording (the same pipeline as live)::

    rec = PocketSphinxRecogniser(PhraseTable.for_language("en"))
    for seconds, command in commands_in_file("chair.wav", rec):
        print(f"{seconds:.2f} {command.value}")

Live, with the microphone, onto the engine's queue::

    listener = Listener(rec, commands, settings=VoiceSettings(),
                        is_device_speaking=sound.is_busy, mic_light=panel.mic_light)
    listener.start()        # mic light on
    listener.set_language("en")   # a method in English starts
    listener.stop()         # mic light off
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time
import wave
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from intervisor.sound import portaudio
from intervisor.core.events import Command, Cue, Play, Say
from intervisor.voice.recognise import (
    PhraseTable,
    Recogniser,
    RecogniserSpec,
    VoiceUnavailable,
    approximate_phones,
)

log = logging.getLogger("intervisor.voice")

FRAME_SECONDS = 0.03

# Where the installer puts the Vosk model when the config names none.
DEFAULT_VOSK_MODEL = "/var/lib/intervisor/vosk-model"

UNAVAILABLE_NOTICE = {
    "nl": "Spraakbediening werkt nu niet. De knop werkt wel.",
    "en": "Voice commands are not working right now. The button still works.",
}


@dataclass(frozen=True)
class VoiceSettings:
    """The gate's thresholds (seconds, decibels). Switching a defence off
    (``pre_silence=0``, ``max_speech=inf``...) is how the benchmark shows
    what each one is worth."""

    pre_silence: float = 0.7     # longer than a sentence pause in the conversation
    # It sets the latency. Short, because a two-word phrase is seldom a whole
    # reply ("Yes." was forced onto a one-word command); a pause inside a
    # sentence then ends an utterance, which the shape checks below reject
    # (bench: 0.2 s fired in noisy talk, 0.24 s with them did not). Eight
    # 30 ms frames; 0.25 s took nine, and those 30 ms more of waiting bought
    # one false command fewer on the held-out replies (5 instead of 6) at a
    # median of 305 ms from the end of speech instead of 278.
    post_silence: float = 0.24
    # What was heard so far only begins a phrase ("next", a stop before
    # "step"): wait this long for the rest.
    join_silence: float = 0.6
    min_speech: float = 0.12
    max_speech: float = 1.5      # "hoeveel tijd", slowly, fits
    # More speech allowed when a wake word comes first; None: as long as a
    # slow speaker takes for it, 0.125 s per sound of its spelling (1.0 s
    # for "computer", which the bench uses; 1.25 s for "intervisor").
    wake_allowance: float | None = None
    min_confidence: float = 0.6
    # Of the speech, the command's words must fill this much; None: the
    # recogniser's own (alignments differ: PocketSphinx 0.8, Vosk 0.7).
    min_coverage: float | None = None
    # Nats per frame that a command word may fit worse than a free loop of
    # sounds on the same audio; None: the recogniser's own (PocketSphinx
    # -6; Vosk has no such score and relies on ``min_confidence``). -inf
    # switches it off.
    min_fit: float | None = None
    # The same for the wake word on its own, when there is one: None, the
    # recogniser's own (PocketSphinx -2.25; Vosk has no such score).
    min_wake_fit: float | None = None
    min_phone_seconds: float = 0.05  # a command squeezed faster than this is something else
    max_phone_seconds: float = 0.2   # and so is one stretched slower (espeak's slowest: 0.16)
    # A command whose fit (PocketSphinx) is below confirm_fit must be
    # followed by confirm_silence of silence, not only post_silence: a
    # sentence that starts like a command and goes on after a comma ("Pause
    # for a second, and then ask her again." as "pause session") is refused
    # when it goes on. Most commands fit better and keep the short wait.
    # Bench, short replies said alone in 20 dB pink noise (all six sets):
    # 18 false commands without it, 16 with it; the set written before it
    # was chosen, 5 -> 4. Commands 70 of 70 either way. -inf: never.
    confirm_fit: float = -3.0
    confirm_silence: float = 0.55
    deaf_after: float = 0.5      # the room's echo of the device's own voice
    refractory: float = 1.0
    margin_db: float = 12.0      # speech starts this far above the noise floor
    hold_margin_db: float = 6.0  # and goes on while above this, so soft sounds in noise are not a pause
    floor_db: float = 30.0       # and never quieter than this (int16 RMS in dB)
    preroll: float = 0.5         # audio fed to the recogniser before the onset
    # The room heard first, before anything is judged, so the recogniser's
    # normalisation starts from this room (Recogniser.adapt); 0: not.
    adapt_seconds: float = 1.5
    require_unk_free: bool = True
    # A faint, fixed noise (dBFS RMS) under everything the recogniser
    # hears, never under what the energy detector judges: a noise-gated
    # microphone, a speakerphone or a file gives exact zeros between
    # words, and PocketSphinx's features of zeros (log of nothing) pull
    # its cepstral mean far under any speech: 30 of 84 commands heard
    # between exact zeros, 83 of 84 with -60 dBFS of noise under them
    # (issue 21). Any real room is louder than this. -inf: none.
    dither_db: float = -60.0

    # The config file's names for some of these.
    ALIASES = {"deaf_after": "deaf_after_speech"}

    @classmethod
    def from_mapping(cls, values: Any) -> "VoiceSettings":
        """From the config's ``voice`` section (mapping or object); unknown
        keys are the config's business, not ours.

        >>> VoiceSettings.from_mapping({"deaf_after_speech": 1, "refractory": 2}).deaf_after
        1.0
        """
        def get(name):
            return values.get(name) if hasattr(values, "get") else getattr(values, name, None)

        out = {}
        for f in fields(cls):
            v = get(f.name)
            if v is None and f.name in cls.ALIASES:
                v = get(cls.ALIASES[f.name])
            if v is not None:
                out[f.name] = float(v) if f.default is None else type(f.default)(v)
        return cls(**out)


WAKE_SECONDS_PER_SOUND = 0.125


def wake_allowance(wake_word: str | None, settings: VoiceSettings) -> float:
    """How much longer an utterance may be when it must start with
    ``wake_word``: the setting when given, else the wake word's length.

    >>> wake_allowance("computer", VoiceSettings()), wake_allowance(None, VoiceSettings())
    (1.0, 0.0)
    >>> wake_allowance("computer", VoiceSettings(wake_allowance=0.6))
    0.6
    """
    if not wake_word:
        return 0.0
    if settings.wake_allowance is not None:
        return settings.wake_allowance
    return WAKE_SECONDS_PER_SOUND * sum(approximate_phones(w) for w in wake_word.split())


class Dither:
    """Adds the same faint white noise to every stream, block by block:
    deterministic (a fixed seed, a fixed one-second pattern repeated), so
    a recording is heard the same every time.

    >>> d = Dither(-60.0, 16000)
    >>> x = np.frombuffer(d.apply(bytes(960)), np.int16)
    >>> 20 < float(np.sqrt(np.mean(x.astype(float) ** 2))) < 45
    True
    >>> Dither(-math.inf, 16000).apply(bytes(4)) == bytes(4)
    True
    """

    def __init__(self, dbfs: float, rate: int, seed: int = 21):
        self._noise = None
        if dbfs > -math.inf:
            level = 32768.0 * 10 ** (dbfs / 20)
            self._noise = np.round(np.random.default_rng(seed).normal(0.0, level, rate)).astype(np.int32)
        self._at = 0

    def apply(self, pcm: bytes) -> bytes:
        if self._noise is None or not pcm:
            return pcm
        x = np.frombuffer(pcm, np.int16).astype(np.int32)
        idx = (self._at + np.arange(len(x))) % len(self._noise)
        self._at = int((self._at + len(x)) % len(self._noise))
        return np.clip(x + self._noise[idx], -32768, 32767).astype(np.int16).tobytes()


class EnergyDetector:
    """Speech or not, per frame, against a noise floor that follows the room:
    it drops at once to a quieter frame and rises slowly, so a fan or a
    street does not count as speech and speech does not become the floor.

    >>> d = EnergyDetector(VoiceSettings())
    >>> d.is_speech(np.zeros(480, np.int16), 0.03)
    False
    >>> d.is_speech((np.sin(np.arange(480)) * 8000).astype(np.int16), 0.03)
    True
    """

    RISE_DB_PER_SECOND = 1.0
    # A frame this quiet (RMS under about two steps of 16 bits) is digital
    # silence: a file's, a muted source's, a stream's first blocks; no room
    # is that quiet through a microphone, so it says nothing about the
    # room and never moves the floor. (Dropping the floor to it made the
    # room's noise after it count as speech for half a minute while the
    # floor rose again.)
    DIGITAL_SILENCE_DB = 6.0
    # Sound that follows a start in digital silence is judged against
    # floor_db alone this long, while the floor settles on its quietest
    # frame: it may be the room (found in that time) or speech (heard).
    LEARN_SECONDS = 0.5

    def __init__(self, settings: VoiceSettings):
        self.settings = settings
        self.noise_db: float | None = None
        self.last_db = 0.0   # the level of the frame last judged
        self._learn_left: float | None = None   # set by a start in digital silence

    @staticmethod
    def level_db(frame: np.ndarray) -> float:
        x = frame.astype(np.float32)
        return 10.0 * math.log10(float(np.dot(x, x)) / max(len(x), 1) + 1.0)

    def is_speech(self, frame: np.ndarray, seconds: float, going: bool = False) -> bool:
        """``going``: speech was heard just before, so a softer frame
        still counts (hysteresis)."""
        db = self.last_db = self.level_db(frame)
        if db < self.DIGITAL_SILENCE_DB:
            if self.noise_db is None and self._learn_left is None:
                self._learn_left = self.LEARN_SECONDS
            return False
        if self._learn_left is not None and self._learn_left > 0:
            self._learn_left -= seconds
            self.noise_db = db if self.noise_db is None else min(self.noise_db, db)
            return db > self.settings.floor_db
        if self.noise_db is None or db < self.noise_db:
            self.noise_db = db
        else:
            self.noise_db += self.RISE_DB_PER_SECOND * seconds
        margin = self.settings.hold_margin_db if going else self.settings.margin_db
        return db > max(self.noise_db + margin, self.settings.floor_db)


class CommandGate:
    """Finds isolated short utterances, has them recognised, and emits a
    command only when every defence agrees.

    Fed with 16-bit mono frames at the recogniser's rate and the audio time
    at the end of each frame; calls ``emit(seconds, command)``::

        gate = CommandGate(rec, emit=lambda t, c: q.put(c))
        gate.feed(pcm_bytes, end_seconds)

    ``rejections`` counts why utterances were not acted on (never what
    they were). ``acts_on(command)`` says whether the device would do
    anything with a command now (:meth:`intervisor.table.runner.Device.accepts_by_voice`);
    one it would not is dropped as ``not_now``, unanswered: "resume
    session" heard with nothing paused, or "pause session" before a
    session, gets no heard cue in the conversation. ``starts_in_silence``:
    the audio before the first sample counts as silence (a recording,
    whose command may start at once; never a microphone, which may open
    in the middle of a sentence)."""

    def __init__(self, recogniser: Recogniser, emit: Callable[[float, Command], None], *,
                 settings: VoiceSettings | None = None, table: PhraseTable | None = None,
                 is_device_speaking: Callable[[], bool] | None = None,
                 acts_on: Callable[[Command], bool] | None = None, starts_in_silence: bool = False):
        self.rec = recogniser
        self.table = table or recogniser.table
        self.settings = settings or VoiceSettings()
        self.emit = emit
        self.is_device_speaking = is_device_speaking or (lambda: False)
        self.acts_on = acts_on
        self.detector = EnergyDetector(self.settings)
        # Only for a recogniser that wants it: Kaldi (Vosk) dithers its own
        # features, and more noise moved its Korean test commands.
        wants = getattr(recogniser, "needs_dither", True)
        self.dither = Dither(self.settings.dither_db if wants else -math.inf, recogniser.sample_rate)
        self.max_speech = self.settings.max_speech + wake_allowance(self.table.wake_word, self.settings)
        self.frame = int(round(FRAME_SECONDS * recogniser.sample_rate))
        self.frame_seconds = self.frame / recogniser.sample_rate
        self.rejections: collections.Counter[str] = collections.Counter()
        self.accepted = 0
        self._pending = b""
        self._was_speech = False
        self._preroll: collections.deque[bytes] = collections.deque(
            maxlen=max(1, int(round(self.settings.preroll / self.frame_seconds))))
        # Silence before the current point. A recording starts in silence
        # (a WAV whose command is its first sample); a microphone may open
        # in the middle of a sentence.
        self._silence = self.settings.pre_silence if starts_in_silence else 0.0
        self._listening = False
        self._start = 0.0           # onset of the utterance being heard
        self._speech_end = 0.0
        self._gap = 0.0             # silence since its last speech
        self._deaf_until = -math.inf
        self._quiet_until = -math.inf  # refractory
        self._held: Command | None = None  # decided, waiting for confirm_silence
        self._room: list[bytes] | None = [] if self.settings.adapt_seconds > 0 else None
        self._room_frames = max(1, int(round(self.settings.adapt_seconds / self.frame_seconds)))

    def reset(self) -> None:
        """Forget the utterance being heard (the audio before a reopened
        stream does not join the audio after it); thresholds, the noise
        floor and the refractory time stay."""
        if self._listening:
            self.rec.cancel()
        self._listening = False
        self._held = None
        self._pending = b""
        self._was_speech = False
        self._preroll.clear()
        self._silence = 0.0

    def feed(self, pcm: bytes, end_seconds: float) -> None:
        """``pcm`` ends at ``end_seconds`` of audio time."""
        data = self._pending + pcm
        step = self.frame * 2
        n = len(data) // step
        self._pending = data[n * step:]
        rate = self.rec.sample_rate
        for i in range(n):
            chunk = data[i * step:(i + 1) * step]
            self._frame(chunk, end_seconds - (len(data) - (i + 1) * step) / 2 / rate)

    def flush(self, end_seconds: float) -> None:
        """The recording ended: decide what is being heard as if silence
        followed (a file that stops right after a command)."""
        # Long enough for every wait: the silence after, the rest of a
        # phrase, and a held command's longer silence after that.
        s = self.settings
        after = max(s.post_silence, s.join_silence, s.confirm_silence)
        pad = b"\0" * (2 * int(after * self.rec.sample_rate + 3 * self.frame))
        self.feed(pad, end_seconds + len(pad) / 2 / self.rec.sample_rate)

    def _frame(self, chunk: bytes, t: float) -> None:
        s = self.settings
        if self.is_device_speaking():
            self._deaf_until = t + s.deaf_after
        speech = self.detector.is_speech(np.frombuffer(chunk, np.int16), self.frame_seconds,
                                         going=self._was_speech)
        chunk = self.dither.apply(chunk)   # the recogniser's copy only
        if self._room is not None:
            self._gather_room(chunk)
        self._was_speech = speech
        if self._listening:
            self.rec.feed(chunk)
            if t < self._deaf_until:
                self._drop("deaf")
            elif speech:
                self._gap = 0.0
                self._speech_end = t
                if t - self._start > self.max_speech:
                    self._drop("too_long")
            else:
                self._gap += self.frame_seconds
                # (less a hair: a sum of frame lengths may fall just short of it)
                if self._gap >= s.post_silence - 1e-6 and not (
                        self._gap < s.join_silence and self.table.begins(self.rec.partial())):
                    self._decide(t)
            return
        if self._held is not None:
            if speech or t < self._deaf_until:
                self._held = None
                self.rejections["speech_after"] += 1
            elif self._silence + self.frame_seconds >= s.confirm_silence - 1e-6:
                command, self._held = self._held, None
                self._accept(t, command)
        if not speech:
            self._silence += self.frame_seconds
            self._preroll.append(chunk)
            return
        # An onset. Only one that follows enough silence may be a command.
        if self._silence < s.pre_silence:
            self._count_onset("no_silence_before")
        elif t < self._deaf_until:
            self._count_onset("deaf")
        elif t < self._quiet_until:
            self._count_onset("refractory")
        else:
            self._adapt_early()
            self._listening = True
            self._start = t - self.frame_seconds
            self._speech_end = t
            self._gap = 0.0
            self.rec.begin()
            for old in self._preroll:
                self.rec.feed(old)
            self.rec.feed(chunk)
        self._preroll.clear()
        self._silence = 0.0

    def _gather_room(self, chunk: bytes) -> None:
        if len(self._room) < self._room_frames:
            # Any room, quiet or digital silence too: the chunk carries the
            # dither, so the mean moves to a floor a microphone could give.
            # (Before the dither, a near-silent room made it worse, and
            # only rooms above floor_db were heard: 11 of 35 commands
            # between exact zeros; with both, 35 of 35, and 35 of 35 at
            # 60, 45 and 20 dB under the speech; espeak-ng, tuning voices.)
            self._room.append(chunk)
        elif not self._listening:   # never inside an utterance being heard
            room, self._room = b"".join(self._room), None
            self.rec.adapt(room)

    def _adapt_early(self) -> None:
        # An utterance before the room was heard out: what there is of the
        # room before it (the recogniser takes half a second or more) is
        # better than the built-in guess (less than half a second: the
        # gathering goes on through the utterance, and the recogniser hears
        # it all after). A first "next step" one second
        # into a file of exact zeros was heard as the decoy "thank you"
        # without this, with the dither under it.
        if self._room is not None and len(self._room) * self.frame_seconds >= 0.5:
            room, self._room = b"".join(self._room), None
            self.rec.adapt(room)

    def _count_onset(self, reason: str) -> None:
        # Only the first onset of a stretch of speech counts, or a long
        # story would count once per syllable.
        if self._silence >= self.frame_seconds * 3:
            self.rejections[reason] += 1

    def _drop(self, reason: str) -> None:
        self.rec.cancel()
        self._listening = False
        self._silence = 0.0
        self.rejections[reason] += 1

    def _decide(self, t: float) -> None:
        s = self.settings
        self._listening = False
        self._silence = self._gap
        hearing = self.rec.finish()
        length = self._speech_end - self._start
        if length < s.min_speech:
            self.rejections["too_short"] += 1
            return
        if hearing.rejected and s.require_unk_free:
            self.rejections["unknown_speech"] += 1
            return
        command = self.table.match(hearing.texts)
        if command is None:
            self.rejections["reply" if self.table.is_decoy(hearing.texts) else "not_a_command"] += 1
            return
        if hearing.confidence < s.min_confidence:
            self.rejections["low_confidence"] += 1
            return
        min_fit = s.min_fit if s.min_fit is not None else self.rec.min_fit
        if hearing.fit is not None and hearing.fit < min_fit:
            # Something else, forced onto a command by the grammar.
            self.rejections["poor_fit"] += 1
            return
        if hearing.wake_fit is not None:
            min_wake = s.min_wake_fit if s.min_wake_fit is not None else self.rec.min_wake_fit
            if hearing.wake_fit < min_wake:
                # Speech forced onto the wake word: the reply ran on into
                # a command's sounds ("How did she take it?").
                self.rejections["poor_wake_fit"] += 1
                return
        pace = hearing.seconds_per_phone
        coverage = s.min_coverage if s.min_coverage is not None else self.rec.min_coverage
        if (hearing.seconds < coverage * length
                or (pace and not s.min_phone_seconds <= pace <= s.max_phone_seconds)):
            # The grammar forces every sound onto a command; a sentence
            # comes out as a command word stretched or with speech left over.
            self.rejections["wrong_shape"] += 1
            return
        if hearing.fit is not None and hearing.fit < s.confirm_fit:
            self._held = command
            return
        self._accept(t, command)

    def _accept(self, t: float, command: Command) -> None:
        if not self._acted_on(command):
            self.rejections["not_now"] += 1
            return
        self.accepted += 1
        self._quiet_until = t + self.settings.refractory
        log.info("voice: command %s", command.value)
        self.emit(t, command)

    def _acted_on(self, command: Command) -> bool:
        if self.acts_on is None:
            return True
        try:
            return bool(self.acts_on(command))
        except Exception:
            # The device's state is the device's business: if asking fails,
            # act as before there was a question, rather than go deaf.
            log.exception("voice: could not ask whether %s applies now", command.value)
            return True


class Resampler:
    """16-bit mono from the device's rate to the recogniser's, with soxr's
    streaming filter (correct anti-aliasing; the state carries across
    blocks, so block edges leave no clicks).

    >>> r = Resampler(48000, 16000)
    >>> len(r.process(b"\\0\\0" * 4800)) + len(r.flush()) == 2 * 1600
    True
    """

    def __init__(self, rate_in: int, rate_out: int):
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self._stream = None
        if self.rate_in != self.rate_out:
            import soxr

            self._stream = soxr.ResampleStream(self.rate_in, self.rate_out, 1, dtype="int16",
                                               quality="HQ")

    def process(self, pcm: bytes) -> bytes:
        if self._stream is None:
            return pcm
        return self._stream.resample_chunk(np.frombuffer(pcm, np.int16)).tobytes()

    def flush(self) -> bytes:
        if self._stream is None:
            return b""
        return self._stream.resample_chunk(np.zeros(0, np.int16), last=True).tobytes()


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """16-bit PCM from a WAV file, mixed down to mono; a clear error for
    anything else."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise ValueError(f"{path}: 16-bit PCM WAV needed, this has {8 * w.getsampwidth()}-bit samples")
            rate, channels = w.getframerate(), w.getnchannels()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a PCM WAV file ({e})") from None
    # A file cut off inside a frame: its whole frames.
    data = data[:len(data) - len(data) % (2 * channels)]
    if channels > 1:
        x = np.frombuffer(data, np.int16).reshape(-1, channels).astype(np.int32).mean(axis=1)
        data = x.astype(np.int16).tobytes()
    return data, rate


def commands_in_pcm(pcm: bytes, rate: int, recogniser: Recogniser, *,
                    settings: VoiceSettings | None = None, table: PhraseTable | None = None,
                    is_device_speaking_at: Callable[[float], bool] | None = None,
                    block_seconds: float = 0.05,
                    acts_on: Callable[[Command], bool] | None = None,
                    gate_out: list | None = None) -> list[tuple[float, Command]]:
    """Run the live pipeline (resample, gate, recogniser) over audio that is
    already here, block by block as a microphone would deliver it. Times
    are seconds into the audio at which each command was decided.
    ``is_device_speaking_at(seconds)`` stands in for the sound adapter."""
    found: list[tuple[float, Command]] = []
    now = [0.0]
    speaking = (lambda: is_device_speaking_at(now[0])) if is_device_speaking_at else None
    gate = CommandGate(recogniser, lambda t, c: found.append((t, c)), settings=settings,
                       table=table, is_device_speaking=speaking, acts_on=acts_on, starts_in_silence=True)
    if gate_out is not None:
        gate_out.append(gate)
    resampler = Resampler(rate, recogniser.sample_rate)
    block = 2 * max(1, int(rate * block_seconds))
    out_samples = 0
    for i in range(0, len(pcm), block):
        now[0] = (i // 2) / rate
        chunk = resampler.process(pcm[i:i + block])
        out_samples += len(chunk) // 2
        gate.feed(chunk, out_samples / recogniser.sample_rate)
    tail = resampler.flush()
    out_samples += len(tail) // 2
    gate.feed(tail, out_samples / recogniser.sample_rate)
    gate.flush(out_samples / recogniser.sample_rate)
    return found


def commands_in_file(path: str | Path, recogniser: Recogniser, **kwargs) -> list[tuple[float, Command]]:
    pcm, rate = read_wav(path)
    return commands_in_pcm(pcm, rate, recogniser, **kwargs)


class Microphone:
    """A sounddevice input stream (mono, 16-bit) at the device's own rate,
    whose callback only copies blocks into a bounded queue; a full queue
    drops the block and counts it, so the audio thread never waits.

    The microphone light is on exactly while the stream is open::

        mic = Microphone(light=panel.mic_light)
        mic.open()
        block = mic.read(timeout=0.5)
        if block is None and not mic.alive():
            mic.reopen()        # light off, and on again if it opened (else VoiceUnavailable)
        mic.close()

    A stream can die under us: the sound adapter's PortAudio restart
    (:func:`intervisor.sound.portaudio.restart`, to find a speaker plugged in
    later) frees every stream of the process, and a USB microphone can be
    pulled. :meth:`alive` notices (a restart since the stream was opened,
    the stream says it is not active, or no block came for
    ``stall_after`` seconds) and the :class:`Listener` reopens it; a
    stream freed by a restart is dropped, never touched.
    """

    def __init__(self, *, device: Any = None, rate: int | None = None, block_seconds: float = 0.03,
                 queue_blocks: int = 128, light: Any = None, stream_class: Any = None,
                 stall_after: float = 1.0, start_grace: float = 3.0):
        self.device = device
        self.rate = rate
        self._given_rate = rate     # None: asked of the device at every open (another may be plugged in)
        self.block_seconds = block_seconds
        # 128 blocks of 30 ms: almost 4 s, room for the recogniser's one-off
        # adapt to the room (0.7 s of a core here, more on a Pi).
        self.light = light
        self.blocks: queue.Queue[tuple[bytes, bool, bool]] = queue.Queue(maxsize=queue_blocks)
        # Asked in the callback, as each block is heard: was the device
        # itself making sound then? (The reader may be seconds behind.)
        self.speaking: Callable[[], bool] | None = None
        self.block_speaking = False  # of the block last read
        self.gap_before = False      # blocks were lost just before the block last read
        self._lost = False
        self.overflows = 0          # blocks we dropped: the reader fell behind
        self.input_overflows = 0    # blocks PortAudio lost before us
        self.reopens = 0            # streams that died and were opened again
        self.delivered = 0          # blocks the stream delivered
        self.stall_after = stall_after
        # A sound server may deliver nothing for a second or two after a
        # stream starts: not a dead stream.
        self.start_grace = start_grace
        self._stream_class = stream_class
        self._stream = None
        self._opened_at = 0          # portaudio.restarts() when it was opened
        self._last_block = 0.0
        # The voice thread reopens while the service's thread may close
        # (shutdown): one at a time, so no stream is opened after a close
        # without it being seen.
        self._lock = threading.RLock()

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    @property
    def stream(self) -> Any:
        """The input stream while open, else None."""
        return self._stream

    def open(self) -> None:
        """Open the stream and light the light; nothing if already open.
        A light that cannot be lit closes the stream again: nobody may be
        heard without being shown it."""
        with self._lock, portaudio.LOCK:
            if self._stream is not None:
                return
            stream = None
            try:
                if self._stream_class is None or self._given_rate is None:
                    # Only now: PortAudio finds the sound server at its start.
                    sd = portaudio.sounddevice()
                cls = self._stream_class or sd.RawInputStream
                if self._given_rate is None:
                    info = sd.query_devices(self.device, "input")
                    self.rate = int(info["default_samplerate"])
                stream = cls(samplerate=self.rate, channels=1, dtype="int16", device=self.device,
                             blocksize=int(self.rate * self.block_seconds), callback=self._callback)
                self._last_block = time.monotonic() + self.start_grace
                stream.start()
            except Exception as e:
                # A stream made but not started still holds PortAudio's
                # device (sounddevice has no finaliser): close it here.
                _close_quietly(stream)
                raise VoiceUnavailable(f"no microphone ({type(e).__name__}: {e})") from None
            if self.light is not None:
                try:
                    self.light.on()
                except Exception as e:
                    _close_quietly(stream)
                    self._drain()
                    raise VoiceUnavailable(
                        f"the microphone light cannot be lit ({type(e).__name__}: {e}); "
                        "the microphone stays closed") from None
            self._stream = stream
            self._opened_at = portaudio.restarts()

    def _freed(self) -> bool:
        # Under portaudio.LOCK: PortAudio restarted since this stream opened.
        return portaudio.restarts() != self._opened_at

    def _callback(self, indata, frames, time_info, status) -> None:
        self._last_block = time.monotonic()
        self.delivered += 1
        if status and getattr(status, "input_overflow", False):
            self.input_overflows += 1
            self._lost = True
        spoke = False
        if self.speaking is not None:
            try:
                spoke = bool(self.speaking())
            except Exception:
                spoke = False
        try:
            self.blocks.put_nowait((bytes(indata), spoke, self._lost))
            self._lost = False
        except queue.Full:
            self.overflows += 1
            self._lost = True

    def read(self, timeout: float) -> bytes | None:
        try:
            block, self.block_speaking, self.gap_before = self.blocks.get(timeout=timeout)
        except queue.Empty:
            return None
        return block

    def alive(self) -> bool:
        """Open, delivering, and active as PortAudio sees it."""
        stream = self._stream
        if stream is None:
            return False
        if time.monotonic() - self._last_block > self.stall_after:
            return False
        with portaudio.LOCK:
            # Closed meanwhile by another thread (shutdown), or freed by a
            # restart: not to be asked anything.
            if self._stream is not stream or self._freed():
                return False
            try:
                return bool(getattr(stream, "active", True))
            except Exception:  # a stream PortAudio no longer knows
                return False

    def reopen(self) -> None:
        """Close what is left of the stream and open a new one; like
        :meth:`open`, :class:`VoiceUnavailable` (and the light off) when no
        microphone can be opened now."""
        with self._lock:
            self.close()
            self.open()
            self.reopens += 1

    def close(self) -> None:
        # Not forever behind a reopen that hangs in PortAudio (a vanishing
        # USB device): shutdown goes on, and the voice thread closes what
        # it opened on its way out.
        locked = self._lock.acquire(timeout=2.0)
        try:
            stream, self._stream = self._stream, None
            if stream is not None:
                try:
                    # Not got (an open hanging in PortAudio): left untouched
                    # rather than closed while PortAudio may be restarting.
                    with portaudio.held(2.0) as got:
                        if got and not self._freed():
                            _close_quietly(stream)
                finally:
                    if self.light is not None:
                        self.light.off()
            self._drain()
        finally:
            if locked:
                self._lock.release()

    def _drain(self) -> None:
        while not self.blocks.empty():  # what was said is not kept
            try:
                self.blocks.get_nowait()
            except queue.Empty:
                break


def _close_quietly(stream: Any) -> None:
    """Abort and close a stream; one that died with PortAudio (a rescan) or
    never started cannot be stopped, and is gone either way. Abort, not
    stop: the audio still buffered is not wanted, and stop waits for it
    (which a pulled USB microphone may never deliver)."""
    if stream is None:
        return
    for step in ("abort" if hasattr(stream, "abort") else "stop", "close"):
        try:
            getattr(stream, step)()
        except Exception:
            pass


class Listener:
    """The live voice path: microphone → resampler → gate → ``Command`` on
    the engine's queue. Its thread only ever puts on the queue.

    >>> # listener = Listener(rec, commands, is_device_speaking=sound.is_busy,
    >>> #                     mic_light=panel.mic_light); listener.start()

    It listens in the language of what is running: with ``recognisers``
    (a language -> recogniser factory, e.g. from the config's models), the
    runner calls ``listener.set_language(method.language)`` when a session
    starts. Each language's recogniser is built once, in the voice thread
    (a model takes seconds to load; the caller never waits), and kept. A
    language with no model is said once in the log; the microphone then
    closes (its light goes off) until a language with one comes back, and
    the button works throughout.

    A microphone stream that dies (a PortAudio rescan, a pulled USB
    microphone) is reopened every ``retry_every`` seconds until it opens.
    A microphone that stays away, or a voice thread that fails, is said
    once in the log and kept in :attr:`fault`, which the service reads to
    light the voice fault; the microphone's return is said once too. The
    button works throughout.
    """

    def __init__(self, recogniser: Recogniser, commands: "queue.Queue[Command]", *,
                 settings: VoiceSettings | None = None, table: PhraseTable | None = None,
                 is_device_speaking: Callable[[], bool] | None = None,
                 mic_light: Any = None, microphone: Microphone | None = None,
                 device: Any = None, on_command: Callable[[Command], None] | None = None,
                 language: str | None = None,
                 recognisers: Callable[[str], Recogniser] | None = None,
                 acts_on: Callable[[Command], bool] | None = None,
                 retry_every: float = 2.0):
        self.recogniser = recogniser
        self.commands = commands
        self.settings = settings
        self.is_device_speaking = is_device_speaking
        self.on_command = on_command  # e.g. heard_cue(sound): the chair hears it was taken
        self.acts_on = acts_on          # e.g. Device.accepts_by_voice: commands that would do nothing drop
        self.microphone = microphone or Microphone(device=device, light=mic_light)
        self.microphone.speaking = is_device_speaking
        self.gate = CommandGate(recogniser, self._emit, settings=settings, table=table,
                                is_device_speaking=self._speaking, acts_on=acts_on)
        self.retry_every = retry_every
        self.language = language or getattr(getattr(recogniser, "table", None), "language", None)
        self._recognisers = recognisers
        self._built: dict[str, Recogniser] = {self.language: recogniser} if self.language else {}
        self._unavailable: dict[str, str] = {}   # language -> why, said once
        self._wanted = self.language
        self._switched = threading.Event()
        self._switched.set()
        # set_language and the end of a switch: so that a switch that ends
        # while another is asked for does not say the newer one is done.
        self._switch_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._running = False   # started and not stopped: only then is the microphone opened
        self.failed: str | None = None   # why the voice thread stopped for good
        self.mic_missing: str | None = None  # why the microphone cannot be opened now
        # The last commands only, for status.
        self.heard: collections.deque[tuple[float, Command]] = collections.deque(maxlen=100)

    def _speaking(self) -> bool:
        # The device made sound when the block being judged was heard, or
        # makes sound now.
        return self.microphone.block_speaking or bool(
            self.is_device_speaking is not None and self.is_device_speaking())

    def _emit(self, t: float, command: Command) -> None:
        self.heard.append((t, command))
        self.commands.put(command)
        if self.on_command is not None:
            try:
                self.on_command(command)
            except Exception:
                log.exception("voice: the heard cue failed")

    @property
    def overflows(self) -> int:
        return self.microphone.overflows + self.microphone.input_overflows

    @property
    def thread(self) -> threading.Thread | None:
        """The voice thread, from :meth:`start` until :meth:`stop` has
        waited for it (it may outlive a stop that gave up waiting)."""
        return self._thread

    @property
    def listening(self) -> bool:
        """The microphone is open and its recogniser fits the language."""
        return (self.microphone.is_open and self.language not in self._unavailable
                and self.failed is None)

    @property
    def fault(self) -> str | None:
        """Why voice commands are off now (for the service's fault light),
        or None."""
        return self.failed or self.mic_missing

    def _open_microphone(self, *, again: bool = False) -> bool:
        """Open (or reopen) the microphone if the listener runs; a failure
        is said once, however often it is retried, and its end too."""
        if not self._running:
            return False
        try:
            (self.microphone.reopen if again else self.microphone.open)()
        except VoiceUnavailable as e:
            if self._running and self.mic_missing is None:
                self.mic_missing = str(e)
                log.warning("voice: %s; voice commands are off until it is back, the button works", e)
            return False
        # (Stopped while it opened: nothing to say; the voice thread closes
        # the microphone on its way out.)
        if self._running and self.mic_missing is not None:
            self.mic_missing = None
            log.info("voice: the microphone is back")
        return True

    def set_language(self, language: str) -> None:
        """Listen in ``language`` from now on; returns at once (the voice
        thread switches between two blocks of audio)."""
        with self._switch_lock:
            if language == self._wanted:
                return
            self._wanted = language
            self._switched.clear()
        if self._thread is None:
            self._switch()

    def wait_switched(self, timeout: float) -> bool:
        """True once the last :meth:`set_language` has taken effect."""
        return self._switched.wait(timeout)

    def _switch(self) -> None:
        language = self._wanted
        if language == self.language:
            self._switch_done()
            return
        rec = self._built.get(language)
        if rec is None and language not in self._unavailable:
            try:
                if self._recognisers is None:
                    raise VoiceUnavailable("no recogniser factory for other languages")
                rec = self._built[language] = self._recognisers(language)
            except VoiceUnavailable as e:
                self._unavailable[language] = str(e)
                log.warning("voice: no voice commands in %s (%s); the button works", language, e)
            except Exception as e:  # a broken model must not stop the voice thread
                self._unavailable[language] = f"{type(e).__name__}: {e}"
                log.exception("voice: no voice commands in %s; the button works", language)
        self.gate.reset()
        self.language = language
        if rec is None:
            self.microphone.close()   # not listening: the light says so
            self.mic_missing = None   # nor needing one: no microphone fault either
        else:
            if not self.microphone.is_open:
                self._open_microphone()   # on failure the voice thread tries again
            self.recogniser = rec
            old = self.gate
            self.gate = CommandGate(rec, self._emit, settings=self.settings,
                                    is_device_speaking=self._speaking,
                                    acts_on=self.acts_on)
            self.gate.rejections = old.rejections
            self.gate.accepted = old.accepted
            self.gate.detector = old.detector   # the same room: its floor stays
        self._switch_done()

    def _switch_done(self) -> None:
        with self._switch_lock:
            if self._wanted == self.language:
                self._switched.set()

    def start(self) -> None:
        """Open the microphone (:class:`VoiceUnavailable` if there is none)
        and listen in a thread of its own."""
        if self.language not in self._unavailable:
            self.microphone.open()
        self._stop.clear()
        self._running = True
        self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        mic = self.microphone
        resampler = None
        samples = 0
        next_try = 0.0
        try:
            while not self._stop.is_set():
                if self._wanted != self.language or not self._switched.is_set():
                    self._switch()
                    resampler = None
                if self.language in self._unavailable:
                    self._stop.wait(0.2)
                    continue
                if not mic.is_open:
                    if time.monotonic() < next_try:
                        self._stop.wait(0.2)
                        continue
                    if not self._open_microphone(again=True):
                        next_try = time.monotonic() + self.retry_every
                        continue
                    resampler = None
                block = mic.read(timeout=0.2)
                if block is None:
                    if mic.is_open and not mic.alive():
                        log.info("voice: the microphone stream stopped; opening it again")
                        self.gate.reset()
                        resampler = None
                        if not self._open_microphone(again=True):
                            next_try = time.monotonic() + self.retry_every
                    continue
                if mic.gap_before:
                    # Blocks were lost just before this one: what came before
                    # and what follows are not one stretch of audio (a
                    # sentence with its middle lost is not an isolated word).
                    self.gate.reset()
                if resampler is None:
                    resampler = Resampler(mic.rate, self.recogniser.sample_rate)
                pcm = resampler.process(block)
                samples += len(pcm) // 2
                self.gate.feed(pcm, samples / self.recogniser.sample_rate)
        except Exception as e:
            # The button keeps working; the voice path says once why it
            # stopped, and stops listening (the traceback names code, not
            # what was said).
            self.failed = f"voice commands stopped ({type(e).__name__})"
            log.exception("voice: listening stopped; the button works")
        finally:
            # Whatever ends this thread closes what it opened: a stop()
            # that gave up waiting (a model still loading) must not leave
            # the microphone open, or its light on, behind it.
            mic.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop listening and close the microphone. A voice thread still
        busy after ``timeout`` (a model loading) closes it again on its
        way out and opens nothing more."""
        self._running = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        self.microphone.close()

    close = stop


def heard_cue(sound: Any) -> Callable[[Command], None]:
    """Every accepted command answered by the "heard" chime, so a wrong one
    is noticed and undone: ``Listener(..., on_command=heard_cue(sound))``."""

    def cue(command: Command) -> None:
        sound.perform(Play(Cue.HEARD))

    return cue


def unavailable_notice(language: str) -> str:
    return UNAVAILABLE_NOTICE.get(language, UNAVAILABLE_NOTICE["en"])


def _setting(config: Any, dotted: str, default: Any = None) -> Any:
    node = config
    for key in dotted.split("."):
        if node is None:
            return default
        node = node.get(key) if hasattr(node, "get") else getattr(node, key, None)
    return default if node is None else node


def recogniser_factory(config: Any, start_language: str,
                       models: Mapping[str, str] | None = None) -> Callable[[str], Recogniser]:
    """A language -> recogniser builder from the config's ``voice``
    section, with ``models`` (a model folder per language) and ``model``
    as the start language's. PocketSphinx needs no folder for English (its
    wheel carries the model)::

        build = recogniser_factory({"voice": {"backend": "vosk", "model": "/opt/m/nl"}}, "nl",
                                   models={"en": "/opt/m/en"})
        rec = build("en")     # VoiceUnavailable when no model is configured for it
    """
    backend = _setting(config, "voice.backend", "vosk")
    model = _setting(config, "voice.model", None) or (DEFAULT_VOSK_MODEL if backend == "vosk" else None)
    wake_word = _setting(config, "voice.wake_word", None)
    models = dict(models or {})

    def build(language: str) -> Recogniser:
        folder = models.get(language) or (model if language == start_language else None)
        if backend == "vosk" and folder is None:
            raise VoiceUnavailable(f"no Vosk model configured for {language!r}")
        return RecogniserSpec(backend=backend, language=language, model=folder,
                              wake_word=wake_word).build()

    return build


def from_config(config: Any, commands: "queue.Queue[Command]", *, language: str = "nl",
                sound: Any = None, mic_light: Any = None,
                is_device_speaking: Callable[[], bool] | None = None,
                say: Callable[[Say], None] | None = None,
                models: Mapping[str, str] | None = None,
                acts_on: Callable[[Command], bool] | None = None) -> Listener:
    """Start listening as the config's ``voice`` section says (``backend``,
    ``model``, ``language``, ``wake_word``, ``device`` and the gate's
    thresholds); ``models`` gives a model folder for each other language
    a method may speak::

        listener = from_config(config, commands, language="nl",
                               sound=sound, mic_light=panel.mic_light)
        listener.set_language(method.language)   # when a session starts

    With ``sound`` (the sound adapter) the gate is deaf while it
    ``is_busy()``, every command is answered by its heard cue, and the
    notice below is spoken through it. With ``acts_on`` (the device's
    ``accepts``) a command the device would not act on now is dropped
    unanswered. On failure: say the short spoken
    notice and raise :class:`VoiceUnavailable` with the one message for the
    log; the button is untouched either way. A failure later (the
    microphone pulled, the voice thread failing) is logged once and kept in
    :attr:`Listener.fault`, not spoken: a Say interrupts the one playing,
    and the group may be in the middle of a prompt."""
    language = _setting(config, "voice.language", language)
    if sound is not None:
        is_device_speaking = is_device_speaking or sound.is_busy
        say = say or sound.perform
    try:
        build = recogniser_factory(config, language, models)
        recogniser = build(language)
        settings = VoiceSettings.from_mapping(_setting(config, "voice", {}) or {})
        listener = Listener(recogniser, commands, settings=settings,
                            is_device_speaking=is_device_speaking, mic_light=mic_light,
                            device=_setting(config, "voice.device", None),
                            on_command=heard_cue(sound) if sound is not None else None,
                            language=language, recognisers=build, acts_on=acts_on)
        listener.start()
        return listener
    except Exception as e:
        # Whatever stopped it (a model may break in ways of its own), the
        # room hears the one notice and the log gets one clear reason.
        if say is not None:
            say(Say((unavailable_notice(language),)))
        if isinstance(e, VoiceUnavailable):
            raise
        raise VoiceUnavailable(f"voice cannot start ({type(e).__name__}: {e})") from None
