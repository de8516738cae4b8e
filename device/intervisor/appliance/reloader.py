"""A reload read off the service's loop: the methods folder and the config
are read and checked on a thread of their own, and the loop swaps the
result in when it is done. A library of thousands of files takes seconds
to check; meanwhile the loop answers the button and pings the watchdog
as at any other time.

    reloader = Reloader(read, wake=lambda: device.put(Command.TICK))
    reloader.request(library, fingerprint)   # on SIGHUP, when not busy
    reading = reloader.take()                # each turn of the loop: None, or the result

``read(library, fingerprint)`` builds a :class:`Reading` and must touch
nothing the loop uses: it reloads a shallow copy of the library in use
(:meth:`Library.reload` replaces its dictionaries, never changes them).

>>> import threading
>>> done = threading.Event()
>>> r = Reloader(lambda lib, fp: Reading(fingerprint="new", unchanged=False), wake=done.set)
>>> r.request(None, "old"); _ = done.wait(5); r.take().fingerprint
'new'
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from typing import Any, Callable

log = logging.getLogger("intervisor.service")


@dataclasses.dataclass
class Reading:
    """What a reload found. ``unchanged``: the folder and the config are as
    at the last reload (nothing else is filled in then)."""

    fingerprint: str
    unchanged: bool
    config: Any = None
    problems: list[str] = dataclasses.field(default_factory=list)
    #: The config file is gone: the one in use is kept (why, for the log).
    config_gone: str | None = None
    library: Any = None
    change: Any = None
    #: The text each added or changed method was loaded from (None: unknown).
    texts: dict[str, dict | None] = dataclasses.field(default_factory=dict)
    error: BaseException | None = None


class Reloader:
    """Runs one reading at a time on a thread; the loop takes its result."""

    def __init__(self, read: Callable[[Any, str | None], Reading], wake: Callable[[], None]):
        self._read = read
        self._wake = wake
        self._thread: threading.Thread | None = None
        self._result: Reading | None = None
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """A reading is under way, or its result not taken yet."""
        with self._lock:
            return self._thread is not None

    def request(self, library: Any, fingerprint: str | None) -> None:
        """Start a reading of the folder against ``library`` (the one in
        use, which is not changed) and the last ``fingerprint``."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a reload is under way")
            self._thread = threading.Thread(target=self._run, args=(copy.copy(library), fingerprint),
                                            name="reload", daemon=True)
            self._thread.start()

    def take(self) -> Reading | None:
        """The finished reading, once; ``None`` while there is none."""
        with self._lock:
            result, self._result = self._result, None
            if result is not None:
                self._thread = None
            return result

    def _run(self, library: Any, fingerprint: str | None) -> None:
        try:
            result = self._read(library, fingerprint)
        except Exception as e:   # reported on the loop, which keeps what was loaded
            result = Reading(fingerprint=fingerprint or "", unchanged=True, error=e)
        with self._lock:
            self._result = result
        try:
            self._wake()
        except Exception:
            log.exception("reload: cannot wake the loop")
