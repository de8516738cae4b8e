"""The systemd notify protocol, in the standard library only.

systemd hands a ``Type=notify`` service the path of a datagram socket in
``NOTIFY_SOCKET`` and, with ``WatchdogSec=``, the watchdog period in
``WATCHDOG_USEC``. Outside systemd both are absent and every call here is a
quiet no-op, so the same service runs from a terminal.

>>> n = Notifier(environ={})
>>> n.enabled, n.watchdog_interval
(False, None)
>>> n.ready()
False

The service says :meth:`ready` once the panel, sound and methods are up,
:meth:`watchdog` from its main loop after checking itself, :meth:`reloading`
then :meth:`ready` around a SIGHUP reload and :meth:`stopping` on SIGTERM.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Mapping


class Notifier:
    """Sends ``KEY=VALUE`` lines to the socket systemd gave us.

    A fresh socket per message: nothing stays open between messages, so the
    running service holds no socket of its own at rest.
    """

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        if path.startswith("@"):
            # An abstract socket: the leading '@' stands for a NUL byte.
            path = "\0" + path[1:]
        self._address = path or None
        self._watchdog_usec = self._own_watchdog(env)

    @staticmethod
    def _own_watchdog(env: Mapping[str, str]) -> int | None:
        try:
            usec = int(env.get("WATCHDOG_USEC", ""))
        except ValueError:
            return None
        # WATCHDOG_PID names the process the watchdog is meant for; a child
        # that inherited the environment must not ping on its parent's behalf.
        pid = env.get("WATCHDOG_PID")
        if pid and pid != str(os.getpid()):
            return None
        return usec if usec > 0 else None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half the period systemd waits, as
        sd_watchdog_enabled(3) advises. ``None`` without a watchdog."""
        if self._watchdog_usec is None or not self.enabled:
            return None
        return self._watchdog_usec / 2_000_000

    def send(self, **fields: object) -> bool:
        """Send one message; ``True`` if it went out. Never raises: a lost
        notification must not take the device down."""
        if self._address is None:
            return False
        message = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                # Never wait for a reader that is behind: a blocked send
                # would stall the loop and every signal with it.
                s.sendto(message, socket.MSG_DONTWAIT, self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        fields: dict[str, object] = {"ready": 1}
        if status:
            fields["status"] = status
        return self.send(**fields)

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd (Type=notify-reload, 253+) tell this
        # reload from an older one; older systemd ignores it.
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(reloading=1, monotonic_usec=now)

    def stopping(self) -> bool:
        return self.send(stopping=1)

    def watchdog(self) -> bool:
        if self._watchdog_usec is None:
            return False
        return self.send(watchdog=1)

    def status(self, text: str) -> bool:
        return self.send(status=text)
