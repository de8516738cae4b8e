"""``input:`` in the config: commands typed as lines, as if the button
gave them. A debugging aid: one command name per line (``next``,
``pause``...) from the service's stdin (a pipe or a terminal) or from a
FIFO or terminal named by its path::

    source = LineInput.open("/run/intervisor/input")   # ValueError: not a button source
    LineInput(source, device.put)                       # reads on a thread of its own

Only what can be a button is taken: a pipe, a FIFO, a socket or a
terminal. A regular file would be read again and again, ``/dev/zero``
without end; they are refused with one line. Every line is bounded (a
longer one is dropped up to its newline), unknown words are logged once
per minute with their count, and a source that fails is opened again
after a wait that doubles (up to half a minute).

>>> import os
>>> r, w = os.pipe(); _ = os.write(w, b"next\\nfoo\\n" + b"x" * 5000 + b"\\npause\\n"); os.close(w)
>>> got = []
>>> LineInput(Source(r, "pipe", None), got.append).join(5)
>>> [c.value for c in got]
['next', 'pause']
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import threading
import time
from typing import Callable

from intervisor.core.events import Command

log = logging.getLogger("intervisor.service")

#: Longest line taken: the longest command name, with room to spare.
MAX_LINE = 64
#: Unknown lines in a row after which the reader rests.
UNKNOWN_BURST = 100
MAX_BACKOFF = 30.0


@dataclasses.dataclass
class Source:
    """An open button source: its descriptor, a name for the log, and the
    path to open again after a failure (``None``: stdin, not reopened)."""

    fd: int
    name: str
    path: str | None


def _button_like(fd: int) -> str | None:
    """Why ``fd`` cannot be a button source, or ``None`` when it can."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return None
    if stat.S_ISCHR(mode) and os.isatty(fd):
        return None
    kind = "a regular file" if stat.S_ISREG(mode) else "a device that is not a terminal" \
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a FIFO or a terminal"
    return kind


class LineInput:
    """Reads a :class:`Source` on a daemon thread and puts each command it
    names (never ``tick``) through ``put``."""

    def __init__(self, source: Source, put: Callable[[Command], None]):
        self._source = source
        self._put = put
        self._unknown = 0
        self._unknown_logged = 0.0
        self._thread = threading.Thread(target=self._run, name="input", daemon=True)
        self._thread.start()

    @staticmethod
    def open(source: str) -> Source:
        """``stdin`` or a path, checked without blocking; ``ValueError``
        says why it cannot be a button source."""
        if source == "stdin":
            fd = os.dup(0)
        else:
            try:
                # O_NONBLOCK: opening a FIFO with no writer must not wait.
                fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            except OSError as e:
                raise ValueError(f"cannot open it ({e.strerror or e})") from None
        why = _button_like(fd)
        if why is not None:
            os.close(fd)
            raise ValueError(f"it is {why}; only a pipe, a FIFO or a terminal can be a button source")
        if source != "stdin" and stat.S_ISFIFO(os.fstat(fd).st_mode):
            # Held open for writing too, so the FIFO never ends when a
            # writer goes (a reader alone would see end-of-file at once).
            os.close(fd)
            fd = os.open(source, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        os.set_blocking(fd, True)
        return Source(fd, source, None if source == "stdin" else source)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                self._read(self._source.fd)
                return   # end of input: the writer is gone for good
            except OSError as e:
                log.warning("input: %s failed (%s); trying again in %.1f s",
                            self._source.name, e.strerror or e, backoff)
            try:
                os.close(self._source.fd)
            except OSError:
                pass
            time.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)
            if self._source.path is None:
                return
            try:
                self._source = self.open(self._source.path)
            except ValueError as e:
                log.warning("input: %s: %s", self._source.name, e)

    def _read(self, fd: int) -> None:
        pending, dropping = b"", False
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                return
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if not dropping:
                    self._line(line)
                dropping = False
            if len(pending) > MAX_LINE:
                pending, dropping = b"", True   # the rest of a line too long: dropped

    def _line(self, raw: bytes) -> None:
        word = raw.decode("utf-8", "replace").strip().lower()
        if not word:
            return
        try:
            command = Command(word) if len(raw) <= MAX_LINE else None
        except ValueError:
            command = None
        if command is None:
            self._unknown_word()
        elif command is not Command.TICK:
            self._unknown = 0
            self._put(command)

    def _unknown_word(self) -> None:
        self._unknown += 1
        now = time.monotonic()
        if now - self._unknown_logged >= 60:
            log.warning("input: unknown command ignored (%d in a row)", self._unknown)
            self._unknown_logged = now
        if self._unknown % UNKNOWN_BURST == 0:
            # A source that sends nothing but noise is not a chair: rest.
            time.sleep(min(MAX_BACKOFF, 0.1 * (self._unknown // UNKNOWN_BURST)))
