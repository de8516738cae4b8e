"""Storage, file and load faults of the real `intervisor serve`: nothing is
lost and every fault is visible (status, the log, the fault light).

A full disk is a small tmpfs, read-only records a read-only bind mount, an
unreadable state file a mode-000 file read by a serve that runs without
the capability to ignore modes (``setpriv``). Mounting needs root: where
it is refused those tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from intervisor.appliance.state import StateStore
# (serve and prompt_cache are test_service's fixtures, shared)
from test_service import (KORT, LANG, PROGRAM, Serve, cli, library, prompt_cache, running,  # noqa: F401
                          serve, wait_log)


class Mounts:
    """Mounts made for one test, undone after it (innermost first)."""

    def __init__(self):
        self.points: list[Path] = []

    def run(self, *args: str) -> None:
        r = subprocess.run(["mount", *args], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount here (needs root): {r.stderr.strip()}")

    def tmpfs(self, point: Path, size: str) -> Path:
        point.mkdir(parents=True, exist_ok=True)
        self.run("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point))
        self.points.append(point)
        return point

    def read_only(self, point: Path) -> Path:
        """``point`` read-only in place (a read-only bind mount over itself)."""
        self.run("--bind", str(point), str(point))
        self.points.append(point)
        self.run("-o", "remount,bind,ro", str(point))
        return point

    def undo(self, point: Path) -> None:
        subprocess.run(["umount", str(point)], check=True)
        self.points.remove(point)


@pytest.fixture
def mounts():
    m = Mounts()
    yield m
    for point in reversed(m.points):
        subprocess.run(["umount", "-l", str(point)])


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


def status(s: Serve) -> str:
    return cli("status", "--config", str(s.config)).stdout


def end_session(s: Serve) -> None:
    s.send("end", "end")      # asks first, then ends
    s.wait_state(lambda st: st["status"]["stage"] == "idle")


# --- data that is lost, silently -----------------------------------------------------------

def test_the_state_holds_the_session_only_whatever_the_library_holds(serve):
    bad = [(f"kapot-{i:03d}.yaml", "id: kapot\ntitle: [\n") for i in range(500)]
    s = serve(methods=[("kort.yaml", KORT), *bad]).start()
    s.send("next")
    s.wait_state(running)
    size = (s.state_dir / "state.json").stat().st_size
    assert size < 64 * 1024, f"{size} bytes of state with 500 refused files"   # was ~100 kB
    # What an admin needs is still there: status and the library report.
    assert len(library(s)["refused"]) == 500 and "Refused: " in status(s)
    s.stop(signal.SIGKILL)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st) and st["status"]["method"] == "kort"
    assert s.stop() == 0


def test_a_record_that_cannot_be_written_is_kept_and_written_when_it_can(serve, mounts):
    s = serve().start()
    (s.state_dir / "records").mkdir(exist_ok=True)
    mounts.read_only(s.state_dir / "records")
    s.send("next")
    s.wait_state(running)
    end_session(s)
    st = s.wait_state(lambda st: "storage" in st["status"]["faults"])
    assert len(st["pending_records"]) == 1 and st["pending_records"][0]["method"] == "kort"
    assert "Faults: storage" in status(s) and "cannot write the records" in status(s)
    # A kill while it is pending loses nothing: it is in the state.
    s.stop(signal.SIGKILL)
    s.start()
    assert s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)["pending_records"]
    mounts.undo(s.state_dir / "records")
    s.send("step")                              # any step saves, and retries the record
    st = s.wait_state(lambda st: not st["pending_records"])
    assert st["status"]["faults"] == []
    assert "Faults: none" in status(s)
    history = cli("history", "--config", str(s.config)).stdout
    assert len([line for line in history.splitlines() if "kort" in line]) == 1
    log = s.read_log()
    assert log.count("storage: cannot write the records") == 2     # once in each of the two runs
    assert log.count("storage: the records can be written again") == 1
    assert s.stop() == 0


def test_a_full_disk_at_start_runs_sessions_and_shows_the_fault(serve, mounts):
    s = serve()
    mounts.tmpfs(s.state_dir, "256k")
    s.start()
    s.stop()
    filler = fill(s.state_dir)
    s.start()                                    # READY: it came up (it exited 1 before)
    text = status(s)
    assert f"Intervisor is running (pid {s.proc.pid})" in text and "storage" in text
    s.send("next")
    wait_log(s, "event phase_start phase=een")     # the session runs, unsaved
    filler.unlink()
    s.send("next")                               # the next step finds room again
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid and st["status"].get("phase") == "twee")
    assert st["status"]["faults"] == []
    assert "Faults: none" in status(s)
    assert "storage: the state can be written again" in s.read_log()
    assert s.stop() == 0


def test_an_unreadable_state_file_is_set_aside_not_overwritten(serve):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    assert s.stop() == 0
    saved = (s.state_dir / "state.json").read_bytes()
    os.chmod(s.state_dir / "state.json", 0)
    # As root, a mode says nothing: the serve runs without the capability
    # that ignores it, as the unprivileged service user would.
    s.prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    s.start()
    aside = list(s.state_dir.glob("state.json.bad-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == saved      # never destroyed
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert "storage" in st["status"]["faults"]
    assert "could not be read" in st["service"]["storage"]
    assert "state.json: cannot read it (Permission denied)" in s.read_log()
    assert s.stop() == 0


def test_a_session_is_saved_before_the_group_hears_it(tmp_path):
    # In process: the sound adapter reads the state file at the moment it
    # is handed the announcement; the session must already be in it.
    from intervisor.core.clock import FakeClock
    from intervisor.core.events import Command, Say
    from intervisor.files.method import load_method_text
    from intervisor.table.runner import Device
    from intervisor.appliance.service import Parts, Service
    from intervisor.sound.adapter import FakeSound

    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmethods_dir: {tmp_path}\n")
    service = Service(config, clock=FakeClock(), environ={})
    service.configure()
    store = StateStore(service.state_dir)

    class Ear(FakeSound):
        heard: list = []

        def perform(self, action):
            if isinstance(action, Say):
                doc = store.read() or {}
                self.heard.append(doc.get("session") and doc["status"].get("phase"))
            super().perform(action)

    ear = Ear()
    service.parts = Parts({}, lambda c: None, "nl")
    service.device_language = "nl"
    kort = load_method_text(KORT, "kort.yaml").method
    service.device = device = Device({"kort": kort}, service.clock, [service, ear],
                                     on_change=service.on_change,
                                     on_session_end=service.on_session_end,
                                     before_sound=service.before_sound)
    device.handle(Command.NEXT)                 # the session starts: heard
    device.handle(Command.NEXT)                 # the second phase: heard
    assert ear.heard == ["een", "twee"], ear.heard   # saved each time before the sound had it
    assert store.read()["record"]["segments"][-1]["phase"] == "twee"


def test_a_deleted_config_at_sighup_keeps_the_config_in_use(serve):
    s = serve("selected: lang\nparticipants: 7\n",
              methods=[("kort.yaml", KORT), ("lang.yaml", LANG)]).start()
    assert s.state()["service"]["selected"] == "lang"
    before = s.state()["service"]["reloads"]
    s.config.unlink()
    s.proc.send_signal(signal.SIGHUP)
    st = s.wait_state(lambda st: st["service"]["reloads"] > before)
    assert st["service"]["selected"] == "lang"          # was kort: all defaults
    log = s.read_log()
    assert log.count("is gone; keeping the config in use") == 1
    s.send("next")
    st = s.wait_state(running)["status"]
    assert st["method"] == "lang" and st["participants"] == 7    # not the defaults' (none)
    assert s.stop() == 0


# --- hangs and runaway loads ---------------------------------------------------------------

def many_methods(n: int) -> list[tuple[str, str]]:
    return [(f"m{i:04d}.yaml", KORT.replace("id: kort", f"id: m{i:04d}")) for i in range(n)]


def drain(s: Serve) -> list[dict]:
    """The notify messages that have come so far, without waiting."""
    out = []
    s.sock.setblocking(False)
    try:
        while True:
            raw = s.sock.recv(4096).decode()
            out.append(dict(line.split("=", 1) for line in raw.split("\n") if "=" in line))
    except BlockingIOError:
        return out
    finally:
        s.sock.setblocking(True)


def test_a_reload_reads_off_the_loop_a_press_is_answered_and_the_watchdog_pings(serve):
    s = serve(methods=[("kort.yaml", KORT), *many_methods(400)], watchdog_usec=400_000)
    s.config.write_text(s.config.read_text() + "selected: kort\n")
    s.start()
    (s.methods / "lang.yaml").write_text(LANG)
    s.proc.send_signal(signal.SIGHUP)
    s.expect("RELOADING=1")
    s.send("next")
    s.wait_state(running)
    # The press was answered while the library was still being read:
    # READY (the end of the reload) has not come yet.
    seen = drain(s)
    assert not any(m.get("READY") == "1" for m in seen), seen
    for msg in s.messages(timeout=60):
        seen.append(msg)
        if msg.get("READY") == "1":
            break
    pings = sum(m.get("WATCHDOG") == "1" for m in seen)
    assert pings >= 1, seen                      # the loop pinged during the reload
    assert "lang" in library(s)["methods"]
    assert s.stop() == 0


def test_a_fifo_at_the_state_file_hangs_neither_status_nor_serve(serve):
    s = serve()
    s.state_dir.mkdir()
    os.mkfifo(s.state_dir / "state.json")
    r = subprocess.run([str(PROGRAM), "status", "--config", str(s.config)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    s.start()                                    # READY (it hung before, SIGTERM ignored)
    assert len(list(s.state_dir.glob("state.json.bad-*"))) == 1
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert st["status"]["stage"] == "idle"
    assert s.stop() == 0


@pytest.mark.parametrize("source", ["regular", "/dev/zero"])
def test_input_takes_only_a_button_source(serve, source):
    s = serve()
    path = s.tmp / "commands.txt"
    path.write_text("next\n" * 100)
    where = str(path) if source == "regular" else source
    s.config.write_text(s.config.read_text().replace("input: stdin", f"input: {where}"))
    s.start()
    st = s.wait_state(lambda st: "input" in st["status"]["faults"])
    assert st["status"]["stage"] == "idle"
    time.sleep(1.0)   # what a runaway reader would do with a second
    log = s.read_log()
    lines = [line for line in log.splitlines() if ": input: " in line]
    assert len(lines) == 1, log[-2000:]              # one line (86,000 warnings in 6 s before)
    rss_kb = int(next(line.split()[1] for line in Path(f"/proc/{s.proc.pid}/status").read_text().splitlines()
                      if line.startswith("VmRSS:")))
    assert rss_kb < 400_000                         # /dev/zero grew to 1.67 GB before
    assert s.stop() == 0


def test_input_from_a_fifo_bounds_its_lines_and_keeps_going(serve):
    s = serve()
    fifo = s.tmp / "button"
    os.mkfifo(fifo)
    s.config.write_text(s.config.read_text().replace("input: stdin", f"input: {fifo}"))
    s.start()
    fd = os.open(fifo, os.O_WRONLY)
    try:
        os.write(fd, b"x" * 1_000_000)           # a line without end
        os.write(fd, b"\nbogus\nnext\n")
    finally:
        os.close(fd)
    st = s.wait_state(running)
    assert st["status"]["faults"] == []
    fd = os.open(fifo, os.O_WRONLY)              # a second writer is heard too
    os.write(fd, b"next\n")
    os.close(fd)
    s.wait_state(lambda st: st["status"].get("phase") == "twee")
    assert s.stop() == 0


def test_a_flood_of_commands_is_bounded_and_the_watchdog_keeps_pinging(serve):
    s = serve(methods=[("kort.yaml", KORT), ("lang.yaml", LANG)], watchdog_usec=2_000_000).start()
    s.send(*["step"] * 5000)
    gaps, last = [], time.monotonic()
    settled = time.monotonic() + 60
    for msg in s.messages(timeout=30):
        if msg.get("WATCHDOG") == "1":
            now = time.monotonic()
            gaps.append(now - last)
            last = now
        if len(gaps) >= 12 or time.monotonic() > settled:
            break
    # systemd's own rule: a gap longer than WatchdogSec is a kill.
    assert max(gaps) < 2.0, gaps
    s.settled()
    log = s.read_log()
    assert log.count("queue: ") == 1 and "more are dropped" in log
    assert s.stop() == 0


def test_input_bounds_every_line_it_reads():
    # In process: a writer that never ends its line costs the reader no
    # memory beyond one read; the next line is still heard.
    import threading
    import tracemalloc

    from intervisor.core.events import Command
    from intervisor.appliance.lineinput import LineInput, Source

    read, write = os.pipe()
    got: list[Command] = []

    def writer():
        for _ in range(160):                     # 10 MB without a newline
            os.write(write, b"x" * 65536)
        os.write(write, b"\nnext\n")
        os.close(write)

    tracemalloc.start()
    try:
        threading.Thread(target=writer, daemon=True).start()
        LineInput(Source(read, "pipe", None), got.append).join(60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == [Command.NEXT]
    assert peak < 1024 * 1024, f"{peak} bytes held for one line"


def test_a_failing_write_lights_the_fault_once_and_its_recovery_clears_it(tmp_path, caplog):
    # In process, with a fault seam at the state's write (the serve tests
    # above use a real full disk): the light, the status, one line each way.
    import errno
    import logging

    from intervisor.core.clock import FakeClock
    from intervisor.table.runner import Device
    from intervisor.appliance.service import Parts, Service

    class Lights:
        def __init__(self):
            self.faults = set()

        def fault(self, part):
            self.faults.add(part)

        def clear_fault(self, part):
            self.faults.discard(part)

    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmethods_dir: {tmp_path}\n")
    service = Service(config, clock=FakeClock(), environ={})
    service.configure()
    service.parts = Parts({}, lambda c: None, "nl")
    service.parts.panel = lights = Lights()
    service.device = Device({}, service.clock, [service])
    writes = service.store.save

    def full(content):
        raise OSError(errno.ENOSPC, "No space left on device")

    caplog.set_level(logging.INFO)
    service.store.save = full
    service.save()
    service.save()
    assert lights.faults == {"storage"} and service.status()["faults"] == ["storage"]
    written = []

    def mended(content):
        written.append(content)
        writes(content)

    service.store.save = mended
    service.save()
    assert lights.faults == set()
    # The first state that reaches the disk already shows the fault mended
    # (a stale 'storage' would stay in `status` until the next step).
    assert [c["status"]["faults"] for c in written] == [[]] and written[0]["service"]["storage"] is None
    assert StateStore(service.state_dir).read()["status"]["faults"] == []
    assert caplog.text.count("cannot write the state") == 1
    assert caplog.text.count("the state can be written again") == 1
