"""Spoken prompts: text to samples, rendered ahead and kept on disk.

Nothing is synthesised while a group is listening. When a method is loaded
every text it may say is rendered once (:meth:`Speech.prerender`) to a WAV
file in the cache, named by a hash of the text, the voice and the settings,
so a restart or the next session reuses it; :meth:`Speech.render` then only
reads a file.

Two engines:

- ``espeak`` (the default): espeak-ng through pyttsx3, in a worker
  *process* that owns its pyttsx3 engine. pyttsx3's run loop hangs when
  ``runAndWait`` is called from several threads, or with nothing to say; a
  process can be timed out and replaced, a stuck thread cannot (a cold
  cache at start-up is spread over a few such processes). The voice is
  chosen explicitly by language and checked after every render, because
  espeak-ng quietly keeps the previous voice when a name is unknown.
- ``piper``: a Piper voice (``MODEL.onnx`` with ``MODEL.onnx.json``
  beside it) for a language where one is installed; far more natural. On
  the device it fills the cache behind espeak-ng, at low priority, and a
  prompt is said in Piper once its Piper version is there
  (:mod:`intervisor.sound.pipervoice`); a voice that cannot be loaded leaves
  espeak-ng speaking, with one line in the log.

>>> speech = Speech("nl", rate=150, volume=1.0, cache_dir="/tmp/prompts")  # doctest: +SKIP
>>> speech.prerender(["Welkom.", "Nog 7 minuten."])                        # doctest: +SKIP
>>> samples = speech.render("Welkom.")  # float32 mono at speech.sample_rate  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from intervisor.sound.prosody import assemble, sentences
from intervisor.sound.workers import end_worker, write_wav  # noqa: F401  (speech.write_wav)

log = logging.getLogger("intervisor.speech")

CACHE_FORMAT = 2
"""Bumped when the way prompts are rendered changes, so old files are not reused."""

#: Words espeak-ng's Dutch voice stresses or sounds wrongly, respelled for
#: the synthesiser only (espeak-ng, and Piper, whose phonemes come from
#: espeak-ng): what is shown and logged keeps its spelling. Found with
#: ``espeak-ng -v nl -x``: "intervisie" came out in-ter-vi-ZIE (as does
#: "visie": the dictionary's -ie), "spelregels" spel-re-GELS, "koffie"
#: kof-FIE, "Annie" an-NIE, "lunchpauze" with the ch of "lach", "weekend"
#: in the English voice, "feedback" as feed-bak, "een voor een" with a schwa.
ESPEAK_RESPELL: dict[str, tuple[tuple[str, str], ...]] = {
    "nl": (
        (r"(\w*)intervisie(s?)\b", r"\1inter-vizi\2"),
        (r"\bspelregels\b", "spel-regels"),
        (r"\bkoffie\b", "koffi"),
        (r"\bAnnie\b", "Anny"),
        (r"\blunchpauze\b", "lunsjpauze"),
        (r"\bweekend\b", "weekeinde"),
        (r"\bfeedback\b", "fiedbek"),
        (r"\bnachtmerries\b", "nachtmerry's"),
        (r"\bassocieert\b", "assosjeert"),
        (r"\bhetzelfde\b", "het zelfde"),
        (r"\bincidentmethode\b", "in-cident-methode"),
        (r"\bincident\b", "in-cident"),
        (r"\broddelmethode\b", "roddel-methode"),
        (r"\badviesronde\b", "advies-ronde"),
        (r"\bintroductie\b", "intro-ductie"),
        (r"\brichtlijn\b", "richt-lijn"),
        (r"\been voor een\b", "één voor één"),
    ),
    "en": (
        # espeak-ng reads "use" before an object as the noun, /ju:s/:
        # "Use these questions" sounds like "a use". The verb is /ju:z/.
        (r"\buse(?= (?:these|this|that|those|them|it|your|our|the)\b)", "uze"),
    ),
}


def spoken_form(language: str, text: str) -> str:
    """``text`` as the synthesiser should read it (:data:`ESPEAK_RESPELL`);
    a capital at the start of a word is kept.

    >>> spoken_form("nl", "Intervisie in vijf stappen. De spelregels.")
    'Inter-vizi in vijf stappen. De spel-regels.'
    >>> spoken_form("en", "Peer intervisie")
    'Peer intervisie'
    """
    for pattern, respelled in ESPEAK_RESPELL.get(language, ()):
        def sub(m: "re.Match[str]", respelled: str = respelled) -> str:
            out = m.expand(respelled)
            return out[:1].upper() + out[1:] if m.group(0)[:1].isupper() else out
        text = re.sub(pattern, sub, text, flags=re.IGNORECASE)
    return text


#: How espeak-ng speaks a language best to a listener, chosen with
#: bench/listen.py on its tuning subset (``--quick``): ``pace`` scales the
#: configured words per minute, ``word_gap`` is a pause between words in
#: 10 ms units, ``pitch`` and ``range`` espeak-ng's pitch and its range
#: (0..100, 50 the voice's own). Dutch espeak-ng ran its words together at
#: 150 a minute; a lower pitch (30) took its tuning figure from 0.556 to
#: 0.496 per part and 0.483 to 0.436 per whole prompt (voice variants and
#: a wider range did not help: see the README).
ESPEAK_TUNING: dict[str, dict[str, float]] = {
    "nl": {"pace": 130 / 150, "word_gap": 10, "pitch": 30},
}

DEFAULT_RATE = 150
"""The configured rate (``audio.rate``, words per minute) at which Piper
speaks at its voice's own pace; other rates stretch it (``150 / rate``)."""

WORDGAP = 7
"""espeak-ng's parameter for the pause between words (``espeakWORDGAP``, 10 ms units)."""

PITCH, RANGE = 3, 4
"""espeak-ng's parameters for the pitch and its range (``espeakPITCH``,
``espeakRANGE``; 0..100, 50 is the voice's own)."""

ESPEAK_RATE = 22050
"""espeak-ng's output rate (pyttsx3 writes its WAV at this rate)."""


class SpeechError(RuntimeError):
    """A prompt could not be rendered; the message says why and what to do."""


class VoiceMissing(SpeechError):
    """The voice asked for is not installed."""


# ---------------------------------------------------------------- WAV files


def read_wav(path: str | os.PathLike | io.BytesIO) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV as (float32 mono samples, rate)."""
    with wave.open(path if isinstance(path, io.BytesIO) else str(path), "rb") as f:
        if f.getsampwidth() != 2:
            raise SpeechError(f"{path}: not 16-bit PCM")
        rate, channels = f.getframerate(), f.getnchannels()
        frames = f.getnframes()
        raw = f.readframes(frames)
        if len(raw) != frames * 2 * channels:
            # Cut short (a power cut before it reached the card, a full disk).
            raise SpeechError(f"{path}: {len(raw)} bytes where the header promises {frames * 2 * channels}")
        data = np.frombuffer(raw, dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return (data.astype(np.float32) / 32768.0), rate


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling (FFT): speech at 22.05 kHz onto a 48 kHz
    stream without the metallic images a linear interpolation leaves."""
    if rate_in == rate_out or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    n_out = int(round(len(samples) * rate_out / rate_in))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    out = np.fft.irfft(spectrum, n=n_out) * (n_out / len(samples))
    return out.astype(np.float32)


# ------------------------------------------------------- the espeak worker


def _espeak_version() -> str:
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.split("Data at")[0].strip()
    except (OSError, subprocess.SubprocessError):
        return "espeak-ng ?"


def resolve_voice(voices: Sequence[tuple[str, str, Sequence[str]]], wanted: str) -> str:
    """The espeak voice id for ``wanted`` (an id like ``gmw/nl``, a short
    name like ``nl`` or ``en-gb``, or a name like ``Dutch``), among
    ``voices`` given as ``(id, name, languages)``; :class:`VoiceMissing`
    when none fits."""
    key, plus, variant = wanted.strip().lower().partition("+")
    if plus:
        # A voice variant ("nl+m3"): espeak-ng takes it on any voice.
        return resolve_voice(voices, key) + "+" + variant
    for test in (
        lambda vid, name, langs: vid == key,
        lambda vid, name, langs: vid.rsplit("/", 1)[-1] == key,
        lambda vid, name, langs: key in [lang.lower() for lang in langs],
        lambda vid, name, langs: name.lower() == key,
    ):
        for vid, name, langs in voices:
            if test(vid.lower(), name, langs):
                return vid
    near = sorted(vid for vid, name, langs in voices if vid.rsplit("/", 1)[-1].split("-")[0] == key.split("-")[0])
    hint = f" (near: {', '.join(near)})" if near else " (see `espeak-ng --voices`)"
    raise VoiceMissing(f"no espeak-ng voice {wanted!r} is installed{hint}")


def _worker_main() -> int:
    """The one owner of pyttsx3: JSON requests on stdin, one JSON answer a line.

    A request renders a batch in one voice: ``{"voice": "nl", "rate": 150,
    "volume": 1.0, "jobs": [[text, path], ...]}``; the answer is
    ``{"ok": true}`` or ``{"ok": false, "kind": ..., "error": ...}``.
    """
    # pyttsx3 prints "Audio saved to ..." on stdout: the answers get their own
    # copy of the pipe, and stdout itself goes nowhere.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    sys.stdout = open(os.devnull, "w")
    idle = float(os.environ.get("INTERVISOR_SPEECH_IDLE", "120"))

    def answer(**kwargs) -> None:
        answers.write(json.dumps(kwargs) + "\n")

    engine, driver, espeak, voices, broken = _start_espeak()
    answer(ok=True, ready=True, broken=broken)

    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    while True:
        # Leave when nobody has asked for a while: the parent starts a new
        # worker the next time, and the device does not keep one idle.
        if not selector.select(timeout=idle):
            return 0
        line = sys.stdin.readline()
        if not line:
            return 0
        try:
            req = json.loads(line)
            if broken:
                raise SpeechError(f"pyttsx3/espeak-ng cannot start: {broken}")
            _render_request(req, engine, driver, espeak, voices)
            answer(ok=True)
        except VoiceMissing as e:
            answer(ok=False, kind="voice", error=str(e))
        except Exception as e:
            answer(ok=False, kind="error", error=f"{type(e).__name__}: {e}")


def _start_espeak():
    """pyttsx3 on espeak-ng in this worker: ``(engine, driver, espeak,
    voices, broken)``, ``broken`` saying why it cannot start (no pyttsx3,
    no libespeak-ng), to be said on every request."""
    try:
        import pyttsx3

        from pyttsx3.drivers import _espeak as espeak
        from pyttsx3.drivers.espeak import EspeakDriver as driver

        engine = pyttsx3.init("espeak")
        voices = [(v.id, v.name or "", list(v.languages or [])) for v in engine.getProperty("voices")]
        _end_the_loop_on_a_failed_save(engine.proxy._driver, espeak)
    except Exception as e:  # no pyttsx3, no libespeak-ng: say so on every request
        return None, None, None, [], f"{type(e).__name__}: {e}"
    return engine, driver, espeak, voices, None


#: Why the last save could not write its file (set by the callback below).
_save_failed: list[BaseException] = []


def _end_the_loop_on_a_failed_save(drv, espeak) -> None:
    """pyttsx3 writes the WAV inside espeak-ng's synth callback; when that
    write fails (a full disk), its exception dies in ctypes and its loop
    never ends: the parent waited its whole 30 s timeout per prompt. This
    callback ends the loop at once and keeps why, for :func:`save_speech`."""
    original = drv._onSynth

    def on_synth(wav, numsamples, events):
        try:
            return original(wav, numsamples, events)
        except Exception as e:
            _save_failed.append(e)
            drv._data_buffer, drv._speaking = b"", False
            drv._proxy.setBusy(False)
            drv.endLoop()
            return 1   # espeak-ng: stop this synthesis

    espeak.SetSynthCallback(on_synth)


def _render_request(req: dict, engine, driver, espeak, voices) -> None:
    """Render one request's jobs in its voice, rate, volume, gap, pitch and range."""
    vid = resolve_voice(voices, req["voice"])
    # Straight to the driver, then wait for espeak-ng to take them:
    # pyttsx3 queues setProperty while its loop is busy and drops that
    # queue at endLoop, and espeak-ng queues parameters in its own
    # command FIFO, which the Cancel in pyttsx3's endLoop empties.
    # Either way the rate was sometimes the previous request's.
    driver.setProperty("voice", vid)
    driver.setProperty("rate", int(req["rate"]))
    driver.setProperty("volume", float(req["volume"]))
    espeak.SetParameter(WORDGAP, int(req.get("gap", 0)), 0)
    # Every request sets them: the worker renders for other settings too.
    espeak.SetParameter(PITCH, int(req.get("pitch", 50)), 0)
    espeak.SetParameter(RANGE, int(req.get("range", 50)), 0)
    espeak.Synchronize()
    current = driver.getProperty("voice")
    if current != vid.lower():
        raise VoiceMissing(f"espeak-ng kept voice {current!r} instead of {vid!r}")
    for text, path in req["jobs"]:
        save_speech(engine, driver, vid, text, path)


def _whole_wav(path: str) -> bool:
    """A WAV with sound in it, every frame its header names there: a disk
    that fills up mid-write leaves a header that says nothing (or more
    than was written), and such a file must never enter the cache."""
    try:
        return len(read_wav(path)[0]) > 0   # read_wav refuses one read short
    except (OSError, EOFError, wave.Error, SpeechError):
        return False


def save_speech(engine, driver, vid: str, text: str, path: str) -> None:
    """One text to ``path`` through pyttsx3 ``engine`` and its espeak
    ``driver`` (in the worker, voice ``vid`` already set), written beside
    it first and moved in whole, so a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    # Now and then a save comes back with no audio written (twice in this
    # project's full test runs so far; why was not found): it is tried
    # again at once, three tries in all, then it is an error.
    for _ in range(3):
        # One save_to_file per runAndWait: pyttsx3's espeak driver keeps
        # only the last text of a batch, and a runAndWait with no text
        # never returns.
        _save_failed.clear()
        engine.save_to_file(text, tmp)
        engine.runAndWait()
        if _save_failed:
            Path(tmp).unlink(missing_ok=True)
            cause = _save_failed[-1].__cause__ or _save_failed[-1]
            raise SpeechError(f"cannot write the prompt's audio: {cause}")
        current = driver.getProperty("voice")
        if current != vid.lower():
            Path(tmp).unlink(missing_ok=True)
            raise VoiceMissing(f"espeak-ng kept voice {current!r} instead of {vid!r}")
        if _whole_wav(tmp):
            os.replace(tmp, path)
            return
        Path(tmp).unlink(missing_ok=True)
    raise SpeechError("espeak-ng wrote no audio (three tries)")


class _EspeakWorker:
    """The parent's handle on the worker process; started on first use,
    restarted after a crash, a hang or an idle exit."""

    def __init__(self, timeout: float = 30.0):
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        env = {**os.environ}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from intervisor.sound.speech import _worker_main; sys.exit(_worker_main())"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1, env=env,
        )
        hello = self._read(self.timeout)
        if hello.get("broken"):
            self.close()
            raise SpeechError(f"pyttsx3/espeak-ng cannot start: {hello['broken']} "
                              "(install espeak-ng and the device extra: scripts/setup)")

    def _read(self, timeout: float) -> dict:
        proc = self._proc
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=timeout):
                self.close()
                raise SpeechError(f"espeak-ng did not answer within {timeout:.0f} s (worker restarted)")
        line = proc.stdout.readline()
        if not line:
            self.close()
            raise SpeechError("the espeak-ng worker died (it is started again on the next prompt)")
        return json.loads(line)

    def render(self, voice: str, rate: int, volume: float, jobs: list[tuple[str, str]], **tone: int) -> None:
        """``tone``: ``gap``, ``pitch``, ``range`` (see :func:`_render_request`)."""
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                try:
                    self._proc.stdin.write(json.dumps({"voice": voice, "rate": rate, "volume": volume, **tone,
                                                       "jobs": jobs}) + "\n")
                    self._proc.stdin.flush()
                except (BrokenPipeError, OSError):
                    self.close()  # it left when idle just now: once more with a new one
                    if attempt == 2:
                        raise SpeechError("cannot reach the espeak-ng worker")
                    continue
                reply = self._read(self.timeout + 0.2 * len(jobs))
                if reply.get("ok"):
                    return
                if reply.get("kind") == "voice":
                    raise VoiceMissing(reply["error"])
                raise SpeechError(reply.get("error", "espeak-ng failed"))

    def close(self) -> None:
        proc, self._proc = self._proc, None
        end_worker(proc)


class _EspeakPool:
    """Worker processes: one is all a session needs; a cold cache at
    start-up is rendered by several at once (espeak-ng uses one core each)."""

    def __init__(self, size: int):
        self.workers = [_EspeakWorker() for _ in range(max(1, size))]

    def render(self, voice: str, rate: int, volume: float, jobs: list[tuple[str, str]],
               worker: int = 0, **tone: int) -> None:
        self.workers[worker].render(voice, rate, volume, jobs, **tone)

    def render_spread(self, voice: str, rate: int, volume: float, jobs: list[tuple[str, str]],
                      workers: int, **tone: int) -> None:
        """``jobs`` over ``workers`` processes at once; the first error raised."""
        n = max(1, min(workers, len(self.workers), len(jobs)))
        if n == 1:
            self.render(voice, rate, volume, jobs, **tone)
            return
        errors: list[BaseException] = []

        def part(k: int) -> None:
            try:
                self.render(voice, rate, volume, jobs[k::n], worker=k, **tone)
            except BaseException as e:  # handed to the caller below
                errors.append(e)

        threads = [threading.Thread(target=part, args=(k,), name=f"espeak-{k}") for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def close(self) -> None:
        for w in self.workers:
            w.close()


PARALLEL = max(1, min(4, os.cpu_count() or 1))
"""Worker processes a cold cache may use at once."""

_worker = _EspeakPool(PARALLEL)


# ------------------------------------------------------------------ Speech


def _piper_voice(model: str | os.PathLike, language: str, background: bool):
    """The checked Piper voice; in the background a problem is one log line
    (once per file) and ``None``: espeak-ng speaks, nothing stops."""
    from intervisor.sound.pipervoice import VoiceFile, VoiceProblem

    try:
        return VoiceFile.open(model, language)
    except VoiceProblem as e:
        if not background:
            raise SpeechError(str(e)) from None
        if str(model) not in _told:
            _told.add(str(model))
            log.error("speech: %s; espeak-ng speaks %s instead", e, language)
        return None


_told: set[str] = set()


class Speech:
    """Renders prompts in one language and voice, through the on-disk cache.

    ``rate`` is words per minute, ``volume`` 0..1, ``voice`` an espeak-ng
    voice name to use instead of the language's own (``en-gb``), and
    ``piper_model`` a Piper voice (``MODEL.onnx``) for this language.

    With ``piper_background`` (the device) espeak-ng renders every prompt
    as before and Piper fills its own versions in behind it, at low
    priority (:mod:`intervisor.sound.pipervoice`); :meth:`render` gives the Piper
    one as soon as it is there. A voice that cannot be used is one log line
    and espeak-ng. Without it (``intervisor say --voice piper``, the
    benchmarks) Piper renders everything itself, and a bad voice raises.

    >>> speech = Speech("en", 150, 1.0, "/tmp/prompts")         # doctest: +SKIP
    >>> speech.render("Time is up.").shape                      # doctest: +SKIP
    (30870,)
    """

    def __init__(self, language: str, rate: int = 150, volume: float = 1.0,
                 cache_dir: str | os.PathLike = "/var/cache/intervisor/speech",
                 voice: str | None = None, piper_model: str | os.PathLike | None = None,
                 piper_background: bool = False, word_gap: int | None = None, tuned: bool = True,
                 pitch: int | None = None, pitch_range: int | None = None):
        self.language = language
        # The configured rate reaches Piper as a stretch of its own pace:
        # the default rate is the voice's own, a slower one a longer render.
        self.piper_length = round(DEFAULT_RATE / max(1, int(rate)), 3)
        # The word gap and the tuned pace are espeak-ng's (ESPEAK_TUNING):
        # what helps its formants would only slow Piper down.
        tuning = ESPEAK_TUNING.get(language, {}) if tuned else {}
        self.rate = int(round(rate * tuning.get("pace", 1.0)))
        self.word_gap = int(tuning.get("word_gap", 0) if word_gap is None else word_gap)
        self.tone = {"gap": self.word_gap,
                     "pitch": int(tuning.get("pitch", 50) if pitch is None else pitch),
                     "range": int(tuning.get("range", 50) if pitch_range is None else pitch_range)}
        self.volume = float(volume)
        self.voice = voice or language
        self.cache_dir = Path(cache_dir)
        self.piper = _piper_voice(piper_model, language, piper_background) if piper_model else None
        self.background = piper_background
        self._piper_now = None
        self._in_piper: set[str] = set()
        if self.piper is not None and not piper_background:
            from intervisor.sound.pipervoice import PiperEngine, VoiceProblem

            try:
                self._piper_now = PiperEngine(self.piper)
            except VoiceProblem as e:
                raise SpeechError(str(e)) from None
        self.engine = "piper" if self._piper_now is not None else "espeak"
        self.sample_rate = ESPEAK_RATE if self._piper_now is None else self._piper_now.sample_rate
        self._settings = json.dumps([CACHE_FORMAT, "espeak", _espeak_version(), self.voice, self.rate,
                                     round(self.volume, 3), self.word_gap]
                                    # The voice's own pitch keeps the files it had.
                                    + ([self.tone["pitch"], self.tone["range"]]
                                       if (self.tone["pitch"], self.tone["range"]) != (50, 50) else []))
        self._piper_settings = (json.dumps([CACHE_FORMAT, "piper", self.piper.key, round(self.volume, 3),
                                            self.piper_length])
                                if self.piper is not None else None)

    def __repr__(self) -> str:
        piper = f", piper={Path(self.piper.model).name}" if self.piper is not None else ""
        return f"Speech({self.language!r}, engine={self.engine}, voice={self.voice!r}, rate={self.rate}{piper})"

    def _digest(self, settings: str, text: str) -> str:
        return hashlib.sha256(f"{settings}\n{spoken_form(self.language, text)}".encode()).hexdigest()[:32]

    def path_for(self, text: str) -> Path:
        """The cache file for ``text`` in the voice this speech renders now:
        a hash, never the words (no transcript on disk); of what is said, so
        a new respelling renders anew."""
        if self._piper_now is not None:
            return self.piper_path_for(text)
        return self.cache_dir / f"{self._digest(self._settings, text)}.wav"

    def piper_path_for(self, text: str) -> Path | None:
        """Where the Piper version of ``text`` is kept (keyed by the voice
        file too), or ``None`` without a Piper voice."""
        if self._piper_settings is None:
            return None
        return self.cache_dir / f"{self._digest(self._piper_settings, text)}.piper.wav"

    def cached(self, text: str) -> bool:
        return self.path_for(text).exists()

    def source(self, text: str) -> str:
        """Which voice :meth:`render` gives ``text`` in now: ``piper`` or ``espeak``."""
        text = text.strip()
        if self._piper_now is not None or text in self._in_piper:
            return "piper"
        path = self.piper_path_for(text)
        if path is not None and path.exists():
            self._in_piper.add(text)
            return "piper"
        return "espeak"

    def prerender(self, texts: Iterable[str], workers: int = 1) -> int:
        """Render every text not yet in the cache; the number rendered.
        ``workers`` > 1 spreads them over that many espeak-ng processes
        (up to :data:`PARALLEL`): for start-up, not beside a session.
        Piper in the background gets its turn with :meth:`fill_piper`."""
        texts = [t.strip() for t in texts if t and t.strip()]
        todo = [t for t in dict.fromkeys(texts) if not self.cached(t)]
        if todo:
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SpeechError(f"{self.cache_dir}: cannot keep the prompt cache there ({e.strerror})") from None
        if self._piper_now is not None:
            for text in todo:
                write_wav(self.path_for(text), self._piper_now.render(spoken_form(self.language, text),
                                                                      self.piper_length)
                          * np.float32(self.volume), self.sample_rate)
            return len(todo)
        # Batches keep one request small enough to time out sensibly.
        step = 50 * max(1, workers)
        for i in range(0, len(todo), step):
            batch = todo[i : i + step]
            with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".sentences-") as tmp:
                plan = [[(s, os.path.join(tmp, f"{k}-{j}.wav")) for j, s in enumerate(self._sentences(t))]
                        for k, t in enumerate(batch)]
                _worker.render_spread(self.voice, self.rate, 1.0, [job for jobs in plan for job in jobs], workers,
                                      **self.tone)
                for text, jobs in zip(batch, plan):
                    self._store(text, [read_wav(path)[0] for _, path in jobs])
        return len(todo)

    def fill_piper(self, texts: Iterable[str]) -> int:
        """Hand ``texts`` to the background Piper renderer, in this order
        (those it has already are skipped); how many it took."""
        if self.piper is None or self._piper_now is not None:
            return 0
        from intervisor.sound.pipervoice import FILLER

        texts = [t.strip() for t in texts if t and t.strip()]
        return FILLER.add(self.piper, [(spoken_form(self.language, t), str(self.piper_path_for(t)))
                                       for t in dict.fromkeys(texts)], self.volume, length=self.piper_length)

    def _sentences(self, text: str) -> list[str]:
        """What the synthesiser says for ``text``, one sentence at a time."""
        return sentences(spoken_form(self.language, text)) or [text]

    def _store(self, text: str, chunks: list[np.ndarray]) -> None:
        """The sentences of ``text``, with the pauses and level of
        :mod:`intervisor.sound.prosody`, at the volume asked for, into the cache."""
        write_wav(self.path_for(text), assemble(chunks, self.sample_rate) * np.float32(self.volume),
                  self.sample_rate)

    def render(self, text: str) -> np.ndarray:
        """``text`` as float32 mono samples at :attr:`sample_rate`, from the
        cache (rendered first if it is not there yet): the Piper version
        where there is one, else espeak-ng's."""
        text = text.strip()
        if not text:
            return np.zeros(0, dtype=np.float32)
        if self._piper_now is None and self.source(text) == "piper":
            try:
                samples, rate = read_wav(self.piper_path_for(text))
                return resample(samples, rate, self.sample_rate)
            except (OSError, EOFError, wave.Error, SpeechError):
                self._in_piper.discard(text)   # gone or damaged: espeak-ng says it
        path = self.path_for(text)
        try:
            samples, rate = read_wav(path)
        except (OSError, EOFError, wave.Error, SpeechError):
            # Absent, or damaged by a disk fault: render it (again).
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            self.prerender([text])
            samples, rate = read_wav(path)
        return samples

    def check(self) -> None:
        """Fail now (:class:`VoiceMissing`) if this voice cannot speak, without
        touching the cache."""
        if self._piper_now is not None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            _worker.render(self.voice, self.rate, self.volume, [("a", os.path.join(tmp, "check.wav"))])


def close_worker() -> None:
    """Stop the espeak-ng workers and the Piper one now (they also leave
    by themselves when idle); what Piper had queued is forgotten."""
    _worker.close()
    if "intervisor.sound.pipervoice" in sys.modules:
        sys.modules["intervisor.sound.pipervoice"].FILLER.close()


def timed_prerender(speech: Speech, texts: Sequence[str]) -> tuple[int, float]:
    """(rendered, seconds): for the benchmarks and the service's log."""
    t = time.perf_counter()
    n = speech.prerender(texts)
    return n, time.perf_counter() - t
