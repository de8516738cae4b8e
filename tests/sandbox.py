"""Runs a command under the sandbox a systemd unit file asks for, as far as
it can be built here without systemd as PID 1: so that the suite runs the
real `intervisor serve` under the shipped unit's rules.

    python tests/sandbox.py systemd/intervisor.service -- intervisor serve ...

Read from the unit and applied before the command is executed:

- ``SystemCallFilter=`` (allow and deny lists, groups expanded by
  ``systemd-analyze syscall-filter``) with ``SystemCallErrorNumber=``, as a
  seccomp filter through libseccomp; ``SystemCallArchitectures=native``
  (libseccomp's default: only the native ABI);
- ``MemoryDenyWriteExecute=yes``: the very rules systemd loads (no mapping
  both writable and executable, no mprotect to executable, no SHM_EXEC);
- ``RestrictAddressFamilies=``: socket() of any other family fails with
  EAFNOSUPPORT;
- ``RestrictRealtime=yes``: no SCHED_FIFO/SCHED_RR;
- ``PrivateNetwork=yes``: a new network namespace (needs root here);
- ``NoNewPrivileges=yes`` and ``UMask=``.

Not built here: the device cgroup (``DevicePolicy=``: there are no sound or
GPIO devices on this machine), the mount namespace (``ProtectSystem=`` and
the rest) and ``PrivateUsers=`` (the tests check what the last one keeps
apart). Every seccomp filter is loaded on its own, as systemd does; the
kernel takes the strictest answer of all of them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

ALLOW = 0x7FFF0000
KILL_PROCESS = 0x80000000
MASKED_EQ, NE = 7, 1
PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
SCHED_FIFO, SCHED_RR = 1, 2
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38


def errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def unit_settings(path: str | os.PathLike) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit's [Service] section, in order."""
    out: dict[str, list[str]] = {}
    section = None
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif line and not line.startswith(("#", ";")) and section == "[Service]":
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def syscall_groups() -> dict[str, list[str]]:
    """systemd's syscall groups, as this machine's systemd-analyze lists them."""
    text = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                          check=True).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.startswith("    ") and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name.startswith("@"):
            todo.extend(groups.get(name, []))
        elif name:
            out.add(name.split(":")[0])
    return out


def allowed_syscalls(settings: dict[str, list[str]], groups: dict[str, list[str]]) -> set[str] | None:
    """The allow list SystemCallFilter= leaves (None: no filter). Lines
    apply in order: an allow list first sets it, ``~`` lines take away,
    later allow lines add back."""
    allowed: set[str] | None = None
    for value in settings.get("SystemCallFilter", []):
        deny = value.startswith("~")
        names = expand(value.lstrip("~").split(), groups)
        if allowed is None:
            if deny:
                raise SystemExit("sandbox: a deny-only SystemCallFilter is not built here")
            allowed = set()
        allowed = allowed - names if deny else allowed | names
    return allowed


class Seccomp:
    """One libseccomp filter."""

    lib = None

    def __init__(self, default_action: int):
        if Seccomp.lib is None:
            Seccomp.lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
            Seccomp.lib.seccomp_init.restype = ctypes.c_void_p
            Seccomp.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
            Seccomp.lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                                           ctypes.c_uint, ctypes.POINTER(ArgCmp)]
            Seccomp.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.ctx = self.lib.seccomp_init(default_action)

    def number(self, name: str) -> int | None:
        n = self.lib.seccomp_syscall_resolve_name(name.encode())
        return None if n < 0 else n

    def rule(self, action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        n = self.number(name)
        if n is None:
            return  # not a call of this architecture (mmap2 on x86-64)
        arr = (ArgCmp * max(1, len(cmps)))(*[ArgCmp(*c) for c in cmps])
        r = self.lib.seccomp_rule_add_array(self.ctx, action, n, len(cmps), arr)
        if r < 0:
            raise OSError(-r, f"seccomp rule for {name}: {os.strerror(-r)}")

    def load(self) -> None:
        r = self.lib.seccomp_load(self.ctx)
        if r < 0:
            raise OSError(-r, f"seccomp_load: {os.strerror(-r)}")


def error_number(settings: dict[str, list[str]]) -> int:
    name = (settings.get("SystemCallErrorNumber") or ["EPERM"])[-1]
    return getattr(errno, name) if name != "kill" else -1


def apply(unit: str | os.PathLike) -> list[str]:
    """Apply the unit's sandbox to this process; what was applied."""
    settings = unit_settings(unit)
    done = []
    yes = lambda key: (settings.get(key) or ["no"])[-1] in ("yes", "true", "1", "on")  # noqa: E731
    if "UMask" in settings:
        os.umask(int(settings["UMask"][-1], 8))
        done.append("UMask")
    if yes("PrivateNetwork"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        done.append("PrivateNetwork")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:   # seccomp needs it without CAP_SYS_ADMIN
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")
    done.append("NoNewPrivileges")
    if yes("MemoryDenyWriteExecute"):
        f = Seccomp(ALLOW)
        eperm = errno_action(errno.EPERM)
        for name in ("mmap", "mmap2"):
            f.rule(eperm, name, (2, MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC))
        for name in ("mprotect", "pkey_mprotect"):
            f.rule(eperm, name, (2, MASKED_EQ, PROT_EXEC, PROT_EXEC))
        f.rule(eperm, "shmat", (2, MASKED_EQ, SHM_EXEC, SHM_EXEC))
        f.load()
        done.append("MemoryDenyWriteExecute")
    families = settings.get("RestrictAddressFamilies")
    if families:
        import socket
        wanted = [getattr(socket, fam) for fam in families[-1].split()]
        if wanted != [socket.AF_UNIX]:
            raise SystemExit("sandbox: only RestrictAddressFamilies=AF_UNIX is built here")
        f = Seccomp(ALLOW)
        f.rule(errno_action(errno.EAFNOSUPPORT), "socket", (0, NE, socket.AF_UNIX, 0))
        f.load()
        done.append("RestrictAddressFamilies")
    if yes("RestrictRealtime"):
        f = Seccomp(ALLOW)
        for policy in (SCHED_FIFO, SCHED_RR):
            f.rule(errno_action(errno.EPERM), "sched_setscheduler", (1, MASKED_EQ, 0xFF, policy))
        f.load()
        done.append("RestrictRealtime")
    # Last: the allow list leaves out seccomp() itself.
    allowed = allowed_syscalls(settings, syscall_groups())
    if allowed is not None:
        code = error_number(settings)
        f = Seccomp(KILL_PROCESS if code < 0 else errno_action(code))
        for name in sorted(allowed):
            f.rule(ALLOW, name)
        f.load()
        done.append(f"SystemCallFilter ({len(allowed)} calls)")
    return done


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    unit, command = argv[0], argv[2:]
    done = apply(unit)
    print(f"sandbox: {', '.join(done)}", file=sys.stderr, flush=True)
    os.execvp(command[0], command)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
