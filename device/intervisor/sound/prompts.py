"""The spoken prompts the sound adapter plays: rendered by the speech,
kept in memory at the stream's rate (:class:`PromptLibrary`, its
:class:`PromptCache`), and loaded off the caller's thread when one is asked
for that is not in memory yet (:class:`Feeder`).

>>> library = PromptLibrary(speech, rate=48000)          # doctest: +SKIP
>>> library.prepare(["Welkom.", "Nog 5 minuten"])        # doctest: +SKIP
>>> library.cached("Welkom.") is not None                # doctest: +SKIP
True
>>> to_float(np.array([32767, -32767], dtype=np.int16)).tolist()
[1.0, -1.0]
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from typing import Any, Callable, Iterable

import numpy as np

log = logging.getLogger("intervisor.sound")


def to_float(pcm: np.ndarray) -> np.ndarray:
    """A prompt kept as int16, as the mixer's float32 samples."""
    return pcm.astype(np.float32) * np.float32(1 / 32767)


def _trim(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut the synthesiser's silence (:func:`intervisor.sound.prosody.trim`): the
    pauses between the parts of a prompt are :func:`joined`'s to give."""
    from intervisor.sound.prosody import trim

    return trim(samples, rate)


def joined(parts: list[np.ndarray], rate: int) -> np.ndarray:
    """The parts of one prompt, with a real pause between them."""
    from intervisor.sound.prosody import join

    return join(parts, rate)[0]


class PromptCache:
    """Prompts in memory at the stream's rate, as int16, least recently
    used dropped first: a method's prompts stay in a few MB. Each is kept
    with the voice it was rendered in (``tag``): asked for in another (its
    Piper version came in behind espeak-ng's), it is not there.

    >>> cache = PromptCache(budget_bytes=1000)
    >>> cache.put("Welkom.", np.zeros(100, dtype=np.int16), "espeak")
    >>> cache.get("Welkom.", "piper") is None, len(cache.get("Welkom.")), cache.nbytes
    (True, 100, 200)
    """

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
            if item is None or (tag is not PromptCache.ANY and item[1] != tag):
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
    def nbytes(self) -> int:
        """The bytes the prompts in memory take."""
        return self._bytes

    @property
    def full(self) -> bool:
        return self._bytes >= self.budget * 0.9


def give_back_memory() -> None:
    """Return the heap that rendering and resampling left free to the
    system (glibc keeps it otherwise): the device runs for months."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PromptLibrary:
    """The prompts of the language spoken now: rendered by ``speech``
    (:class:`intervisor.sound.speech.Speech`), or by the one
    ``speech_factory(language)`` makes for another language; kept in a
    :class:`PromptCache` of ``memory_budget`` bytes at ``rate``.
    """

    def __init__(self, speech: Any = None, *, speech_factory: Callable[[str], Any] | None = None,
                 rate: int = 48000, memory_budget: int = 6 * 1024 * 1024):
        self.speech = speech
        self.speech_factory = speech_factory
        self.rate = rate
        self.cache = PromptCache(memory_budget)

    def set_rate(self, rate: int) -> None:
        """The stream plays at ``rate`` now: what is in memory is not."""
        self.rate = rate
        self.cache.clear()

    def set_language(self, language: str) -> None:
        """Speak ``language`` from now on (a method in another language)."""
        if self.speech is not None and getattr(self.speech, "language", None) == language:
            return
        if self.speech_factory is None:
            raise ValueError(f"no speech for {language!r}: this sound output has no speech_factory")
        self.speech = self.speech_factory(language)
        self.cache.clear()

    def prepare(self, texts: Iterable[str], language: str | None = None) -> int:
        """Render every text ahead (to the disk cache) and load it into
        memory; the number newly rendered."""
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
            if self.cache.full:
                break
            if self.cached(text) is None:
                self.load(text)
        give_back_memory()
        return rendered

    def _voice_of(self, text: str) -> Any:
        source = getattr(self.speech, "source", None)
        return source(text) if source is not None else None

    def cached(self, text: str) -> np.ndarray | None:
        """``text`` in memory in the voice the speech gives it now."""
        return self.cache.get(text, self._voice_of(text))

    def load(self, text: str) -> np.ndarray:
        """Render ``text`` (or read it from the disk cache) into memory."""
        from intervisor.sound.speech import resample

        tag = self._voice_of(text)
        samples = self.speech.render(text)
        samples = _trim(resample(samples, self.speech.sample_rate, self.rate), self.rate)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        self.cache.put(text, pcm, tag)
        return pcm

    def samples(self, pcm: list[np.ndarray]) -> np.ndarray:
        """The parts of one prompt as the mixer's samples, a pause between them."""
        return joined([to_float(x) for x in pcm], self.rate)


class Feeder:
    """Loads prompts not yet in memory on a thread of its own, so that the
    one asking (the engine's thread) never waits for a render. Each job
    carries the mixer's generation: ``latest()`` says which is wanted now,
    ``deliver(generation, pcm, at)`` hands the parts on once loaded.
    """

    def __init__(self, library: PromptLibrary, latest: Callable[[], int],
                 deliver: Callable[[int, list[np.ndarray], float | None], None]):
        self.library = library
        self.latest = latest
        self.deliver = deliver
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="sound-feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, generation: int, parts: list[str], at: float | None) -> None:
        self._jobs.put((generation, parts, at))

    @property
    def busy(self) -> bool:
        """True while a job is queued or being loaded."""
        return self._jobs.unfinished_tasks > 0

    def close(self) -> None:
        self._jobs.put(None)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                self._jobs.task_done()
                return
            gen, parts, at = job
            try:
                if gen < self.latest() or self.library.speech is None:
                    continue
                pcm = [self.library.cached(p) for p in parts]
                pcm = [x if x is not None else self.library.load(p) for x, p in zip(pcm, parts)]
                self.deliver(gen, pcm, at)
            except Exception as e:
                # Never the text itself in the log.
                log.warning("sound: could not render a prompt (%s)", type(e).__name__)
            finally:
                self._jobs.task_done()


__all__ = ["Feeder", "PromptCache", "PromptLibrary", "give_back_memory", "joined", "to_float"]
