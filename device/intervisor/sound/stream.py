"""The one output stream the sound adapter keeps open, and its life: opened
once, watched, stopped after a silence and started again by the next
sound, restarted when all it has queued is silence, and opened again when
its device is lost and comes back (:class:`StreamKeeper`).

>>> keeper = StreamKeeper(device="USB", on_fault=print)   # doctest: +SKIP
>>> keeper.start(); keeper.mixer.play(samples); keeper.rouse()  # doctest: +SKIP
>>> keeper.close()                                       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from intervisor.sound import portaudio
from intervisor.sound.mixer import Mixer

log = logging.getLogger("intervisor.sound")


class StreamKeeper:
    """Keeps the output stream of ``device`` (part of its name; ``None``:
    the default) open and its :attr:`mixer` heard.

    ``on_fault(faulted, why)`` is called from the watch thread whenever the
    device is lost or found again; ``on_rate(rate)`` when the device would
    not take ``sample_rate`` and the stream plays at its own. ``feeding()``
    says whether a prompt is still being loaded (no standby meanwhile).
    ``sd`` stands in for the ``sounddevice`` module (a file instead of
    speakers); by default PortAudio's is imported when first needed.
    ``standby_after``: seconds of silence after which the stream is stopped
    until the next sound (``None``: never); ``quick_start``: restart the
    stream when a sound comes after a silence, so that it is heard at once
    instead of after the silence already queued.

    >>> class Info:
    ...     currentTime, outputBufferDacTime = 1000.0, 1000.021
    >>> round(StreamKeeper().heard_at(10.0, Info()), 3)
    10.021
    """

    def __init__(
        self,
        *,
        device: str | int | None = None,
        sample_rate: int = 48000,
        block_size: int = 256,
        latency: float | str = 0.016,
        retry_every: float = 2.0,
        stall_after: float = 2.0,
        start_grace: float = 6.0,
        rescan_every: float = 20.0,
        standby_after: float | None = 10.0,
        quick_start: bool = True,
        on_fault: Callable[[bool, str], None] | None = None,
        on_rate: Callable[[int], None] | None = None,
        feeding: Callable[[], bool] = lambda: False,
        sd: Any = None,
    ):
        self.device = device
        self.sample_rate = int(sample_rate)
        self.block_size = int(block_size)
        self.latency = latency
        self.retry_every = retry_every
        self.stall_after = stall_after
        self.start_grace = start_grace
        self.rescan_every = rescan_every
        self.standby_after = standby_after
        self.quick_start = quick_start
        self.on_fault = on_fault
        self.on_rate = on_rate
        self.feeding = feeding
        self.sd = sd
        self.rate = self.sample_rate
        self.mixer = Mixer(self.rate)
        self.fault: str | None = None
        self.output_latency = 0.0
        self.last_block = 0.0
        """When (monotonic) the callback last wrote a block."""
        self.kick_due = False
        """A restart asked for by :meth:`rouse`, done by the watch thread."""
        self._opened_at = 0.0
        self._can_rest = False
        self._standby = False
        self._last_sound = 0.0
        self._last_rescan = -float("inf")
        self._stream = None
        self._closed = False
        self._wake = threading.Event()
        self._watch = threading.Thread(target=self._watch_loop, name="sound-watch", daemon=True)

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Open the device (or note the fault) and start watching it."""
        self._open()
        self._watch.start()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._close_stream()
        if self._watch.is_alive() and self._watch is not threading.current_thread():
            self._watch.join(timeout=5)

    @property
    def closed(self) -> bool:
        return self._closed

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
        if self.sd is None:
            self.sd = portaudio.sounddevice()
        return self.sd

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

    def _device_info(self, sd) -> tuple[int | None, Any, bool]:
        """The device's index, what PortAudio says of it, and whether a
        rescan is still due (one found it already: not again so soon)."""
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
        return index, info, rescan_due

    def _open(self) -> None:
        try:
            sd = self._import_sd()
            index, info, rescan_due = self._device_info(sd)
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
                if self.on_rate is not None:
                    self.on_rate(rate)
            self._started(stream)
            log.info("sound: device %s open (%d Hz, block %d)", info["name"], self.rate, self.block_size)
        except Exception as e:
            self._stream = None
            self._set_fault(f"{type(e).__name__}: {e}")

    def _started(self, stream) -> None:
        """Start a stream just opened, with a new mixer, and keep it."""
        self.mixer = Mixer(self.rate)
        self.last_block = self._opened_at = self._last_sound = time.monotonic()
        self._standby = False
        stream.start()
        self._stream = stream
        # Resting and quick restarts need a stream that can stop and
        # start again (a stand-in stream may not).
        self._can_rest = all(callable(getattr(stream, m, None)) for m in ("stop", "abort"))
        self.output_latency = float(stream.latency)
        self._set_fault(None)

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

    def heard_at(self, now: float, time_info: Any) -> float:
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
            self.mixer.fill(outdata, self.heard_at(now, time_info))
        except Exception:  # raising here would stop the stream for good
            outdata.fill(0)
            log.exception("sound: mixer failed")
        self.last_block = now
        if self.mixer.speech_left or self.mixer.cues_left:
            self._last_sound = self.last_block

    # ------------------------------------------- quick starts and standby

    def rouse(self, at: float | None = None) -> None:
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
            self.kick_due = True
            self._wake.set()

    def kicked(self, stream) -> None:
        """A sound was posted after a silence: restart the stream, so that
        it is heard at once, but only while all it has queued is silence.
        Once the callback has taken a sound in (a cue, then its words
        posted a moment later), dropping the buffer would cut its start:
        it is then heard a buffer later instead, whole."""
        if self.mixer.pending and not (self.mixer.speech_left or self.mixer.cues_left):
            self._restart(stream)
        self.kick_due = False

    def _restart(self, stream) -> None:
        # Dropping the queued buffer drops silence only: nothing is cut.
        self.kick_due = False
        try:
            stream.abort()
        except Exception:
            log.debug("sound: abort failed", exc_info=True)
        self._resume(stream)

    def _resume(self, stream) -> None:
        try:
            self.last_block = self._opened_at = time.monotonic()
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

    # ------------------------------------------------------- the watch thread

    def _watch_loop(self) -> None:
        next_try = 0.0
        while not self._closed:
            self._wake.wait(timeout=min(0.25, self.retry_every))
            self._wake.clear()
            if self._closed:
                return
            now = time.monotonic()
            stream = self._stream
            if stream is None:
                if now >= next_try:
                    self._open()
                    next_try = now + self.retry_every
            elif self._standby:
                if self.mixer.pending:
                    self._resume(stream)
            elif self.kick_due:
                self.kicked(stream)
            elif self._may_rest(now):
                self._pause(stream)
            elif self._lost(stream, now):
                next_try = now + self.retry_every

    def _may_rest(self, now: float) -> bool:
        return (self.standby_after is not None and self._can_rest and now - self._last_sound > self.standby_after
                and not self.mixer.pending and not self.feeding())

    def _lost(self, stream, now: float) -> bool:
        """Close the stream and note the fault if it stopped or went silent."""
        # PulseAudio's ALSA plugin is silent for a second or two after
        # a stream starts: not a lost device.
        limit = self.start_grace if now - self._opened_at < self.start_grace else self.stall_after
        stalled = now - self.last_block > limit
        if stalled or not stream.active:
            self._close_stream()
            self._set_fault("the output device stopped" + (" (no audio for a while)" if stalled else ""))
            return True
        return False


__all__ = ["StreamKeeper"]
