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
It is the face of three parts, each with one job: the stream's life
(:class:`intervisor.sound.stream.StreamKeeper`), what it mixes
(:class:`intervisor.sound.mixer.Mixer`) and the prompts in memory
(:class:`intervisor.sound.prompts.PromptLibrary`, loaded off the caller's
thread by a :class:`intervisor.sound.prompts.Feeder`).
:class:`intervisor.sound.adapter.FakeSound` has the same contract and only
records.

>>> from intervisor.core.events import Play
>>> sound = SoundOutput(start=False)       # no device opened: nothing heard
>>> sound.perform(Play(Cue.WARNING)); sound.mixer.pending, sound.is_busy()
(True, True)
>>> sound.close()
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import numpy as np

from intervisor.core.events import Cue, Hush, Play, Say
from intervisor.sound.adapter import Sound
from intervisor.sound.cues import Chimes
from intervisor.sound.mixer import Mixer
from intervisor.sound.prompts import Feeder, PromptCache, PromptLibrary
from intervisor.sound.stream import StreamKeeper


class SoundOutput(Sound):
    """The sound adapter: ``perform(action)`` for :class:`Say`,
    :class:`Play` and :class:`Hush`; every other action is ignored.

    ``speech`` renders prompts (:class:`intervisor.sound.speech.Speech`), or
    ``speech_factory(language)`` makes one per language. ``device`` is part
    of the output device's name (``None``: the default). ``on_fault(faulted,
    why)`` is called from the watch thread whenever the device is lost or
    found again. ``standby_after``: seconds of silence after which the
    stream is stopped (running idle it costs a few percent of a core through
    ALSA and PulseAudio) until the next sound starts it; ``None`` keeps it
    running, for an output that clicks when its stream starts. ``sd``
    stands in for the ``sounddevice`` module (the simulator's WAV file).
    These and the rest of the stream's settings (``sample_rate``,
    ``block_size``, ``latency``, ``retry_every``, ``stall_after``,
    ``start_grace``, ``rescan_every``, ``quick_start``) are
    :class:`intervisor.sound.stream.StreamKeeper`'s.

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
        cue_volume: float = 0.6,
        memory_budget: int = 6 * 1024 * 1024,
        start: bool = True,
        **stream: Any,
    ):
        # The parts are made before they are used: the stream calls back
        # into the feeder and the library only once it has started.
        self.stream = StreamKeeper(on_rate=self._rate_changed, feeding=lambda: self.feeder.busy, **stream)
        self.cue_volume = cue_volume
        self.chimes = Chimes(self.stream.rate, cue_volume)
        self.library = PromptLibrary(speech, speech_factory=speech_factory, rate=self.stream.rate,
                                     memory_budget=memory_budget)
        self.feeder = Feeder(self.library, lambda: self.mixer.latest, self._loaded)
        self._started = False
        if start:
            self.start()

    # ------------------------------------------------------------- lifecycle

    def start(self) -> "SoundOutput":
        """Open the device (or note the fault) and start watching it."""
        if self._started:
            return self
        self._started = True
        self.stream.start()
        self.feeder.start()
        return self

    def close(self) -> None:
        self.stream.close()
        self.feeder.close()

    def __enter__(self) -> "SoundOutput":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _rate_changed(self, rate: int) -> None:
        # The device would not take our rate: cues and prompts follow it.
        self.chimes = Chimes(rate, self.cue_volume)
        self.library.set_rate(rate)

    # ---------------------------------------------------- what the parts tell

    @property
    def standby(self) -> bool:
        """True while the stream is stopped after ``standby_after`` seconds
        of silence (it starts again with the next sound)."""
        return self.stream.standby

    @property
    def standby_after(self) -> float | None:
        return self.stream.standby_after

    @standby_after.setter
    def standby_after(self, seconds: float | None) -> None:
        self.stream.standby_after = seconds

    @property
    def faulted(self) -> bool:
        """True while there is no working output device."""
        return self.stream.faulted

    @property
    def fault(self) -> str | None:
        """Why there is no working output device; ``None``: there is."""
        return self.stream.fault

    @property
    def rate(self) -> int:
        """The stream's sample rate (the device's own if it would not take ours)."""
        return self.stream.rate

    @property
    def output_latency(self) -> float:
        return self.stream.output_latency

    @property
    def block_size(self) -> int:
        return self.stream.block_size

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: nothing is heard after."""
        return self.stream.closed

    @property
    def mixer(self) -> Mixer:
        """The mixer the stream plays now (a new one each time it opens)."""
        return self.stream.mixer

    @property
    def speech(self) -> Any:
        """What renders the prompts of the language spoken now."""
        return self.library.speech

    @property
    def speech_factory(self) -> Callable[[str], Any] | None:
        return self.library.speech_factory

    @property
    def prompts(self) -> PromptCache:
        """The prompts in memory."""
        return self.library.cache

    # ---------------------------------------------------------------- speech

    def set_language(self, language: str) -> None:
        """Speak ``language`` from now on (a method in another language)."""
        self.library.set_language(language)

    def prepare(self, texts: Iterable[str], language: str | None = None) -> int:
        """Render every text ahead (to the disk cache) and load it into
        memory; the number newly rendered. Call when a method is loaded:
        nothing is synthesised during the session."""
        return self.library.prepare(texts, language)

    def _loaded(self, gen: int, pcm: list[np.ndarray], at: float | None) -> None:
        """The feeder has loaded a prompt: said, unless overtaken meanwhile."""
        if gen == self.mixer.latest and not self.faulted:
            self.mixer.say(self.library.samples(pcm), gen, at)
            self.stream.rouse(at)

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
        cached = [self.library.cached(p) for p in parts]
        if all(x is not None for x in cached):
            self.mixer.say(self.library.samples(cached), gen, at)
            self.stream.rouse(at)
        else:
            self.feeder.put(gen, parts, at)

    def play(self, cue: Cue, at: float | None = None) -> None:
        """Strike a cue over whatever sounds; on ``at`` when given."""
        if not self.faulted:
            self.mixer.play(self.chimes[cue], at)
            self.stream.rouse(at)

    def hush(self) -> None:
        self.mixer.hush(self.mixer.next_generation())

    # ---------------------------------------------------- for voice and tests

    def busy_until(self) -> float:
        """Until when (``time.monotonic()``) the speaker makes sound, speech or cue,
        as known now; the voice adapter is deaf until then."""
        left = max(self.mixer.speech_left, self.mixer.cues_left)
        if left == 0 and not self.mixer.pending and not self.feeder.busy:
            return 0.0
        return self.stream.last_block + left / self.rate + self.output_latency

    def speaking_until(self) -> float:
        """Like :meth:`busy_until`, for speech only."""
        if self.mixer.speech_left == 0 and not self.feeder.busy:
            return 0.0
        return self.stream.last_block + self.mixer.speech_left / self.rate + self.output_latency

    def is_busy(self) -> bool:
        if self.mixer.pending or self.feeder.busy:
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


__all__ = ["SoundOutput"]
