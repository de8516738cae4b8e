"""What the service keeps on disk after every step: the state file (the
session, a few lines about the service), the pid file, and the storage
fault when a write fails.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from intervisor.appliance.settings import PID_FILE, MAX_CONFIG_PROBLEMS, method_copy, boot_id
from intervisor.appliance.state import write_atomic

if TYPE_CHECKING:
    from intervisor.appliance.service import Service


class StateKeeper:
    """Writes the state and the pid file, and shows the storage fault."""

    def __init__(self, service: Service):
        self.service = service

    def write_state(self) -> None:
        with self.service.writes.as_if_written("state"):
            content = self._content()
        try:
            self.service.store.save(content)
        except OSError as e:
            # A full or read-only disk must not stop the session in the room.
            self.service.writes.failed("state", e)
        else:
            self.service.writes.ok("state")
        self.show_storage()

    def _content(self) -> dict:
        session = self.service.device.session if self.service.device is not None else None
        return {
            "service": {
                "pid": os.getpid(),
                "started": self.service.started,
                "config": self.service.config_path,
                "methods_dir": str(self.service.methods_dir),
                "selected": self.service.device.selected if self.service.device is not None else None,
                "voice": bool(self.service.parts and self.service.parts.voice_on),
                "faults": self.service.status()["faults"],
                "storage": self.service.writes.fault,
                "config_problems": self.service.config_problems[:MAX_CONFIG_PROBLEMS],
                "reloads": self.service.reloads,
                "fingerprint": self.service.fingerprint,
            },
            "status": self.service.status(),
            # Only a session that runs: one still asking its start-up
            # questions has nothing to pick up (after a restart the device
            # is idle and the chair starts again).
            "session": session.snapshot() if session is not None and session.stage == "running" else None,
            # Taken with the snapshot: a restart in the same boot measures
            # the time away on the monotonic clock (see _time_away).
            "clock": {"boot_id": boot_id(), "monotonic": self.service.clock.monotonic()},
            "record": self.service.recorder.to_dict() if self.service.recorder is not None else None,
            "method_copy": self.service.session_copy if session is not None else None,
            "pending_records": self.service.pending.to_list() if self.service.pending is not None else [],
        }

    def write_pid(self) -> OSError | None:
        """The pid file. On a full disk the session in the room matters
        more: it runs with the storage fault shown (`status` finds the
        service by its lock meanwhile), and every save tries again."""
        try:
            write_atomic(self.service.state_dir / PID_FILE, f"{os.getpid()}\n".encode())
        except OSError as e:
            self.service.writes.failed("pid", e)
            return e
        self.service.writes.ok("pid")
        return None

    def show_storage(self) -> None:
        """The storage fault on the lights, as the write faults say (they
        log it themselves)."""
        if self.service.parts is not None:
            self.service.parts.follow("storage", self.service.writes.fault, logged=True)
