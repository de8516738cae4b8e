"""Recognisers: turn one short utterance into the words heard in it.

The command gate (:mod:`intervisor.voice.listen`) finds the utterances and decides
what to act on; a recogniser only hears. Each backend decodes against a
restricted grammar of the language's command phrases, built once, so it is
fast and never transcribes the conversation.

>>> table = PhraseTable.for_language("en")
>>> table.match(["how", "much", "time"])
<Command.TIME: 'time'>
>>> table.match(["next", "time"]) is None
True
>>> table.begins(["how", "much"]), table.begins(["how", "much", "time"])
(True, False)

A recogniser is used one utterance at a time::

    rec = PocketSphinxRecogniser(PhraseTable.for_language("en"))
    rec.begin()
    rec.feed(pcm16_mono_at_rec_sample_rate)
    hearing = rec.finish()      # Hearing(words=(Word("next", 0.98),))
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol

from intervisor.core.events import Command
from intervisor.core.phrases import WAKE_OFF, WAKE_WORDS, wake_word_for  # noqa: F401  (recognise.WAKE_WORDS)

log = logging.getLogger("intervisor.recognise")

UNK = "[unk]"

# Two-word phrases, each word common enough for the small models: a pair is
# far harder to mishear as another command than one word ("next" and "end"
# are close), and far less likely to be a whole reply in the conversation
# ("Yes.", "Next?"), so the silence that closes a command can be short.
# None should be a reply people give alone: "carry on" was one ("Carry on."),
# and drew near misses too ("Go on.", "Fair enough."); "resume session"
# is said to a device only, and so is "pauze voorbij" ("ga verder" is the
# Dutch "Go on."). Nor should a phrase lean on a word that ends many replies:
# "pause please" drew "Got it.", "Nice." and "Go on, please." in noise
# (bench, replies held out: 7 of its 16 false commands; "pause session" 3).
# Both words of every Dutch phrase are everyday words; the Vosk loader
# still checks each against the model and names any it lacks.
PHRASES: dict[str, dict[str, Command]] = {
    "en": {
        "next step": Command.NEXT,
        "go back": Command.BACK,
        "say again": Command.REPEAT,
        "pause session": Command.PAUSE,
        "resume session": Command.RESUME,
        "how much time": Command.TIME,
        "end session": Command.END,
    },
    "nl": {
        "volgende stap": Command.NEXT,
        "ga terug": Command.BACK,
        "nog een keer": Command.REPEAT,
        "even pauze": Command.PAUSE,
        "pauze voorbij": Command.RESUME,
        "hoeveel tijd": Command.TIME,
        "sessie afronden": Command.END,
    },
}

# Short replies people give alone ("Okay.", "Thank you."), heard beside the
# commands so that such a reply has a path of its own to win; without one
# the grammar forces it onto the nearest command, and in a noisy room a
# near miss fits that command as well as the command itself does. A decoy
# shares no word with a command (it would steal the command), and each is
# heard only when the model knows all its words. Each was checked against
# the commands (bench, 70 of them, quiet and 20 dB pink noise): "got it"
# took a "go back" (its "got" stopped the path), "not really" another,
# and "go ahead" one in noise, so those three are not here. Bench, 20 dB
# pink noise: the first seven took the replies used to choose them from 2
# false commands to 0, and replies written before and never used for them
# from 12 to 6; the next six, chosen on those six ("Same here.", "All
# right then.", "Go ahead, please."), took them to 1 ("Go ahead, please."
# still). Replies held out from all these choices: 4 false commands in
# voice_data.HELD_OUT_REPLIES_2 ("Go for it.", "So do I." as "go back",
# "Such a pity." twice as "say again"), 0 in HELD_OUT_REPLIES_3. Single
# words ("yes", "no", "so", "well") caught nothing more. The Dutch ones
# are replies of the same kind, not yet heard through the nl model (it
# cannot be fetched here).
DECOYS: dict[str, tuple[str, ...]] = {
    "en": ("okay", "thank you", "keep going", "of course", "good point", "exactly", "i see",
           "same here", "all right", "me too", "fair enough", "makes sense", "good question"),
    "nl": ("oké", "dank je wel", "natuurlijk", "goed punt", "precies", "dat klopt", "ik snap het",
           "ik ook", "prima", "dat is waar", "logisch", "goede vraag"),
}


class VoiceUnavailable(Exception):
    """Voice cannot run: no model, a broken model, a word the model lacks,
    no microphone. The message says which, for the log."""


@dataclass(frozen=True)
class PhraseTable:
    """The command phrases of one language, an optional wake word that
    must come first ("computer, volgende stap"), and the decoys: replies
    the recogniser may hear, which are never a command."""

    language: str
    phrases: Mapping[str, Command]
    wake_word: str | None = None
    decoys: tuple[str, ...] = ()

    @classmethod
    def for_language(cls, language: str, wake_word: str | None = None) -> "PhraseTable":
        try:
            phrases = PHRASES[language]
        except KeyError:
            raise VoiceUnavailable(
                f"no voice commands for language {language!r} (known: {', '.join(sorted(PHRASES))})"
            ) from None
        # One space between its words, as match() joins the words heard.
        wake = " ".join(wake_word.lower().split()) if wake_word else ""
        return cls(language, phrases, wake or None, DECOYS.get(language, ()))

    def spoken(self) -> dict[str, Command]:
        """Each full phrase as it must be said, wake word included."""
        prefix = f"{self.wake_word} " if self.wake_word else ""
        return {prefix + p: c for p, c in self.phrases.items()}

    def words(self) -> list[str]:
        """Every word the model must know, in order, once."""
        seen: dict[str, None] = {}
        for phrase in self.spoken():
            for w in phrase.split():
                seen[w] = None
        return list(seen)

    def decoys_known(self, knows: Callable[[str], bool]) -> list[str]:
        """The decoys whose every word the model ``knows``: the others are
        left out of the grammar (a decoy is a help, not a requirement)."""
        known = [d for d in self.decoys if all(knows(w) for w in d.split())]
        if len(known) < len(self.decoys):
            log.info("voice: the model lacks a word of the decoy%s %s; left out",
                     "s" if len(self.decoys) - len(known) > 1 else "",
                     ", ".join(repr(d) for d in self.decoys if d not in known))
        return known

    def is_decoy(self, words: list[str] | tuple[str, ...]) -> bool:
        return " ".join(words) in self.decoys

    def match(self, words: list[str] | tuple[str, ...]) -> Command | None:
        """The command if ``words`` are exactly one phrase and nothing else."""
        return self.spoken().get(" ".join(words))

    def begins(self, words: list[str] | tuple[str, ...]) -> bool:
        """True if ``words`` are the start of a phrase but not yet a whole
        one: the gate waits longer for the rest ("next ... step"). A
        decoy's start counts too: the guess while speech goes on may be a
        decoy's first word where the whole turns out a command (a fresh
        decoder heard "next" as "thank" until "step" came)."""
        if not words or self.match(words) is not None:
            return False
        head = " ".join(words) + " "
        return any(p.startswith(head) for p in [*self.spoken(), *self.decoys])


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float = 1.0
    seconds: float = 0.0   # how long the recogniser aligned it
    phones: int = 0        # how many sounds it has (0: unknown)


@dataclass(frozen=True)
class Hearing:
    """What a recogniser heard in one utterance. Lives in memory only, for
    the gate's decision; it is never logged or stored."""

    words: tuple[Word, ...] = ()
    rejected: bool = False  # the grammar's garbage ([unk]) took part of it
    # How well the command's sounds fit the audio against the best that any
    # sound of the model could do, frame by frame: the log-likelihood ratio
    # per frame (nats, <= 0) of the command path against an unconstrained
    # loop of all the model's sounds. Speech that is something else, forced
    # onto a command by the grammar, fits far worse than the command said.
    # None: the recogniser has no such score.
    fit: float | None = None
    # The same for the wake word alone, when the phrase began with one.
    # A wake word is long (eight sounds in "computer"), so its fit is
    # steady enough to ask more of than of a short command word: a reply
    # forced onto "computer, go back" fits the command words like a near
    # miss does, but its "computer" fits like the other speech it is.
    wake_fit: float | None = None

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(w.text for w in self.words)

    @property
    def confidence(self) -> float:
        return min((w.confidence for w in self.words), default=0.0)

    @property
    def seconds(self) -> float:
        return sum(w.seconds for w in self.words)

    @property
    def seconds_per_phone(self) -> float:
        """Long for a short command stretched over a whole sentence."""
        phones = sum(w.phones for w in self.words)
        return self.seconds / phones if phones else 0.0


class Recogniser(Protocol):
    """One utterance at a time: ``begin``, ``feed`` 16-bit mono PCM at
    ``sample_rate``, then ``finish`` (or ``cancel``). ``partial`` is the
    best guess so far, command words only, while the utterance goes on.
    ``adapt`` hears the room, once, before anything is judged, and decides
    nothing."""

    sample_rate: int
    has_garbage_model: bool
    min_coverage: float  # the gate's default: how much of the speech the command's words fill
    min_fit: float       # the gate's default for Hearing.fit (-inf: no such score)
    min_wake_fit: float  # and for Hearing.wake_fit

    def adapt(self, pcm: bytes) -> None: ...

    def begin(self) -> None: ...

    def feed(self, pcm: bytes) -> None: ...

    def partial(self) -> tuple[str, ...]: ...

    def finish(self) -> Hearing: ...

    def cancel(self) -> None: ...


def _quiet_vosk() -> None:
    from vosk import SetLogLevel

    SetLogLevel(-1)


class VoskRecogniser:
    """Vosk with a runtime grammar of the command phrases.

    The model comes from a folder (``Model(path)``, never ``Model(lang=…)``,
    which would download at run time). Every command word is checked against
    the model's vocabulary at load, because Vosk itself only warns and drops
    a missing word from the grammar::

        rec = VoskRecogniser("/var/lib/intervisor/models/vosk-model-small-nl-0.22",
                             PhraseTable.for_language("nl"))

    ``[unk]`` joins the grammar when the model has it, so that other speech
    lands there; a model without it relies on the gate's other defences and
    on ``conf`` per word.
    """

    sample_rate = 16000
    min_coverage = 0.7  # Vosk's word times are tight around the word
    min_fit = -math.inf  # its result has no such score; ``conf`` per word stands in
    min_wake_fit = -math.inf
    needs_dither = False  # Kaldi's features add their own (CommandGate's Dither)

    def __init__(self, model_dir: str | os.PathLike, table: PhraseTable, *, model=None):
        self.table = table
        self.model_dir = Path(model_dir)
        self._model = model if model is not None else load_vosk_model(self.model_dir)
        missing = [w for w in table.words() if self._model.vosk_model_find_word(w) < 0]
        if missing:
            raise VoiceUnavailable(
                f"{self.model_dir}: the model does not know the command word"
                f"{'s' if len(missing) > 1 else ''} {', '.join(repr(w) for w in missing)} "
                f"(language {table.language})" + self._wake_hint(missing)
            )
        self.has_garbage_model = self._model.vosk_model_find_word(UNK) >= 0
        self.decoys = table.decoys_known(lambda w: self._model.vosk_model_find_word(w) >= 0)
        grammar = list(table.spoken()) + self.decoys + ([UNK] if self.has_garbage_model else [])
        self.grammar = json.dumps(grammar, ensure_ascii=False)
        from vosk import KaldiRecognizer

        self._rec = KaldiRecognizer(self._model, self.sample_rate, self.grammar)
        self._rec.SetWords(True)
        self._parts: list[dict] = []

    def _wake_hint(self, missing: list[str]) -> str:
        wake = (self.table.wake_word or "").split()
        if not set(missing) & set(wake):
            return ""
        return "; the wake word: set voice.wake_word to a word the model knows, or off"

    def adapt(self, pcm: bytes) -> None:
        # Kaldi's online features adapt within each utterance by themselves.
        pass

    def begin(self) -> None:
        self._rec.Reset()
        self._parts = []

    def feed(self, pcm: bytes) -> None:
        # Vosk may close a segment by itself mid-utterance; keep every piece.
        if self._rec.AcceptWaveform(pcm):
            self._parts.append(json.loads(self._rec.Result()))

    def partial(self) -> tuple[str, ...]:
        done = [w for part in self._parts for w in part.get("text", "").split()]
        now = json.loads(self._rec.PartialResult()).get("partial", "").split()
        return tuple(w for w in done + now if w != UNK)

    def finish(self) -> Hearing:
        self._parts.append(json.loads(self._rec.FinalResult()))
        words: list[Word] = []
        rejected = False
        for part in self._parts:
            for w in part.get("result", ()):
                if w["word"] == UNK:
                    rejected = True
                    continue
                words.append(Word(w["word"], float(w.get("conf", 1.0)),
                                  float(w.get("end", 0.0)) - float(w.get("start", 0.0)),
                                  approximate_phones(w["word"])))
            if not part.get("result") and UNK in part.get("text", "").split():
                rejected = True
        self._parts = []
        self._rec.Reset()
        return Hearing(tuple(words), rejected)

    def cancel(self) -> None:
        self._parts = []
        self._rec.Reset()


def approximate_phones(word: str) -> int:
    """Sounds in a word from its spelling: a letter is about one sound in
    Dutch and English; a Hangul syllable block about two and a half."""
    n = 0.0
    for ch in word:
        n += 2.5 if "\uac00" <= ch <= "\ud7a3" else 1.0 if ch.isalpha() else 0.0
    return max(1, round(n))


def load_vosk_model(model_dir: str | os.PathLike):
    """``vosk.Model`` from a folder, with a clear error for a missing or
    broken one (Vosk's own is "Failed to create a model")."""
    path = Path(model_dir)
    if not path.is_dir():
        raise VoiceUnavailable(f"{path}: no Vosk model there (the installer fetches it)")
    if not (path / "am").is_dir() or not (path / "conf").is_dir():
        raise VoiceUnavailable(f"{path}: not a Vosk model folder (no am/ or conf/)")
    try:
        _quiet_vosk()
        from vosk import Model

        return Model(str(path))
    except VoiceUnavailable:
        raise
    except Exception as e:
        raise VoiceUnavailable(f"{path}: broken Vosk model ({e})") from None


class PocketSphinxRecogniser:
    """PocketSphinx with a JSGF grammar of the command phrases; its wheel
    carries a US-English model, so it needs no download at all::

        rec = PocketSphinxRecogniser(PhraseTable.for_language("en"))

    The grammar forces whatever is said onto a command, so beside it runs
    the classic rejection test: the same audio decoded by a free loop of
    the model's sounds (:class:`PhoneLoop`), and each command word's
    acoustic score compared with the loop's over the same frames
    (:attr:`Hearing.fit`, the worst word). A command said fits within a
    few nats per frame of the loop; "Thank you." forced onto "how much
    time" fits far worse. A near miss fits like the command ("Go on." as
    "carry on", "Keep going." as "say again" in a noisy room): against
    that the phrase itself, the decoys (:data:`DECOYS`: a common reply
    wins as itself) and the wake word help. The loop runs only while the
    gate listens to an utterance. Tried before and dropped: filler words
    beside the commands in the grammar (lost 5 of 70 commands, decoded
    slower than real time), twenty decoys, some sharing a word with the
    replies they were tested on (6 of 70 commands lost, in runs made
    before :meth:`adapt` existed), JSGF weights on the decoys (no
    change), the decoder's posterior (near 0.5 for right and wrong
    alike on a grammar this small; ``min_posterior`` stays for real
    voices), the best senone of each frame as the reference (no path: it
    did not separate), and the whole phrase's average (a near miss is
    wrong in one word and hides behind the other). Later (bench, replies
    in 20 dB noise): webrtc noise suppression in front (5 to 8 false
    commands where there were 5), the language model's hundred likeliest
    short sentences as decoys (took 4 of the 70 commands), a loop of
    common words as the reference instead of sounds, and a syllable
    count, phone durations and a decode shifted by a few milliseconds as
    checks (none separated near misses from commands).
    """

    sample_rate = 16000
    has_garbage_model = True
    # Its alignment spreads over the whole utterance: a sentence forced onto
    # a command still covers 0.7 of it (bench, noisy talk), a command 0.8.
    min_coverage = 0.8
    # Nats per frame of the worst command word. espeak-ng's commands (five
    # voices, quiet and in noise, 16 and 48 kHz) fit above -6 (the lowest
    # -5.6, "how much time"); talk forced onto a command that is something
    # else fits far worse ("Thank you." as "how much time": -7 to -10). A
    # near miss ("Go on." as "carry on") fits like the command itself and
    # is not caught here; in 20 dB of noise all fits rise (the noise fits
    # both paths alike), so near misses pass more often there. Real voices
    # match the model better than espeak-ng's, so a real command has more
    # margin.
    min_fit = -6.0
    # Nats per frame of the wake word. espeak-ng's "computer" before a
    # command (five voices, quiet and 20 dB pink noise) fits above -2.0;
    # replies forced onto "computer ..." that passed every other test fit
    # -2.6 to -4.8 (bench, every reply set to session 9; chosen before the
    # set written in session 10 was first heard).
    min_wake_fit = -2.25

    def __init__(self, table: PhraseTable, *, model_dir: str | os.PathLike | None = None,
                 min_posterior: float = 0.0, phone_loop: bool = True):
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError as e:
            raise VoiceUnavailable(f"pocketsphinx is not installed ({e})") from None
        self.table = table
        self.min_posterior = min_posterior
        # compallsen: every senone scored in every frame by both decoders,
        # so their acoustic scores share one scale and can be compared.
        options: dict = {"samprate": self.sample_rate, "lm": None, "loglevel": "FATAL",
                         "compallsen": True}
        if model_dir is not None:
            d = Path(model_dir)
            if not d.is_dir():
                raise VoiceUnavailable(f"{d}: no PocketSphinx model there")
            options["hmm"] = str(d)
            dicts = sorted(d.glob("*.dict"))
            if dicts:
                options["dict"] = str(dicts[0])
        else:
            options["hmm"] = get_model_path("en-us/en-us")
            options["dict"] = get_model_path("en-us/cmudict-en-us.dict")
        try:
            self._decoder = Decoder(**options)
        except Exception as e:
            raise VoiceUnavailable(f"broken PocketSphinx model ({e})") from None
        # A folder with no dictionary of its own: the decoder took its
        # default one, and the phone loop must read the same.
        options.setdefault("dict", self._decoder.config["dict"])
        missing = [w for w in table.words() if self._decoder.lookup_word(w) is None]
        if missing:
            raise VoiceUnavailable(
                f"the PocketSphinx dictionary does not know the command word"
                f"{'s' if len(missing) > 1 else ''} {', '.join(repr(w) for w in missing)}"
            )
        self._phones = {w: len(self._decoder.lookup_word(w).split()) for w in table.words()}
        self.decoys = table.decoys_known(lambda w: self._decoder.lookup_word(w) is not None)
        alternatives = " | ".join(list(table.spoken()) + self.decoys)
        self.grammar = f"#JSGF V1.0;\ngrammar commands;\npublic <command> = {alternatives} ;\n"
        self._decoder.add_jsgf_string("commands", self.grammar)
        self._decoder.activate_search("commands")
        self.loop = PhoneLoop(options) if phone_loop else None
        self.has_garbage_model = phone_loop
        self._open = False
        self._adapted = False

    # PocketSphinx normalises each utterance by a running cepstral mean
    # that starts from a fixed guess weighted as 5 s of speech (cmn live,
    # 500 frames): a fresh decoder hears its first commands through that
    # guess. In 20 dB of noise that lost the first four commands of a track
    # to the decoy "thank you" (bench). Decoding the first utterance again,
    # normalised by its own mean as in training, did not mend it (one of
    # the four still lost); hearing the room first did.
    CMN_PRIOR_SECONDS = 5.0

    def adapt(self, pcm: bytes) -> None:
        """Hear the room once (a second or two of it, speech or not), and
        decide nothing: both decoders' cepstral means move from their
        built-in guess towards this room. Fed as often as it takes to
        outweigh the guess: about 0.7 s of one core here for 1.5 s of
        audio, once; after that the utterances keep the mean current."""
        seconds = len(pcm) / 2 / self.sample_rate
        if self._adapted or self._open or seconds < 0.5:
            return
        self._adapted = True
        times = min(10, math.ceil(self.CMN_PRIOR_SECONDS / seconds))
        # In 30 ms pieces: the decoder holds the GIL while it works, and
        # the microphone's callback must get it between them.
        step = 2 * 480
        for decoder in self._decoders():
            decoder.start_utt()
            for _ in range(times):
                for i in range(0, len(pcm), step):
                    decoder.process_raw(pcm[i:i + step], False, False)
            decoder.end_utt()   # the mean is updated here; the words are not read

    def _decoders(self) -> list:
        return [self._decoder] + ([self.loop.decoder] if self.loop is not None else [])

    def cepstral_means(self) -> tuple[str, ...]:
        """Where each decoder's cepstral mean stands, the grammar's first,
        then the phone loop's: what :meth:`adapt` moves. Asking changes
        nothing::

            before = rec.cepstral_means()
            rec.adapt(room)
            assert rec.cepstral_means() != before
        """
        return tuple(d.get_cmn() for d in self._decoders())

    def begin(self) -> None:
        if self._open:
            self._decoder.end_utt()
        self._decoder.start_utt()
        if self.loop is not None:
            self.loop.begin()
        self._open = True

    def feed(self, pcm: bytes) -> None:
        self._decoder.process_raw(pcm, False, False)
        if self.loop is not None:
            self.loop.feed(pcm)

    def partial(self) -> tuple[str, ...]:
        hyp = self._decoder.hyp() if self._open else None
        return tuple(hyp.hypstr.split()) if hyp is not None and hyp.hypstr else ()

    def finish(self) -> Hearing:
        if not self._open:
            return Hearing()
        self._decoder.end_utt()
        self._open = False
        loop = self.loop.finish() if self.loop is not None else None
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr:
            return Hearing()
        posterior = float(hyp.prob)
        frames: dict[str, int] = {}
        fits: list[tuple[str, float]] = []
        for seg in list(self._decoder.seg() or ()):
            base = seg.word.split("(")[0]
            if base in self._phones:
                n = seg.end_frame - seg.start_frame + 1
                frames[base] = frames.get(base, 0) + n
                if loop:
                    # Word by word: a near miss is wrong in one word only,
                    # and a whole-phrase average would hide it behind the
                    # word that is right.
                    fits.append((base, (nats(seg) - window_score(loop, seg.start_frame, seg.end_frame)) / n))
        fit = min(f for _, f in fits) if fits else None
        wake = self.table.wake_word.split() if self.table.wake_word else []
        wake_fit = None
        if wake and [w for w, _ in fits[:len(wake)]] == wake:
            wake_fit = min(f for _, f in fits[:len(wake)])
        # A path that stopped inside a phrase ("how" of "how much time")
        # comes out as words too; the table's exact match rejects it.
        # Its posterior is no per-word confidence on a grammar this small
        # (it sits near 0.5 for right and wrong alike): the words count as
        # sure, and ``min_posterior`` rejects the whole when set.
        words = tuple(Word(w, 1.0, frames.get(w, 0) / 100.0, self._phones.get(w, 0))
                      for w in hyp.hypstr.split())
        return Hearing(words, rejected=posterior < self.min_posterior, fit=fit, wake_fit=wake_fit)

    def cancel(self) -> None:
        if self._open:
            self._decoder.end_utt()
            if self.loop is not None:
                self.loop.cancel()
            self._open = False


def nats(seg) -> float:
    """A decoder segment's acoustic score. The binding hands it over as
    exp(score); a segment that underflows (worse than about -700 nats)
    counts as -inf."""
    return math.log(seg.ascore) if seg.ascore > 0 else -math.inf


def segments(decoder) -> list[tuple[int, int, float]]:
    """(first frame, last frame, acoustic nats) of each segment of a
    decoder's best path."""
    return [(seg.start_frame, seg.end_frame, nats(seg)) for seg in list(decoder.seg() or ())
            if seg.word != "</s>"]   # it repeats the closing silence's score


def window_score(segs: list[tuple[int, int, float]], first: int, last: int) -> float:
    """The part of a path's score that falls in frames first..last, each
    segment shared out by how many of its frames lie there."""
    total = 0.0
    for a, b, score in segs:
        overlap = min(b, last) - max(a, first) + 1
        if overlap > 0:
            total += score * overlap / (b - a + 1)
    return total


class PhoneLoop:
    """The garbage model of the likelihood-ratio test: any sequence of the
    acoustic model's sounds, decoded with no language weight or insertion
    penalty, so its path is the best the sounds can do on the audio::

        loop = PhoneLoop({"hmm": ..., "samprate": 16000, "compallsen": True})
        loop.begin(); loop.feed(pcm); score = loop.finish()   # nats

    PocketSphinx's own allphone search gives no usable segment scores
    (each is relative to the frame's best), so the loop is a grammar of
    one-sound words in a dictionary of its own. A tight beam keeps it cheap
    (3 to 4 % of a core while talk goes on here); it runs only while an
    utterance is being heard.
    """

    # Wide enough that the loop still finds the best path the sounds allow
    # (the fits of commands and of talk did not move from 1e-10), narrow
    # enough that the lattice PocketSphinx builds at the end of an utterance
    # stays small: 14 ms to read the path instead of 70, which the command
    # waited for (bench: end of speech to command).
    BEAM = 1e-6

    def __init__(self, options: dict):
        import tempfile

        from pocketsphinx import Decoder

        phones = model_phones(options)
        with tempfile.TemporaryDirectory(prefix="intervisor-loop-") as tmp:
            path = Path(tmp) / "phones.dict"
            path.write_text("".join(f"{p.lower()} {p}\n" for p in phones))
            loop_options = {**options, "dict": str(path), "lw": 1.0, "wip": 1.0, "pip": 1.0,
                            "beam": self.BEAM, "wbeam": self.BEAM, "pbeam": self.BEAM}
            try:
                self._decoder = Decoder(**loop_options)
            except Exception as e:
                raise VoiceUnavailable(f"broken PocketSphinx model ({e})") from None
        grammar = ("#JSGF V1.0;\ngrammar sounds;\npublic <sounds> = ( "
                   + " | ".join(p.lower() for p in phones) + " )+ ;\n")
        self._decoder.add_jsgf_string("sounds", grammar)
        self._decoder.activate_search("sounds")
        self._open = False

    @property
    def decoder(self):
        """Its PocketSphinx decoder (the recogniser adapts it to the room)."""
        return self._decoder

    def begin(self) -> None:
        if self._open:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._open = True

    def feed(self, pcm: bytes) -> None:
        self._decoder.process_raw(pcm, False, False)

    def finish(self) -> list[tuple[int, int, float]] | None:
        """The loop's path: (first frame, last frame, nats) per sound."""
        if not self._open:
            return None
        self._decoder.end_utt()
        self._open = False
        return self._path()

    def cancel(self) -> None:
        if self._open:
            self._decoder.end_utt()   # the path is not read: no lattice is built
            self._open = False

    def _path(self) -> list[tuple[int, int, float]] | None:
        if self._decoder.hyp() is None:
            return None
        return segments(self._decoder)


def model_phones(options: dict) -> list[str]:
    """The speech sounds of a model, as its dictionary spells them (its
    silence and fillers live in the model's own noise dictionary)."""
    seen: set[str] = set()
    with open(options["dict"], encoding="utf-8", errors="replace") as f:
        for line in f:
            seen.update(line.split()[1:])
    seen.discard("SIL")
    return sorted(p for p in seen if p.isalnum())


@dataclass
class RecogniserSpec:
    """Which recogniser to build: ``backend`` ``vosk`` or ``pocketsphinx``."""

    backend: str = "vosk"
    language: str = "nl"
    model: str | None = None
    wake_word: str | None = None
    extra: dict = field(default_factory=dict)

    def build(self, table: PhraseTable | None = None) -> Recogniser:
        """``wake_word`` None is the language's default (:data:`WAKE_WORDS`),
        "off" none."""
        table = table or PhraseTable.for_language(self.language, wake_word_for(self.language, self.wake_word))
        if self.backend == "vosk":
            if not self.model:
                raise VoiceUnavailable("no Vosk model folder configured (voice.model)")
            return VoskRecogniser(self.model, table)
        if self.backend == "pocketsphinx":
            return PocketSphinxRecogniser(table, model_dir=self.model, **self.extra)
        raise VoiceUnavailable(f"unknown voice backend {self.backend!r} (vosk or pocketsphinx)")
