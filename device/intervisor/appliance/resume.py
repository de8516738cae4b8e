"""Picking up the session a crash or a power cut interrupted: on the copy
of its method saved with it, with the time away measured on the monotonic
clock within one boot and on the wall clock across boots; one saved more
than 12 hours ago is closed as interrupted instead.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Mapping, TYPE_CHECKING

from intervisor.appliance.records import Recorder
from intervisor.appliance.settings import STALE_AFTER, method_copy, method_from_copy, boot_id
from intervisor.appliance.state import set_aside

if TYPE_CHECKING:
    from intervisor.appliance.service import Service

log = logging.getLogger("intervisor.service")


class Resumer:
    """Picks up the saved session at start, or records why it will not resume."""

    def __init__(self, service: Service):
        self.service = service
        self.closed_on_resume = False
        """The saved session's last phase ran out while the device was off:
        its closing words are being said, so no greeting over them."""

    def _time_away(self, saved: Mapping, snap: Mapping) -> float:
        """Seconds since the session was saved. Within one boot (a crash, a
        kill -9) the monotonic clock says it, whatever the wall clock does;
        after a reboot only the wall clock can, and a Pi without a clock
        chip and without network may start with one that is behind (the
        last time fake-hwclock saved): then the session resumes with no
        time away, and the log says why."""
        mark = saved.get("clock") if isinstance(saved.get("clock"), Mapping) else {}
        mono = mark.get("monotonic")
        if mark.get("boot_id") and mark.get("boot_id") == boot_id() and isinstance(mono, (int, float)):
            away = self.service.clock.monotonic() - float(mono)
            if away >= 0:
                return away
        away = self.service.clock.time() - float(snap["saved_wall"])
        if away < 0:
            log.warning("state: the clock is %.0f s behind the time the session was saved "
                        "(after a reboot without network?); resuming with no time away", -away)
            return 0.0
        return away

    def resume(self) -> None:
        """Pick up the saved session, on the copy of the method it started
        with (kept in the state); the installed file only when there is no
        copy (a state from before copies were kept)."""
        saved = self._load_saved()
        if not saved:
            return
        if not saved.get("session"):
            self._close_unresumed_record(saved)
            return
        snap = saved["session"]
        mid = snap.get("method") if isinstance(snap, Mapping) else None
        record = saved.get("record")
        if isinstance(record, Mapping) and self.service.book.holds(record):
            # Its record is in the book: the session ended (or was closed)
            # and the process stopped before the state said so (a kill -9
            # or a power cut between the two writes). It is over; resuming
            # it would record it a second time.
            log.info("state: the saved session of %s had ended (its record %s is saved); not resumed",
                     mid, record.get("id"))
            return
        copy = saved.get("method_copy")
        method = method_from_copy(copy, mid)
        try:
            self._take_copy(copy, method, mid)
            away = self._time_away(saved, snap)
            if away > STALE_AFTER:
                self._close_stale(saved, snap, away)
                return
            # Engine.restore counts the time away from the snapshot's wall
            # time; the engine stays clock-agnostic, so the away measured
            # here (monotonic where it can be) is handed to it as that.
            snap = {**snap, "saved_wall": self.service.clock.time() - away}
            if saved.get("record"):
                try:
                    self.service.recorder = Recorder.from_dict(saved["record"], self.service.clock)
                except ValueError as e:
                    # The session matters more than its record: it goes on,
                    # and a new record starts with it now.
                    log.warning("state: %s; the session goes on and its record starts again", e)
            self.service.device.resume(snap)
        except Exception as e:
            self._cannot_resume(e)
            return
        if self.service.device.session is None:
            log.info("session resumed and closed method=%s away=%.1fs (its last phase ran out meanwhile)",
                     mid, away)
            self.closed_on_resume = True   # its closing words are being said: no greeting over them
            return
        if self.service.recorder is not None:
            self.service.recorder.restarted()
        phase = self.service.device.session.status().get("phase")
        log.info("session resumed method=%s phase=%s away=%.1fs", mid, phase, away)

    def _load_saved(self) -> dict | None:
        """The saved state, or None; the records a run before could not
        write are tried again now (and kept until they are written)."""
        saved = self.service.store.load()
        if self.service.store.unreadable:
            self.service.writes.standing = f"the state file could not be read: {self.service.store.unreadable}"
            log.error("state: %s", self.service.writes.standing)
        if not saved:
            return None
        self.service.pending.restore(saved.get("pending_records"))
        if len(self.service.pending):
            self.service.pending.flush("left pending before the restart")
        return saved

    def _take_copy(self, copy: Any, method: Any, mid: Any) -> None:
        """The session goes on with the copy of its method saved with it
        (the file may have been edited since); the installed file only
        when there is no valid copy."""
        if method is not None:
            self.service.session_copy = {k: copy[k] for k in ("id", "name", "text") if k in copy}
            self.service.device.methods = {**self.service.library.methods, mid: method}
            if self.service.library.methods.get(mid) != dataclasses.replace(
                    method, path=getattr(self.service.library.methods.get(mid), "path", None)):
                log.warning("methods: %s differs in the folder or is refused; the session goes "
                            "on with the copy saved with it", mid)
        else:
            if copy:
                log.warning("state: the saved copy of %s is not a valid method; "
                            "resuming on the installed file", mid)
            if mid in self.service.library.methods:
                self.service.session_copy = self.service.admin.copy_of(self.service.library.methods[mid])

    def _cannot_resume(self, e: Exception) -> None:
        """The device comes up idle, the state file set aside."""
        # The state file is input like any other: whatever is wrong with
        # it, the device comes up idle, never in a loop of crashes.
        self.service.recorder = None
        self.service.device.session = None
        self.service.session_copy = None
        self.service.device.methods = self.service.library.methods
        unexpected = not isinstance(e, (ValueError, KeyError, TypeError, AttributeError, ArithmeticError))
        log.warning("state: cannot resume the saved session: %s: %s", type(e).__name__, e,
                    exc_info=unexpected)
        set_aside(self.service.store.path, f"cannot resume: {e}")

    def _close_unresumed_record(self, saved: Mapping) -> None:
        """No session to resume, but a record with phases in it: the first
        phase ran, back asked the start-up question again, and the device
        stopped before it was answered (a session still choosing is not
        saved). What ran is recorded, ended early when it was last saved."""
        record = saved.get("record")
        if not isinstance(record, Mapping) or self.service.book.holds(record):
            return
        at = saved.get("saved")
        self._save_left_record(record, "stopped while its start-up question was asked again",
                               at=at if isinstance(at, (int, float)) and math.isfinite(at) else None)

    def _save_left_record(self, record: Any, why: str, **finish) -> None:
        """The record of a session that will not resume goes into the book,
        not completed, if a phase of it ran; ``finish`` as Recorder.finish."""
        if not record:
            return
        try:
            rec = Recorder.from_dict(record, self.service.clock)
            if rec.data["segments"]:
                self.service.pending.add(rec.finish(completed=False, **finish), why)
        except (ValueError, KeyError, TypeError) as e:
            log.error("record: cannot save the record (%s): %s", why, e)

    def _close_stale(self, saved: Mapping, snap: Mapping, away: float) -> None:
        """A session left for longer than STALE_AFTER: its record is closed
        as interrupted at the time it was last saved; the device starts idle."""
        log.warning("state: the saved session of %s is %.1f hours old; not resumed, its record "
                    "is closed as interrupted", snap.get("method"), away / 3600)
        self.service.session_copy = None
        self.service.device.methods = self.service.library.methods
        self._save_left_record(saved.get("record"), "interrupted", at=self.service.clock.time() - away,
                               interrupted=True)
