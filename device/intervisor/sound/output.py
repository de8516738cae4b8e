"""What the group hears: one persistent output stream and a small mixer.

The stream is opened once and kept open; speech and cues are handed to the
mixer that runs in its callback, so a press is answered within a block or
two (opening a stream per sound, as ``sd.play`` does, costs a second or
more through PulseAudio). A new prompt interrupts the one speaking with a
short fade; a cue mixes over speech.

:class:`SoundOutput` is the adapter the runner hands every action to; it
never blocks the engine's thread (prompts not yet in memory are loaded by a
feeder thread). When the device is missing or goes away it keeps running,
silently, reports the fault and opens the device again when it returns.
:class:`FakeSound` has the same methods and only records.

>>> from intervisor.core.events import Cue, Play, Say
>>> sound = FakeSound()
>>> sound.perform(Say(("Nog", "7 minuten"))); sound.perform(Play(Cue.WARNING))
>>> sound.said, sound.played
(['Nog 7 minuten'], [<Cue.WARNING: 'warning'>])
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from intervisor.sound import portaudio
from intervisor.sound.cues import Chimes
from intervisor.core.events import Cue, Hush, Play, Say

log = logging.getLogger("intervisor.sound")

FADE = 0.012
"""Seconds over which interrupted speech fades out: short enough to feel
instant, long enough to make no click."""


class Mixer:
    """Sums one speech voice and any number of cues into output blocks.

    Producers (any thread) only post; :meth:`fill` (the audio callback)
    does all the work, so nothing here needs a lock. A ``say`` carries a
    generation number: one that a later ``say`` or ``hush`` has overtaken
    is dropped when it arrives late. A sound posted with ``at`` (monotonic
    seconds) starts on the sample heard at that time, when ``fill`` is told
    when its block will be heard: a deadline's cue is then on time to the
    sample instead of waiting for the next block and the buffer after it.

    >>> m = Mixer(48000)
    >>> m.play(np.ones(10, dtype=np.float32) * 0.5)
    >>> out = np.zeros((4, 1), dtype=np.float32); m.fill(out); float(out[0, 0])
    0.5
    >>> m = Mixer(48000)
    >>> m.play(np.ones(10, dtype=np.float32), at=100.0 + 2 / 48000)
    >>> out = np.zeros((4, 1), dtype=np.float32); m.fill(out, heard_at=100.0); out[:, 0].tolist()
    [0.0, 0.0, 1.0, 1.0]
    """

    def __init__(self, rate: int, fade: float = FADE):
        self.rate = rate
        self._inbox: collections.deque = collections.deque()
        self._ramp = np.linspace(1.0, 0.0, max(2, int(fade * rate)), dtype=np.float32)
        # Positions are of the block's first frame in the sound: negative
        # while a timed sound has not begun.
        self._speech: np.ndarray | None = None
        self._pos = 0
        self._voices: list[list] = []  # [samples, position]
        self._scratch = np.zeros(0, dtype=np.float32)
        self.latest = 0               # the newest generation handed out
        self._gen_lock = threading.Lock()
        # Read by other threads: plain attributes, each written whole.
        self.speech_left = 0          # samples of speech still to play (a wait included)
        self.cues_left = 0            # samples of the longest cue still to play
        self.blocks = 0

    # ---------------------------------------------------- producers (any thread)

    def next_generation(self) -> int:
        with self._gen_lock:
            self.latest += 1
            return self.latest

    def say(self, samples: np.ndarray, generation: int, at: float | None = None) -> None:
        self._inbox.append(("say", samples, generation, at))

    def play(self, samples: np.ndarray, at: float | None = None) -> None:
        self._inbox.append(("cue", samples, 0, at))

    def hush(self, generation: int) -> None:
        self._inbox.append(("hush", None, generation, None))

    def reset(self) -> None:
        self._inbox.append(("reset", None, 0, None))

    @property
    def pending(self) -> bool:
        return bool(self._inbox)

    # ------------------------------------------------------ the audio callback

    def _fade_out(self, after: int = 0) -> None:
        """Let the speech go on for ``after`` frames (until the prompt that
        replaces it starts), then fade it out."""
        if self._speech is not None and self._pos >= 0:
            tail = self._speech[self._pos : self._pos + after + len(self._ramp)].copy()
            if len(tail) > after:
                tail[after:] *= self._ramp[: len(tail) - after]
                self._voices.append([tail, 0])
        self._speech, self._pos = None, 0

    LONGEST_WAIT = 2.0
    """Seconds ahead beyond which an ``at`` is taken for a mistake (another
    clock): the sound plays at once instead of never."""

    def _start(self, at: float | None, heard_at: float | None) -> int:
        """The position a sound starts from in this block: 0 at once, or
        minus the frames to wait until ``at`` (a sound already late starts
        at once: never skipped into)."""
        if at is None or heard_at is None or at - heard_at > self.LONGEST_WAIT:
            return 0
        return -max(0, int(round((at - heard_at) * self.rate)))

    def _take(self, heard_at: float | None) -> None:
        while self._inbox:
            kind, samples, gen, at = self._inbox.popleft()
            if kind == "cue":
                self._voices.append([samples, self._start(at, heard_at)])
            elif kind == "say":
                if gen < self.latest:
                    continue  # overtaken while it was being loaded
                start = self._start(at, heard_at)
                self._fade_out(after=-start)
                self._speech, self._pos = samples, start
            elif kind == "hush":
                self._fade_out()
            elif kind == "reset":
                self._speech, self._pos, self._voices = None, 0, []

    @staticmethod
    def _add(mix: np.ndarray, samples: np.ndarray, pos: int) -> int:
        """Add ``samples`` from ``pos`` into the block; the next position."""
        frames = len(mix)
        skip = -pos if pos < 0 else 0
        if skip < frames:
            src = max(pos, 0)
            n = min(frames - skip, len(samples) - src)
            if n > 0:
                mix[skip : skip + n] += samples[src : src + n]
        return pos + frames

    def fill(self, out: np.ndarray, heard_at: float | None = None) -> None:
        """Write the next ``len(out)`` frames (all channels the same).
        ``heard_at``: the monotonic time its first frame will be heard."""
        self._take(heard_at)
        frames = len(out)
        if self._speech is None and not self._voices:
            out.fill(0)
            self.speech_left = self.cues_left = 0
            self.blocks += 1
            return
        if len(self._scratch) < frames:
            self._scratch = np.zeros(frames, dtype=np.float32)
        mix = self._scratch[:frames]
        mix.fill(0)
        if self._speech is not None:
            self._pos = self._add(mix, self._speech, self._pos)
            if self._pos >= len(self._speech):
                self._speech, self._pos = None, 0
        longest = 0
        still = []
        for voice in self._voices:
            voice[1] = self._add(mix, voice[0], voice[1])
            if voice[1] < len(voice[0]):
                still.append(voice)
                longest = max(longest, len(voice[0]) - voice[1])
        self._voices = still
        np.clip(mix, -1.0, 1.0, out=mix)
        out[:] = mix[:, None] if out.ndim == 2 else mix
        self.speech_left = 0 if self._speech is None else len(self._speech) - self._pos
        self.cues_left = longest
        self.blocks += 1


def _trim(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut the synthesiser's silence (:func:`intervisor.sound.prosody.trim`): the
    pauses between the parts of a prompt are :func:`_joined`'s to give."""
    from intervisor.sound.prosody import trim

    return trim(samples, rate)


def _joined(parts: list[np.ndarray], rate: int) -> np.ndarray:
    """The parts of one prompt, with a real pause between them."""
    from intervisor.sound.prosody import join

    return join(parts, rate)[0]


class _Prompts:
    """Prompts in memory at the stream's rate, as int16, least recently
    used dropped first: a method's prompts stay in a few MB. Each is kept
    with the voice it was rendered in (``tag``): asked for in another (its
    Piper version came in behind espeak-ng's), it is not there."""

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self._items: collections.OrderedDict[str, tuple[np.ndarray, Any]] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    ANY = object()

    def get(self, text: str, tag: Any = ANY) -> np.ndarray | None:
        """The prompt in memory in voice ``tag`` (any voice: not given)."""
        with self._lock:
            item = self._items.get(text)
            if item is None or (tag is not _Prompts.ANY and item[1] != tag):
                return None
            self._items.move_to_end(text)
            return item[0]

    def put(self, text: str, pcm: np.ndarray, tag: Any = None) -> None:
        with self._lock:
            old = self._items.pop(text, None)
            if old is not None:
                self._bytes -= old[0].nbytes
            self._items[text] = (pcm, tag)
            self._bytes += pcm.nbytes
            while self._bytes > self.budget and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped[0].nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return self._bytes >= self.budget * 0.9


def _give_back_memory() -> None:
    """Return the heap that rendering and resampling left free to the
    system (glibc keeps it otherwise): the device runs for months."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class SoundOutput:
    """The sound adapter: ``perform(action)`` for :class:`Say`,
    :class:`Play` and :class:`Hush`; every other action is ignored.

    ``speech`` renders prompts (:class:`intervisor.sound.speech.Speech`), or
    ``speech_factory(language)`` makes one per language. ``device`` is part
    of the output device's name (``None``: the default). ``on_fault(faulted,
    why)`` is called from the watch thread whenever the device is lost or
    found again. ``standby_after``: seconds of silence after which the
    stream is stopped (running idle it costs a few percent of a core through
    ALSA and PulseAudio) until the next sound starts it; ``None`` keeps it
    running, for an output that clicks when its stream starts.

    >>> sound = SoundOutput(speech, device="USB")          # doctest: +SKIP
    >>> sound.prepare(engine.phrases_to_render())          # doctest: +SKIP
    >>> sound.perform(Play(Cue.PHASE_START))               # doctest: +SKIP
    >>> sound.close()                                      # doctest: +SKIP
    """

    def __init__(
        self,
        speech: Any = None,
        *,
        speech_factory: Callable[[str], Any] | None = None,
        device: str | int | None = None,
        sample_rate: int = 48000,
        block_size: int = 256,
        latency: float | str = 0.016,
        cue_volume: float = 0.6,
        retry_every: float = 2.0,
        stall_after: float = 2.0,
        start_grace: float = 6.0,
        rescan_every: float = 20.0,
        standby_after: float | None = 10.0,
        quick_start: bool = True,
        memory_budget: int = 6 * 1024 * 1024,
        on_fault: Callable[[bool, str], None] | None = None,
        start: bool = True,
    ):
        self.speech = speech
        self.speech_factory = speech_factory
        self.device = device
        self.sample_rate = int(sample_rate)
        self.block_size = int(block_size)
        self.latency = latency
        self.cue_volume = cue_volume
        self.retry_every = retry_every
        self.stall_after = stall_after
        self.start_grace = start_grace
        self._opened_at = 0.0
        self.rescan_every = rescan_every
        self.standby_after = standby_after
        self.quick_start = quick_start
        self._kick = False
        self._can_rest = False
        self._standby = False
        self._last_sound = 0.0
        self._last_rescan = -float("inf")
        self.on_fault = on_fault
        self.rate = self.sample_rate
        self.chimes = Chimes(self.rate, cue_volume)
        self.mixer = Mixer(self.rate)
        self.prompts = _Prompts(memory_budget)
        self.fault: str | None = None
        self.output_latency = 0.0
        self._sd = None
        self._stream = None
        self._last_block = 0.0
        self._closed = False
        self._wake = threading.Event()
        self._feed: queue.Queue = queue.Queue()
        self._feeder = threading.Thread(target=self._feed_loop, name="sound-feeder", daemon=True)
        self._watch = threading.Thread(target=self._watch_loop, name="sound-watch", daemon=True)
        self._started = False
        if start:
            self.start()

    # ------------------------------------------------------------- lifecycle

    def start(self) -> "SoundOutput":
        """Open the device (or note the fault) and start watching it."""
        if self._started:
            return self
        self._started = True
        self._open()
        self._feeder.start()
        self._watch.start()
        return self

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._feed.put(None)
        self._close_stream()
        for thread in (self._feeder, self._watch):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=5)

    def __enter__(self) -> "SoundOutput":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def standby(self) -> bool:
        """True while the stream is stopped after ``standby_after`` seconds
        of silence (it starts again with the next sound)."""
        return self._standby

    @property
    def faulted(self) -> bool:
        """True while there is no working output device."""
        return self.fault is not None

    # ------------------------------------------------------------ the device

    def _import_sd(self):
        if self._sd is None:
            self._sd = portaudio.sounddevice()
        return self._sd

    def _find_device(self, sd) -> int | None:
        if self.device is None or isinstance(self.device, int):
            return self.device
        want = str(self.device).lower()
        for i, dev in enumerate(sd.query_devices()):
            if dev["max_output_channels"] > 0 and want in dev["name"].lower():
                return i
        raise LookupError(f"no output device whose name contains {self.device!r}")

    def _rescan(self, sd) -> None:
        """Make PortAudio list the devices again: a USB speaker plugged in
        after start, or a sound server that was not up yet, is only seen so.
        It frees every PortAudio stream of this process (a microphone's
        too, which then drops it untouched: :mod:`intervisor.sound.portaudio`),
        so it is done rarely: see ``rescan_every``."""
        self._last_rescan = time.monotonic()
        if not portaudio.restart(sd):
            log.warning("sound: PortAudio is busy (a microphone opening); no rescan for %.0f s",
                        self.rescan_every)

    def _open(self) -> None:
        try:
            sd = self._import_sd()
            rescan_due = time.monotonic() - self._last_rescan >= self.rescan_every
            try:
                index = self._find_device(sd)
                info = sd.query_devices(index, "output")
            except (LookupError, ValueError, sd.PortAudioError):
                if not rescan_due:
                    raise
                self._rescan(sd)
                rescan_due = False
                index = self._find_device(sd)
                info = sd.query_devices(index, "output")
            channels = 2 if info["max_output_channels"] >= 2 else 1
            stream = None
            for rate in dict.fromkeys([self.sample_rate, int(info["default_samplerate"])]):
                try:
                    stream = sd.OutputStream(
                        samplerate=rate, blocksize=self.block_size, device=index, channels=channels,
                        dtype="float32", latency=self.latency, callback=self._callback,
                        finished_callback=self._wake.set,
                    )
                    break
                except sd.PortAudioError as e:
                    error = e
            if stream is None and rescan_due:
                self._rescan(sd)
            if stream is None:
                raise error
            if rate != self.rate:
                # The device would not take our rate: cues and prompts follow it.
                self.rate = rate
                self.chimes = Chimes(rate, self.cue_volume)
                self.prompts.clear()
            self.mixer = Mixer(self.rate)
            self._last_block = self._opened_at = self._last_sound = time.monotonic()
            self._standby = False
            stream.start()
            self._stream = stream
            # Resting and quick restarts need a stream that can stop and
            # start again (a stand-in stream may not).
            self._can_rest = all(callable(getattr(stream, m, None)) for m in ("stop", "abort"))
            self.output_latency = float(stream.latency)
            self._set_fault(None)
            log.info("sound: device %s open (%d Hz, block %d)", info["name"], self.rate, self.block_size)
        except Exception as e:
            self._stream = None
            self._set_fault(f"{type(e).__name__}: {e}")

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        except Exception:
            log.debug("sound: closing a lost stream failed", exc_info=True)

    def _set_fault(self, why: str | None) -> None:
        was, self.fault = self.fault, why
        if (was is None) == (why is None):
            return
        if why is None:
            log.info("sound: device back")
        else:
            log.warning("sound: no output device (%s); running silently, retrying", why)
        if self.on_fault is not None:
            try:
                self.on_fault(why is not None, why or "")
            except Exception:
                log.exception("sound: on_fault failed")

    def _heard_at(self, now: float, time_info: Any) -> float:
        """When the block being written now will be heard. PortAudio's own
        answer (its DAC time, on its clock) varies by a few ms from block to
        block with what the server holds; the stream's nominal latency is
        the fallback where a host API does not give it."""
        try:
            ahead = float(time_info.outputBufferDacTime) - float(time_info.currentTime)
        except (AttributeError, TypeError, ValueError):
            ahead = -1.0
        if not 0.0 < ahead < 1.0:  # some host APIs give all zeros
            ahead = self.output_latency
        return now + ahead

    def _callback(self, outdata, frames, time_info, status) -> None:
        now = time.monotonic()
        try:
            self.mixer.fill(outdata, self._heard_at(now, time_info))
        except Exception:  # raising here would stop the stream for good
            outdata.fill(0)
            log.exception("sound: mixer failed")
        self._last_block = now
        if self.mixer.speech_left or self.mixer.cues_left:
            self._last_sound = self._last_block

    def _rouse(self, at: float | None = None) -> None:
        """Something was posted: wake the stream if it is on standby, or
        restart it if all it has queued is silence (the sound is then heard
        at once instead of after a buffer of nothing). A sound due later
        than the buffer reaches needs no restart: it is placed on its sample."""
        if self._standby:
            self._wake.set()
            return
        now = time.monotonic()
        if at is not None and at > now + self.output_latency + 0.01:
            return
        if (self.quick_start and self._can_rest and self._stream is not None
                and now - self._last_sound > self.output_latency + 0.02):
            self._kick = True
            self._wake.set()

    def _kicked(self, stream) -> None:
        """A sound was posted after a silence: restart the stream, so that
        it is heard at once, but only while all it has queued is silence.
        Once the callback has taken a sound in (a cue, then its words
        posted a moment later), dropping the buffer would cut its start:
        it is then heard a buffer later instead, whole."""
        if self.mixer.pending and not (self.mixer.speech_left or self.mixer.cues_left):
            self._restart(stream)
        self._kick = False

    def _restart(self, stream) -> None:
        # Dropping the queued buffer drops silence only: nothing is cut.
        self._kick = False
        try:
            stream.abort()
        except Exception:
            log.debug("sound: abort failed", exc_info=True)
        self._resume(stream)

    def _resume(self, stream) -> None:
        try:
            self._last_block = self._opened_at = time.monotonic()
            stream.start()
            self._standby = False
        except Exception as e:
            self._close_stream()
            self._set_fault(f"cannot restart the output ({type(e).__name__}: {e})")

    def _pause(self, stream) -> None:
        # A stopped stream costs no CPU; an idle running one costs a few
        # percent of a core through ALSA and PulseAudio. Stopping drains
        # what is queued first, so nothing audible is cut.
        try:
            stream.stop()
            self._standby = True
        except Exception as e:
            self._close_stream()
            self._set_fault(f"the output device stopped ({type(e).__name__}: {e})")
            return
        if self.mixer.pending:  # posted while it stopped
            self._resume(stream)

    def _watch_loop(self) -> None:
        next_try = 0.0
        while not self._closed:
            self._wake.wait(timeout=min(0.25, self.retry_every))
            self._wake.clear()
            if self._closed:
                return
            now = time.monotonic()
            stream = self._stream
            if stream is not None and self._standby:
                if self.mixer.pending:
                    self._resume(stream)
                continue
            if stream is not None and self._kick:
                self._kicked(stream)
                continue
            if stream is not None:
                if (self.standby_after is not None and self._can_rest and now - self._last_sound > self.standby_after
                        and not self.mixer.pending and not self._feeding()):
                    self._pause(stream)
                    continue
                # PulseAudio's ALSA plugin is silent for a second or two after
                # a stream starts: not a lost device.
                limit = self.start_grace if now - self._opened_at < self.start_grace else self.stall_after
                stalled = now - self._last_block > limit
                if stalled or not stream.active:
                    self._close_stream()
                    self._set_fault("the output device stopped" + (" (no audio for a while)" if stalled else ""))
                    next_try = now + self.retry_every
            elif now >= next_try:
                self._open()
                next_try = now + self.retry_every

    # ---------------------------------------------------------------- speech

    def set_language(self, language: str) -> None:
        """Speak ``language`` from now on (a method in another language)."""
        if self.speech is not None and getattr(self.speech, "language", None) == language:
            return
        if self.speech_factory is None:
            raise ValueError(f"no speech for {language!r}: this sound output has no speech_factory")
        self.speech = self.speech_factory(language)
        self.prompts.clear()

    def prepare(self, texts: Iterable[str], language: str | None = None) -> int:
        """Render every text ahead (to the disk cache) and load it into
        memory; the number newly rendered. Call when a method is loaded:
        nothing is synthesised during the session."""
        if language is not None:
            self.set_language(language)
        if self.speech is None:
            return 0
        texts = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
        rendered = self.speech.prerender(texts)
        if hasattr(self.speech, "fill_piper"):
            self.speech.fill_piper(texts)      # behind espeak-ng, in the background
        # Memory holds what fits, the first texts first (the caller lists the
        # method's own before the hundreds of numbered parts); the rest comes
        # from the disk cache when it is said, through the feeder.
        for text in texts:
            if self.prompts.full:
                break
            if self._cached(text) is None:
                self._load(text)
        _give_back_memory()
        return rendered

    def _voice_of(self, text: str) -> Any:
        source = getattr(self.speech, "source", None)
        return source(text) if source is not None else None

    def _cached(self, text: str) -> np.ndarray | None:
        """``text`` in memory in the voice the speech gives it now."""
        return self.prompts.get(text, self._voice_of(text))

    def _load(self, text: str) -> np.ndarray:
        from intervisor.sound.speech import resample

        tag = self._voice_of(text)
        samples = self.speech.render(text)
        samples = _trim(resample(samples, self.speech.sample_rate, self.rate), self.rate)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        self.prompts.put(text, pcm, tag)
        return pcm

    @staticmethod
    def _to_float(pcm: np.ndarray) -> np.ndarray:
        return pcm.astype(np.float32) * np.float32(1 / 32767)

    def _feeding(self) -> bool:
        return self._feed.unfinished_tasks > 0

    def _feed_loop(self) -> None:
        while True:
            job = self._feed.get()
            if job is None:
                self._feed.task_done()
                return
            gen, parts, at = job
            try:
                if gen < self.mixer.latest or self.speech is None:
                    continue
                pcm = [self._cached(p) for p in parts]
                pcm = [x if x is not None else self._load(p) for x, p in zip(pcm, parts)]
                if gen == self.mixer.latest and not self.faulted:
                    self.mixer.say(_joined([self._to_float(x) for x in pcm], self.rate), gen, at)
                    self._rouse(at)
            except Exception as e:
                # Never the text itself in the log.
                log.warning("sound: could not render a prompt (%s)", type(e).__name__)
            finally:
                self._feed.task_done()

    # ------------------------------------------------------------ the adapter

    def perform(self, action: Any) -> None:
        """Carry out a :class:`Say`, :class:`Play` or :class:`Hush`; ignore
        the rest. Returns at once: safe on the engine's thread and from
        gpiozero's (hold ticks)."""
        if isinstance(action, Say):
            self.say(action.parts, at=action.at)
        elif isinstance(action, Play):
            self.play(action.cue, at=action.at)
        elif isinstance(action, Hush):
            self.hush()

    def say(self, parts: Iterable[str] | str, at: float | None = None) -> None:
        """Speak the parts as one prompt, interrupting the one speaking;
        from ``at`` (monotonic seconds) when given, else at once."""
        parts = [parts] if isinstance(parts, str) else list(parts)
        parts = [p.strip() for p in parts if p and p.strip()]
        gen = self.mixer.next_generation()
        if self.faulted or not parts or self.speech is None:
            # Says nothing it cannot say: a prompt kept for later would come
            # out of the blue minutes on, when the device is back.
            self.mixer.hush(gen)
            return
        cached = [self._cached(p) for p in parts]
        if all(x is not None for x in cached):
            self.mixer.say(_joined([self._to_float(x) for x in cached], self.rate), gen, at)
            self._rouse(at)
        else:
            self._feed.put((gen, parts, at))

    def play(self, cue: Cue, at: float | None = None) -> None:
        """Strike a cue over whatever sounds; on ``at`` when given."""
        if not self.faulted:
            self.mixer.play(self.chimes[cue], at)
            self._rouse(at)

    def hush(self) -> None:
        self.mixer.hush(self.mixer.next_generation())

    # ---------------------------------------------------- for voice and tests

    def busy_until(self) -> float:
        """Until when (``time.monotonic()``) the speaker makes sound, speech or cue,
        as known now; the voice adapter is deaf until then."""
        left = max(self.mixer.speech_left, self.mixer.cues_left)
        if left == 0 and not self.mixer.pending and not self._feeding():
            return 0.0
        return self._last_block + left / self.rate + self.output_latency

    def speaking_until(self) -> float:
        """Like :meth:`busy_until`, for speech only."""
        if self.mixer.speech_left == 0 and not self._feeding():
            return 0.0
        return self._last_block + self.mixer.speech_left / self.rate + self.output_latency

    def is_busy(self) -> bool:
        if self.mixer.pending or self._feeding():
            return True
        return time.monotonic() < self.busy_until()

    def finish(self, timeout: float = 10.0) -> bool:
        """Wait (bounded) until everything queued has been played."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.faulted or not self.is_busy():
                return True
            time.sleep(0.02)  # the callback thread has no event to wait on
        return False

    drain = finish


class FakeSound:
    """The sound adapter's stand-in: records what it was asked to do.

    >>> fake = FakeSound(); fake.perform(Hush()); fake.hushes
    1
    """

    def __init__(self) -> None:
        self.actions: list = []
        self.said: list[str] = []
        self.played: list[Cue] = []
        self.hushes = 0
        self.prepared: list[str] = []
        self.language: str | None = None
        self.fault: str | None = None
        self.closed = False

    @property
    def faulted(self) -> bool:
        return self.fault is not None

    def perform(self, action: Any) -> None:
        if isinstance(action, Say):
            self.said.append(action.text)
        elif isinstance(action, Play):
            self.played.append(action.cue)
        elif isinstance(action, Hush):
            self.hushes += 1
        else:
            return
        self.actions.append(action)

    def prepare(self, texts: Iterable[str], language: str | None = None) -> int:
        self.prepared.extend(texts)
        if language is not None:
            self.language = language
        return 0

    def busy_until(self) -> float:
        return 0.0

    def speaking_until(self) -> float:
        return 0.0

    def is_busy(self) -> bool:
        return False

    def finish(self, timeout: float = 10.0) -> bool:
        return True

    drain = finish

    def close(self) -> None:
        self.closed = True


_ABSENT = object()


def _audio_raw(config: Any, name: str, default: Any) -> Any:
    """The audio setting as written, ``None`` included; ``default`` if absent."""
    audio = config.get("audio") if isinstance(config, dict) else getattr(config, "audio", None)
    if not audio:
        return default
    value = audio.get(name, _ABSENT) if isinstance(audio, dict) else getattr(audio, name, _ABSENT)
    return default if value is _ABSENT else value


def _audio_setting(config: Any, name: str, default: Any) -> Any:
    value = _audio_raw(config, name, None)
    return default if value is None else value


def speech_factory_from_config(config: Any, voice: str | None = None) -> Callable[[str], Any]:
    """``factory(language) -> Speech`` with the config's rate, volume, voices,
    Piper voices and cache folder. ``voice``: ``None`` as on the device
    (espeak-ng at once, Piper filled in behind it where the language has a
    voice), ``espeak`` never Piper, ``piper`` Piper rendering everything
    itself (a voice that cannot be used raises)."""
    from intervisor.sound.speech import Speech

    def get(name: str, default: Any) -> Any:
        return _audio_setting(config, name, default)

    root = config.get("cache_dir") if isinstance(config, dict) else getattr(config, "cache_dir", None)
    cache = Path(root or "/var/cache/intervisor") / "speech"
    device_language = (config.get("language") if isinstance(config, dict)
                       else getattr(config, "language", None)) or "nl"

    def piper_for(language: str) -> str | None:
        from intervisor.files.config import piper_voice_for

        if voice == "espeak":
            return None
        return piper_voice_for(get("piper", {}), get("piper_model", None), language, device_language)

    def factory(language: str):
        model = piper_for(language)
        if voice == "piper" and not model:
            from intervisor.sound.speech import SpeechError

            raise SpeechError(f"no Piper voice for {language} in the config (audio.piper.{language})")
        return Speech(language, rate=get("rate", 150), volume=get("speech_volume", 1.0), cache_dir=cache,
                      voice=(get("voices", {}) or {}).get(language), piper_model=model,
                      piper_background=voice is None)

    return factory


def with_writable_cache(config: Any) -> Any:
    """The config, with a prompt cache this user can write: an admin's or an
    author's own shell may not write the service's /var/cache/intervisor."""
    import dataclasses
    import os

    probe = Path(config.cache_dir)
    while not probe.exists():
        probe = probe.parent
    if os.access(probe, os.W_OK):
        return config
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "intervisor"
    return dataclasses.replace(config, cache_dir=str(home))


def from_config(config: Any, language: str = "nl", voice: str | None = None, **kwargs: Any) -> SoundOutput:
    """The service's sound adapter, as the config describes it (``voice``:
    see :func:`speech_factory_from_config`)."""

    def get(name: str, default: Any) -> Any:
        return _audio_setting(config, name, default)

    factory = speech_factory_from_config(config, voice)
    options = dict(device=get("device", None), sample_rate=get("sample_rate", 48000),
                   block_size=get("block_size", 256), cue_volume=get("cue_volume", 0.6),
                   latency=get("latency", 0.016), quick_start=get("quick_start", True),
                   standby_after=_audio_raw(config, "standby_after", 10.0))  # None: never rest
    options.update(kwargs)
    return SoundOutput(factory(language), speech_factory=factory, **options)


__all__ = ["FakeSound", "Mixer", "SoundOutput", "from_config", "speech_factory_from_config"]
