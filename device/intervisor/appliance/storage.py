"""What the service writes to disk, and what it does when a write fails.

:class:`WriteFaults` follows each kind of write the service makes (the
state, the session records, the library report, the pid file). The first
failure of a kind is logged once and its recovery once; while any kind
fails, :attr:`WriteFaults.fault` says why: the storage fault that
``intervisor status`` and the fault light show.

>>> faults = WriteFaults()
>>> faults.failed("records", OSError(30, "Read-only file system"))
>>> faults.fault
'cannot write the records (Read-only file system)'
>>> faults.ok("records"); faults.fault is None
True

:class:`PendingRecords` keeps the finished records the book could not take
(a full disk, a read-only records folder): they go into the state and are
tried again at every save and at the next start, until they are written.

>>> import tempfile
>>> from intervisor.appliance.records import RecordBook
>>> pending = PendingRecords(RecordBook(tempfile.mkdtemp()), WriteFaults())
>>> pending.add({"id": "20261207-200000", "method": "kort", "started": 1.0})
>>> pending.to_list()   # written at once: nothing pending
[]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any, Iterable, Iterator, Mapping

log = logging.getLogger("intervisor.storage")

#: What each kind of write is called in the log and in the fault.
KINDS = {"state": "the state", "records": "the records", "library": "the library report",
         "pid": "the pid file"}


def _why(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


class WriteFaults:
    """Which of the service's writes fail now (see the module's docstring)."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}
        #: A fault found once and kept for the run (an unreadable state file).
        self.standing: str | None = None

    def failed(self, kind: str, error: BaseException) -> None:
        if kind not in self._failing:
            log.error("storage: cannot write %s: %s", KINDS.get(kind, kind), _why(error))
        self._failing[kind] = _why(error)

    def ok(self, kind: str) -> None:
        if self._failing.pop(kind, None) is not None:
            log.info("storage: %s can be written again", KINDS.get(kind, kind))

    def failing(self, kind: str) -> bool:
        return kind in self._failing

    @contextlib.contextmanager
    def as_if_written(self, kind: str) -> Iterator[None]:
        """Within it, *kind* counts as written. The state file describes
        the service as it is once that very file is written: a state that
        reached the disk cannot carry its own failure (it would show a
        mended fault until the next save).

        >>> faults = WriteFaults()
        >>> faults.failed("state", OSError(28, "No space left on device"))
        >>> with faults.as_if_written("state"):
        ...     faults.fault is None
        True
        >>> faults.failing("state")
        True
        """
        why = self._failing.pop(kind, None)
        try:
            yield
        finally:
            if why is not None and kind not in self._failing:
                self._failing[kind] = why

    @property
    def fault(self) -> str | None:
        parts = [f"cannot write {KINDS.get(k, k)} ({why})" for k, why in sorted(self._failing.items())]
        if self.standing:
            parts.insert(0, self.standing)
        return "; ".join(parts) or None


class PendingRecords:
    """Finished session records on their way into the book.

    A record that cannot be written stays here (and in the state) and is
    tried again at every :meth:`flush`; one the book already holds (written
    just before a kill, the state not saved after it) is not written twice.
    """

    def __init__(self, book, faults: WriteFaults):
        self.book = book
        self.faults = faults
        self._records: list[dict] = []

    def add(self, record: dict, why: str = "") -> None:
        self._records.append(record)
        self.flush(why)

    def restore(self, saved: Any) -> None:
        """The records a previous run left pending (the state is input:
        anything that is not a record is dropped with a line)."""
        if saved is None:
            return
        items = saved if isinstance(saved, list) else [saved]
        for record in items:
            if isinstance(record, dict) and isinstance(record.get("id"), str) \
                    and isinstance(record.get("method"), str):
                self._records.append(record)
            else:
                log.warning("state: a pending record is not a record; dropped")

    def flush(self, why: str = "") -> bool:
        """Write what is pending, oldest first; ``True`` when nothing is left."""
        while self._records:
            record = self._records[0]
            try:
                if not self.book.holds(record):
                    path = self.book.save(record)
                    log.info("record: saved %s%s", path.name, f" ({why})" if why else "")
            except OSError as e:
                self.faults.failed("records", e)
                return False
            self._records.pop(0)
        self.faults.ok("records")
        return True

    def to_list(self) -> list[dict]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)


def lock_holder(lock_path: str | os.PathLike) -> int | None:
    """The pid holding the ``flock`` on ``lock_path``, from /proc/locks: who
    runs, when its pid file could not be written (a full disk)."""
    try:
        st = os.stat(lock_path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines: Iterable[str] = f.read(1 << 20).splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":   # ("->" lines: waiters)
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if int(inode) == st.st_ino and (int(major, 16), int(minor, 16)) == \
                    (os.major(st.st_dev), os.minor(st.st_dev)):
                return int(fields[4])
        except ValueError:
            continue
    return None



class LibraryReport:
    """``library.json`` in the state folder: which methods the service has
    loaded and which files it refused, with their problems. Written when
    the library is read (start, a reload that found a change), never with
    each step: the state file holds the session only, so a press costs the
    same whatever the methods folder holds.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> LibraryReport(folder, WriteFaults()).write(["kort"], {"/m/x.yaml": ["/m/x.yaml:2: bad"]}, "f1")
    >>> LibraryReport.read(folder)["refused"]
    {'/m/x.yaml': ['/m/x.yaml:2: bad']}
    """

    NAME = "library.json"
    #: Problems kept per refused file (the log has them all).
    PROBLEMS = 20
    MAX_BYTES = 64 * 1024 * 1024

    def __init__(self, folder: str | os.PathLike, faults: WriteFaults):
        self.path = os.path.join(folder, self.NAME)
        self.faults = faults

    def write(self, methods: Iterable[str], refused: Mapping[str, list], fingerprint: str | None) -> None:
        from intervisor.appliance.state import write_atomic

        doc = {"methods": sorted(methods), "fingerprint": fingerprint,
               "refused": {path: [str(p)[:500] for p in problems[:self.PROBLEMS]]
                           for path, problems in refused.items()}}
        try:
            write_atomic(self.path, json.dumps(doc, ensure_ascii=False).encode())
        except OSError as e:
            self.faults.failed("library", e)
            return
        self.faults.ok("library")

    @classmethod
    def read(cls, folder: str | os.PathLike) -> dict | None:
        """The report, or ``None`` (absent, unreadable, not a report)."""
        from intervisor.appliance.state import read_regular

        try:
            doc = json.loads(read_regular(os.path.join(folder, cls.NAME), cls.MAX_BYTES).decode("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("methods"), list) \
                or not isinstance(doc.get("refused"), dict):
            return None
        return doc
