"""Files that must survive a power cut: written whole or not at all.

:func:`write_atomic` writes a temporary file beside the target, fsyncs it,
renames it over the target and fsyncs the folder, so after a crash the file
holds either the old or the new content, never half of each.

:class:`StateStore` keeps the service's one state file (what runs, where the
session stands, the engine's snapshot) in that way. A state file that cannot
be read, or that another program wrote, is moved aside with a warning and
the device starts idle: never a crash loop.

>>> import tempfile
>>> store = StateStore(tempfile.mkdtemp())
>>> store.load() is None
True
>>> store.save({"session": None, "service": {"pid": 1}})
>>> store.load()["service"]
{'pid': 1}
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path

log = logging.getLogger("intervisor.state")

FORMAT = "intervisor-state"
VERSION = 1
_MAX_BYTES = 4 * 1024 * 1024  # a snapshot is a few kB; anything huge is not ours


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = 0o640) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves old or new."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # The umask must not make it unreadable for `status` (group intervisor, the
        # admin); nobody else reads a state or a record (0640).
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file ``path``. Anything
    else there (a FIFO, a device) raises ``ValueError`` at once: it is
    opened without blocking and never read, so a FIFO nobody writes to
    cannot hang the reader. ``OSError`` as ``open`` raises it.

    >>> import tempfile
    >>> read_regular(tempfile.mkdtemp(), 10)
    Traceback (most recent call last):
    ValueError: not a regular file
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Remove the temporary files :func:`write_atomic` left in ``folder``
    (a process killed between writing one and renaming it). Only for a
    folder no other process writes (the caller holds its lock), before
    this process writes there: after a power cut the new process may well
    have the pid of the one killed, so the pid in the name says nothing.
    Returns how many were removed."""
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        parts = name.rsplit(".", 2)
        if not (name.startswith(".") and len(parts) == 3 and parts[2] == "tmp"
                and parts[1].isdigit()):
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed += 1
        except OSError as e:
            log.warning("state: cannot remove %s: %s", name, e)
    return removed


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside(path: Path, why: str) -> Path | None:
    """Move an unreadable file out of the way, keeping it for a look."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    try:
        os.replace(path, target)
    except OSError as e:
        log.warning("state: cannot set aside %s (%s): %s", path, why, e)
        return None
    log.warning("state: %s set aside as %s: %s", path.name, target.name, why)
    return target


class StateStore:
    """The service's state file, ``state.json`` in the state folder.

    The content is the caller's dictionary, wrapped with a format tag so a
    file left by anything else is recognised and set aside.
    """

    NAME = "state.json"

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / self.NAME
        #: Why the state file found at start could not be read, if so.
        self.unreadable: str | None = None
        self._kept = False

    def save(self, content: dict) -> None:
        if self._kept:
            if set_aside(self.path, "could not be read") is None and os.path.lexists(self.path):
                raise PermissionError(13, "the state file there could not be read; it is kept")
            self._kept = False
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "version": VERSION, "saved": time.time(), **content}
        write_atomic(self.path, json.dumps(doc, ensure_ascii=False, indent=1).encode())

    def read(self) -> dict | None:
        """The content without side effects, for ``intervisor status``:
        ``None`` when absent, ``ValueError`` when unreadable."""
        try:
            raw = read_regular(self.path, _MAX_BYTES)
        except FileNotFoundError:
            return None
        if len(raw) > _MAX_BYTES:
            raise ValueError("too large to be a state file")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"not readable JSON ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("not an Intervisor state file")
        if doc.get("version") != VERSION:
            raise ValueError(f"state format version {doc.get('version')!r}, expected {VERSION}")
        return doc

    def load(self) -> dict | None:
        """The content, or ``None``; a file that cannot be read is set
        aside, never overwritten. When even that fails (a file that may be
        neither read nor moved), :attr:`unreadable` says why and
        :meth:`save` refuses to write over it: the session in it may still
        be read once the admin mends it."""
        try:
            return self.read()
        except ValueError as e:
            why = str(e)
        except OSError as e:
            # Not ours to read (permission denied, an I/O error): set
            # aside like a damaged file, and shown as a fault.
            why = f"cannot read it ({e.strerror or e})"
            self.unreadable = f"{self.path.name}: {why}"
        aside = set_aside(self.path, why)
        if aside is not None and self.unreadable:
            self.unreadable += f"; set aside as {aside.name}"
        if aside is None:
            self._kept = True
            self.unreadable = f"{self.path.name}: {why}; it is left where it is and not written over"
        return None

    def clear(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        fsync_dir(self.folder)
