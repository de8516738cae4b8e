"""What the service reads and names: its settings (read the same way
whether the config keeps sections as objects or mappings), the method
selected by ``intervisor methods select``, the pid of a running service,
a copy of a method to resume a session on, the fingerprint of the admin's
files, and the words it says of its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from intervisor.appliance.state import read_regular, write_atomic
from intervisor.appliance.storage import lock_holder
from intervisor.core.events import Say

log = logging.getLogger("intervisor.service")


DEFAULT_CONFIG = "/etc/intervisor/config.yaml"
PID_FILE = "intervisor.pid"
LOCK_FILE = ".lock"
EXTEND_USEC = 180_000_000
SELECTION_FILE = ".selection.json"
SELECTION_BYTES = 64 * 1024
RECORDS = "records"
#: Longest the loop waits for a command; also bounds how late a flag is seen.
MAX_WAIT = 0.5
#: Config problems kept in the state (the log has them all).
MAX_CONFIG_PROBLEMS = 20
#: How long SIGTERM lets the cue that is playing finish.
FINISH_CUE = 1.2
#: A session saved longer ago than this is not resumed: nobody is at the
#: table any more. Its record is closed as interrupted.
STALE_AFTER = 12 * 3600

NOTICES = {
    "nl": {"refused": "Een van de methodes is afgekeurd en niet geladen. De beheerder vindt de reden in het logboek.",
           "no_methods": "Er staan nog geen methodes op het apparaat."},
    "en": {"refused": "One of the method files has errors and was not loaded. The administrator can find the reason in the log.",
           "no_methods": "There are no methods on the device yet."},
}


def setting(config: Any, dotted: str, default: Any = None) -> Any:
    """``setting(config, "audio.enabled", True)``: a config value whether
    the config keeps its sections as objects or as mappings."""
    node = config
    for key in dotted.split("."):
        if node is None:
            return default
        node = node.get(key) if isinstance(node, Mapping) else getattr(node, key, None)
    return default if node is None else node


FOLDERS = ("state_dir", "methods_dir", "cache_dir")


def load_settings(path: str | os.PathLike | None) -> tuple[Any, list[str]]:
    """The validated config and its problems (``FILE:LINE: message``).
    A refused config gives the defaults, so the device still comes up; but
    the folders it names, where those lines were right, are kept: the
    session saved there and the methods installed there are the device's,
    whatever typo sits elsewhere in the file."""
    from intervisor.files.config import Config, ConfigError, load_config

    try:
        return load_config(path if path is not None else DEFAULT_CONFIG), []
    except ConfigError as e:
        config = Config.default()
        if e.partial is not None:
            config = dataclasses.replace(config, **{k: getattr(e.partial, k) for k in FOLDERS})
        return config, [str(p) for p in e.problems]
    except OSError as e:
        return Config.default(), [f"{path}:1: cannot read it: {e.strerror or e}"]


def read_selection(methods_dir: str | os.PathLike) -> dict | None:
    """What ``intervisor methods select`` chose: ``{"method", "choices"}``."""
    path = Path(methods_dir) / SELECTION_FILE
    try:
        data = json.loads(read_regular(path, SELECTION_BYTES).decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("selection: %s is unreadable (%s); using the config's", path, e)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("method"), str) \
            or not isinstance(data.get("choices", {}), dict):
        log.warning("selection: %s is not a selection; using the config's", path)
        return None
    return data


def write_selection(methods_dir: str | os.PathLike, method: str, choices: Mapping[str, str]) -> None:
    write_atomic(Path(methods_dir) / SELECTION_FILE,
                 json.dumps({"method": method, "choices": dict(choices)}, indent=1).encode(), 0o664)


def pid_alive(pid: int) -> bool:
    """Is ``pid`` a running ``intervisor serve``?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serve" in cmdline and any(b"intervisor" in part for part in cmdline)


def running_pid(state_dir: str | os.PathLike) -> int | None:
    """The pid of the serve that runs on ``state_dir``: from its pid file,
    or, when that could not be written (a full disk), from its lock."""
    try:
        pid = int(read_regular(Path(state_dir) / PID_FILE, 64).decode().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and pid_alive(pid):
        return pid
    pid = lock_holder(Path(state_dir) / LOCK_FILE)
    return pid if pid is not None and pid_alive(pid) else None


def method_copy(method) -> dict | None:
    """The running method's file as text, kept in the state so that a
    session resumes on the method it started with, even when its file is
    edited, removed or broken meanwhile. ``None`` when the file no longer
    holds exactly this method (edited since it was loaded)."""
    if not method.path:
        return None
    try:
        text = Path(method.path).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    copy = {"id": method.id, "name": Path(method.path).name, "text": text}
    restored = method_from_copy(copy, method.id)
    if restored is None or dataclasses.replace(restored, path=method.path) != method:
        return None
    return copy


def method_from_copy(copy: Any, mid: str | None):
    """The method a saved copy holds, checked by the loader like any file;
    ``None`` when it is not a valid copy of method ``mid``."""
    from intervisor.files.method import load_method_text

    if not isinstance(copy, dict) or copy.get("id") != mid or not isinstance(copy.get("text"), str):
        return None
    name = copy.get("name") if isinstance(copy.get("name"), str) else f"{mid}.yaml"
    result = load_method_text(copy["text"], Path(name).name)
    if result.method is None or result.method.id != mid:
        return None
    return result.method


def folder_fingerprint(config_path: str | os.PathLike | None, methods_dir: str | os.PathLike) -> str:
    """What a reload reads, as one hash: the config file and the methods
    folder (method files and the selection). Equal fingerprints mean a
    reload would change nothing; `methods add` waits for the service to
    report the fingerprint of the folder it has just written."""
    from intervisor.files.method import SUFFIXES as METHOD_SUFFIXES
    from intervisor.files.yamlsafe import MAX_BYTES

    digest = hashlib.sha256()
    config = Path(config_path if config_path else DEFAULT_CONFIG)
    for path in [config] + sorted(Path(methods_dir).glob("*")):
        if path.name.startswith(".") and path.name != SELECTION_FILE:
            continue  # editors' and installers' temporary files
        try:
            # Only what a reload reads, and no more of it than it would read:
            # any other file (a stray disk image) by its size and time alone.
            read = path.is_file() and (path == config or path.name == SELECTION_FILE
                                       or path.suffix in METHOD_SUFFIXES)
            if read:
                with open(path, "rb") as f:
                    data = f.read(MAX_BYTES + 1)
            else:
                st = path.stat()
                data = f"{path.is_file()} {st.st_size} {st.st_mtime_ns}".encode()
        except OSError as e:
            data = f"unreadable {e.errno}".encode()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def boot_id() -> str | None:
    """The kernel's id of this boot: the monotonic clock counts within one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def with_notices(actions: list, notices: list[Say]) -> list:
    """``actions`` with the notices' words said after the last Say's, in
    the same Say (a Say of their own would interrupt it, or be cut off).

    >>> with_notices([Say(("Klaar.",))], [Say(("De knop werkt.",))])
    [Say(parts=('Klaar.', 'De knop werkt.'), at=None)]
    """
    extra = tuple(part for notice in notices for part in notice.parts)
    if not extra:
        return actions
    says = [i for i, a in enumerate(actions) if isinstance(a, Say)]
    if not says:
        return [*actions, Say(extra)]
    i = says[-1]
    return [*actions[:i], Say(actions[i].parts + extra, actions[i].at), *actions[i + 1:]]
