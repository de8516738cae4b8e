"""Sums what the group hears into the output stream's blocks: one speech
voice and any number of cues (see :class:`Mixer`).
"""

from __future__ import annotations

import collections
import threading

import numpy as np

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


__all__ = ["FADE", "Mixer"]
