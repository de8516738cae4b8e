"""The appliance: notify protocol, atomic state, session records, and the
real `intervisor serve` process."""

from __future__ import annotations

import contextlib
import json
import os
import socket

import pytest

from intervisor.core.clock import FakeClock
from intervisor.core.events import Mark
from intervisor.core.model import Duration, Method, Phase
from intervisor.appliance.notify import Notifier
from intervisor.appliance.records import Recorder, RecordBook, csv_phases, csv_sessions, history_lines, markdown
from intervisor.appliance.state import StateStore, write_atomic


# --- notify --------------------------------------------------------------------

@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    yield path, s
    s.close()


def test_notifier_speaks_the_protocol(notify_socket):
    path, s = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.watchdog_interval == 2.0
    assert n.ready("idle")
    assert s.recv(4096).decode().split("\n") == ["READY=1", "STATUS=idle"]
    assert n.reloading()
    fields = dict(line.split("=") for line in s.recv(4096).decode().split("\n"))
    assert fields["RELOADING"] == "1" and int(fields["MONOTONIC_USEC"]) > 0
    assert n.watchdog()
    assert s.recv(4096) == b"WATCHDOG=1"
    assert n.stopping()
    assert s.recv(4096) == b"STOPPING=1"


def test_notifier_is_quiet_outside_systemd_and_for_another_pid(tmp_path):
    assert not Notifier({}).ready()
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "x"), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert n.watchdog_interval is None and not n.watchdog()
    assert not n.ready()  # nobody listens: no exception, just False


def test_notifier_accepts_abstract_sockets():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"intervisor-test-{os.getpid()}"
    s.bind("\0" + name)
    s.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert s.recv(100) == b"READY=1"
    finally:
        s.close()


# --- state ---------------------------------------------------------------------

def test_state_round_trip_and_atomic_replace(tmp_path):
    store = StateStore(tmp_path)
    assert store.load() is None
    store.save({"session": {"phase": "a"}})
    store.save({"session": {"phase": "b"}})
    assert store.load()["session"] == {"phase": "b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp left
    store.clear()
    assert store.load() is None


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"format": "other"}',
                                     b'{"format": "intervisor-state", "version": 99}', b"[]"])
def test_corrupt_or_foreign_state_is_set_aside_with_a_warning(tmp_path, content, caplog):
    (tmp_path / "state.json").write_bytes(content)
    store = StateStore(tmp_path)
    assert store.load() is None
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.json.bad-")]
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert not (tmp_path / "state.json").exists()
    assert "set aside" in caplog.text
    assert store.load() is None  # and the next start is clean


def test_write_atomic_leaves_old_content_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "f"
    write_atomic(target, b"old")

    def broken_fsync(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


# --- records -------------------------------------------------------------------

METHOD = Method("proef", "Proefmethode", "nl", (
    Phase("inbreng", "Inbreng", Duration(300, 600)),
    Phase("vragen", "Vragen", Duration(600, 600)),
    Phase("advies", "Advies", Duration(300, 300)),
))


def run_session(clock: FakeClock) -> Recorder:
    rec = Recorder.begin(METHOD, clock, choices={}, participants=5)
    rec.mark(Mark("intro", None, "Welkom, dit is geheim"))
    rec.mark(Mark("phase_start", "inbreng", "Inbreng. Vertel je casus"))
    clock.advance(700)                       # 100 s over
    rec.mark(Mark("phase_start", "vragen"))
    clock.advance(120)
    rec.mark(Mark("pause", "vragen"))
    clock.advance(300)
    rec.mark(Mark("resume", "vragen"))
    clock.advance(400)
    return rec


def test_record_has_times_per_phase_pauses_and_overruns_but_no_content():
    clock = FakeClock()
    rec = run_session(clock)
    rec.mark(Mark("session_end", None, "Dank jullie wel"))
    r = rec.finish(completed=False)
    phases = {p["id"]: p for p in r["phases"]}
    assert phases["inbreng"]["actual"] == 700 and phases["inbreng"]["overrun"] == 100
    assert phases["vragen"]["actual"] == 520 and phases["vragen"]["paused"] == 300
    assert phases["vragen"]["overrun"] == 0
    assert "advies" not in phases
    assert r["duration"] == 1520 and r["planned_total"] == 1500 and r["paused_total"] == 300
    text = json.dumps(r)
    for secret in ("geheim", "Vertel", "Dank"):
        assert secret not in text


def test_record_survives_a_restart_through_its_dict():
    clock = FakeClock()
    rec = run_session(clock)
    again = Recorder.from_dict(json.loads(json.dumps(rec.to_dict())), clock)
    again.restarted()
    again.mark(Mark("phase_start", "advies"))
    clock.advance(300)
    r = again.finish(completed=True)
    assert [p["id"] for p in r["phases"]] == ["inbreng", "vragen", "advies"]
    assert len(r["restarts"]) == 1 and r["completed"]


def test_going_back_counts_the_time_for_the_phase_it_went_back_to():
    clock = FakeClock()
    rec = Recorder.begin(METHOD, clock, {}, 5)
    rec.mark(Mark("phase_start", "inbreng"))
    clock.advance(100)
    rec.mark(Mark("phase_start", "vragen"))
    clock.advance(10)
    rec.mark(Mark("back", "inbreng"))
    clock.advance(50)
    phases = {p["id"]: p for p in rec.finish(True)["phases"]}
    # As the engine counts it: the step is undone, its ten seconds included.
    assert phases["inbreng"]["actual"] == 160 and "vragen" not in phases


def test_record_book_history_report_and_csv(tmp_path):
    book = RecordBook(tmp_path / "records")
    clock = FakeClock()
    first = book.save(run_session(clock).finish(completed=False))
    clock.advance(86400)
    rec = Recorder.begin(METHOD, clock, {}, 6)
    rec.mark(Mark("phase_start", "inbreng"))
    clock.advance(600)
    second = book.save(rec.finish(completed=True))
    assert first.stem != second.stem
    records = book.list()
    assert [r["id"] for r in records] == [first.stem, second.stem]
    assert book.last()["id"] == second.stem
    assert book.get(first.stem)["method"] == "proef"
    with pytest.raises(KeyError):
        book.get("../../etc/passwd")
    lines = history_lines(records)
    assert lines[0].split()[:3] == ["ID", "DATE", "START"] and len(lines) == 3
    md = markdown(book.get(first.stem))
    assert md.startswith("# Proefmethode")
    assert "| Advies | – | 5m | not reached | | |" in md
    chart = md.split("```")[1].strip("\n").splitlines()
    inbreng, vragen = chart[2], chart[3]
    assert inbreng.startswith("inbreng") and "#" in inbreng and "!" in inbreng
    assert vragen.startswith("vragen") and "." in vragen and "!" not in vragen
    rows = csv_sessions(records).splitlines()
    assert rows[0].startswith("id,date,start,end,method,title,participants")
    assert len(rows) == 3 and rows[1].endswith(",no") and rows[2].endswith(",yes")
    assert csv_phases(book.get(first.stem)).splitlines()[1].startswith(f"{first.stem},inbreng,")
    (tmp_path / "records" / "20990101-000000.json").write_text("{broken")
    assert len(book.list()) == 2  # a damaged record does not hide the others


# --- the real `intervisor serve` process -----------------------------------------

import random

import numpy as np
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PROGRAM = Path(sys.executable).with_name("intervisor")

KORT = textwrap.dedent("""\
    id: kort
    title: Kort overleg
    language: nl
    phases:
      - id: een
        title: Inbreng
        duration: 10m
      - id: twee
        title: Vragen
        duration: 10m
        questions: [Wat wilde je bereiken?, Wat deed je?]
      - id: drie
        title: Advies
        duration: 10m
    """)
LANG = KORT.replace("id: kort", "id: lang").replace("Kort overleg", "Lang overleg")
BROKEN = "id: kort\ntitle: [\n"


class Serve:
    """One real `intervisor serve` with a notify socket of our own and
    commands on its stdin (the config's `input: stdin` debugging aid)."""

    def __init__(self, tmp: Path, extra_config: str = "", watchdog_usec: int = 1_000_000,
                 cache: Path | None = None):
        self.tmp = tmp
        self.methods = tmp / "methods"
        self.state_dir = tmp / "state"
        self.methods.mkdir(parents=True, exist_ok=True)
        self.config = tmp / "config.yaml"
        self.config.write_text(textwrap.dedent(f"""\
            methods_dir: {self.methods}
            state_dir: {self.state_dir}
            cache_dir: {cache or tmp / "cache"}
            panel: {{pin_factory: mock}}
            input: stdin
            """) + (extra_config if "audio:" in extra_config else "audio: {enabled: false}\n" + extra_config))
        self.watchdog_usec = watchdog_usec
        self.log_path = tmp / "serve.log"
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.runs = 0
        self.prefix: list[str] = []   # e.g. setpriv, to run it with fewer capabilities

    def start(self, wait_ready: bool = True) -> "Serve":
        self.runs += 1
        path = str(self.tmp / f"notify-{self.runs}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC=str(self.watchdog_usec),
                   PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
        env.pop("WATCHDOG_PID", None)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([*self.prefix, str(PROGRAM), "serve", "--config", str(self.config)],
                                     stdin=subprocess.PIPE, stdout=self.log, stderr=self.log,
                                     env=env, text=True)
        if wait_ready:
            self.expect("READY=1")
        return self

    def messages(self, timeout: float = 30.0):
        """Notify messages as they come, each as a dict."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no notify message in {timeout} s; log:\n{self.read_log()}")
            self.sock.settimeout(left)
            try:
                raw = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            yield dict(line.split("=", 1) for line in raw.split("\n") if "=" in line)

    def expect(self, line: str, timeout: float = 30.0) -> dict:
        key, value = line.split("=", 1)
        for msg in self.messages(timeout):
            if msg.get(key) == value:
                return msg

    def send(self, *commands: str) -> None:
        self.proc.stdin.write("".join(c + "\n" for c in commands))
        self.proc.stdin.flush()

    def state(self) -> dict:
        return StateStore(self.state_dir).read() or {}

    def wait_state(self, check, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                st = self.state()
            except ValueError:
                st = {}
            if st and check(st):
                return st
            time.sleep(0.02)
        raise AssertionError(f"state never matched; last: {json.dumps(self.state().get('status'))}\n"
                             f"log:\n{self.read_log()}")

    def settled(self, quiet: float = 1.0, timeout: float = 60.0) -> dict:
        """The state once it stops changing (all queued commands handled)."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            stamp = self.state().get("saved")
            if stamp != last:
                last, since = stamp, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return self.state()
            time.sleep(0.05)
        raise AssertionError("the state never settled")

    def read_log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)   # faulthandler prints every thread
            self.proc.wait(timeout=10)
            raise AssertionError(f"no exit {timeout} s after {sig!r}; log:\n{self.read_log()[-6000:]}")
        finally:
            self.close()
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdin:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if getattr(self, "log", None):
            self.log.close()
        self.proc = None


@pytest.fixture(scope="module")
def prompt_cache(tmp_path_factory):
    """One prompt cache for the module: espeak renders each prompt once."""
    return tmp_path_factory.mktemp("prompts")


@pytest.fixture
def serve(tmp_path, prompt_cache):
    made: list[Serve] = []

    def make(extra_config: str = "", methods=(("kort.yaml", KORT),), **kw) -> Serve:
        s = Serve(tmp_path, extra_config, cache=prompt_cache, **kw)
        for name, text in methods:
            (s.methods / name).write_text(text)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def library(s: Serve) -> dict:
    """The service's library report: what it loaded and refused."""
    from intervisor.appliance.storage import LibraryReport

    return LibraryReport.read(s.state_dir) or {}


def running(st: dict) -> bool:
    return st.get("status", {}).get("stage") == "running"


def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(PROGRAM), *args], capture_output=True, text=True, timeout=60)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def inet_and_listening_sockets(pid: int) -> list[str]:
    """Every socket of ``pid`` that is TCP/UDP/raw, or a listening unix one."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            if line.split()[9] in inodes:
                found.append(f"{table}: {line.strip()}")
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[6] in inodes and int(cols[3], 16) & 0x10000:  # __SO_ACCEPTCON: listening
            found.append(f"unix listening: {line.strip()}")
    return found


def test_ready_watchdog_no_listener_and_sigterm(serve):
    s = serve().start()
    pings = 0
    for msg in s.messages():
        assert "READY" not in msg  # once, and before the first ping
        pings += msg.get("WATCHDOG") == "1"
        if pings >= 3:
            break
    assert inet_and_listening_sockets(s.proc.pid) == []
    st = s.state()
    assert st["status"]["stage"] == "idle" and library(s)["methods"] == ["kort"]
    assert (s.state_dir / "intervisor.pid").read_text().strip() == str(s.proc.pid)
    s.proc.send_signal(signal.SIGTERM)
    s.expect("STOPPING=1", timeout=10)          # systemd hears that it stops
    assert s.stop() == 0
    assert not (s.state_dir / "intervisor.pid").exists()


def test_sigterm_mid_session_says_stopping_saves_and_exits_zero(serve):
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    s.proc.send_signal(signal.SIGTERM)
    s.expect("STOPPING=1")
    assert s.proc.wait(timeout=10) == 0
    s.close()
    saved = StateStore(s.state_dir).read()
    assert saved["session"]["method"] == "kort"
    assert "stopped" in s.read_log()


def test_kill_9_mid_session_resumes_in_the_same_phase_with_the_time_passed(serve):
    s = serve().start()
    s.send("next", "next")                     # start, then on to phase two
    s.wait_state(lambda st: st["status"].get("phase") == "twee")
    s.stop(signal.SIGKILL)
    last = s.state()                           # what the killed one saved last
    time.sleep(3.0)                            # down for a few seconds
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    status = st["status"]
    assert status["stage"] == "running" and status["phase"] == "twee"
    # The time that passed while it was down counts, to the half second:
    # the phase clock went on for just as long as the monotonic clock did
    # between the last save and the first one after the restart (over 3 s).
    passed = st["clock"]["monotonic"] - last["clock"]["monotonic"]
    assert passed > 3.0
    assert abs(status["elapsed"] - (last["status"]["elapsed"] + passed)) < 0.5, (status, last["status"], passed)
    assert abs(status["remaining"] - (last["status"]["remaining"] - passed)) < 0.5
    log = s.read_log()
    assert "session resumed method=kort phase=twee" in log
    assert "event resume_after_restart phase=twee" in log
    assert len(st["record"]["restarts"]) == 1
    r = cli("status", "--config", str(s.config))
    assert "Phase 2/3: Vragen, question 1/2" in r.stdout
    assert "Wat wilde je" not in r.stdout and "Wat wilde je" not in json.dumps(st["status"])
    s.send("next", "next")                     # the second question, then phase three
    s.wait_state(lambda st: st["status"].get("phase") == "drie")
    assert s.stop() == 0


def test_sighup_reload_takes_a_good_file_and_refuses_a_bad_one(serve):
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    # a good new file, through the admin's command
    new = s.tmp / "lang.yaml"
    new.write_text(LANG)
    r = cli("methods", "add", str(new), "--config", str(s.config))
    assert "installed lang" in r.stdout and "the service reloaded: lang is in use" in r.stdout
    assert (s.methods / "lang.yaml").read_text() == LANG
    # a bad version of the running method, as plain scp and the path unit would
    (s.methods / "kort.yaml").write_text(BROKEN)
    before = s.state()["service"]["reloads"]
    s.proc.send_signal(signal.SIGHUP)
    s.expect("RELOADING=1")
    s.expect("READY=1")
    st = s.wait_state(lambda st: st["service"]["reloads"] > before)
    assert library(s)["methods"] == ["kort", "lang"]               # the old kort stays
    assert list(library(s)["refused"]) == [str(s.methods / "kort.yaml")]
    assert f"{s.methods / 'kort.yaml'}:3:" in s.read_log()       # FILE:LINE in the log
    assert st["status"]["method"] == "kort" and running(st)      # the session keeps going
    s.send("next")
    s.wait_state(lambda st: st["status"].get("phase") == "twee")
    assert s.stop() == 0


def test_a_corrupt_state_file_is_set_aside_and_the_device_starts_idle(serve):
    s = serve()
    s.state_dir.mkdir()
    (s.state_dir / "state.json").write_bytes(b'{"format": "intervisor-state", "vers')
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert st["status"]["stage"] == "idle"
    assert len(list(s.state_dir.glob("state.json.bad-*"))) == 1
    assert "set aside" in s.read_log()
    assert s.stop() == 0


def test_a_session_resumes_on_its_saved_copy_when_its_file_broke_meanwhile(serve):
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    s.stop(signal.SIGKILL)
    (s.methods / "kort.yaml").write_text(BROKEN)   # an admin's bad edit, then a power cut
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st) and st["status"]["phase"] == "een"
    assert "goes on with the copy saved with it" in s.read_log()
    s.send("next", "next", "next", "next")         # to the end, on the copy
    st = s.wait_state(lambda st: st["status"]["stage"] == "idle")
    assert library(s)["methods"] == [] and st["method_copy"] is None
    assert s.stop() == 0


def test_a_session_whose_method_is_gone_is_set_aside_not_a_crash_loop(serve):
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    s.stop(signal.SIGKILL)
    saved = s.state()
    saved["method_copy"] = None                    # a state from before copies were kept
    StateStore(s.state_dir).save({k: v for k, v in saved.items()
                                  if k not in ("format", "version", "saved")})
    (s.methods / "kort.yaml").unlink()
    (s.methods / "lang.yaml").write_text(LANG)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert st["status"]["stage"] == "idle" and st["service"]["selected"] == "lang"
    assert "cannot resume" in s.read_log()
    assert s.stop() == 0


def test_a_missing_audio_device_is_a_fault_not_a_stop(serve):
    s = serve("audio: {enabled: true, device: no-such-device-anywhere}\n").start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert "audio" in st["service"]["faults"]
    s.send("next")
    s.wait_state(running)                       # the session runs without sound
    r = cli("status", "--config", str(s.config))
    assert "Faults: audio" in r.stdout and "Phase 1/3: Inbreng" in r.stdout
    assert "left in this phase" in r.stdout and "Voice commands: off" in r.stdout
    assert s.stop() == 0
    r = cli("status", "--config", str(s.config), ok=False)
    assert r.returncode == 3 and "not running" in r.stdout


def test_a_thousand_random_presses_neither_crash_nor_lose_a_phase(serve):
    s = serve().start()
    rng = random.Random(6)
    words = ["next", "next", "next", "back", "repeat", "pause", "resume", "time", "step", "end"]
    s.send(*(rng.choice(words) for _ in range(1000)))
    st = s.settled()
    assert s.proc.poll() is None
    plan = ["een", "twee", "drie"]
    # phases are entered in order: each change moves one phase on or back
    seen = []
    for line in s.read_log().splitlines():
        if "event session_end" in line or "session start" in line:
            seen.append(None)
        for kind in ("event phase_start phase=", "event back phase=", "event resume phase="):
            if kind in line:
                seen.append(line.split(kind)[1].split()[0])
    current = None
    for phase in seen:
        if phase is None:
            current = None
            continue
        if current is not None:
            assert abs(plan.index(phase) - plan.index(current)) <= 1, seen
        else:
            assert phase == "een", seen
        current = phase
    if running(st):
        assert st["status"]["phase"] == current
    assert s.stop() == 0
    assert "Traceback" not in s.read_log()   # no step failed, in the service or the engine


def test_history_and_report_after_a_session(serve):
    s = serve().start()
    s.send("next", "next", "pause", "pause", "end", "end")
    s.wait_state(lambda st: st["status"]["stage"] == "idle" and st["service"]["pid"] == s.proc.pid
                 and list((s.state_dir / "records").glob("*.json")))
    r = cli("history", "--config", str(s.config))
    assert "kort" in r.stdout.splitlines()[1]
    r = cli("report", "--last", "--config", str(s.config))
    assert r.stdout.startswith("# Kort overleg") and "## Timeline" in r.stdout
    assert "Wat wilde je" not in r.stdout       # never a word of content
    rid = r.stdout.split("- Session: ")[1].split()[0]
    assert cli("report", rid, "--config", str(s.config)).stdout == r.stdout
    rows = cli("report", "--csv", "--config", str(s.config)).stdout.splitlines()
    assert rows[0].startswith("id,date,start,end,method") and rows[1].startswith(f"{rid},")
    r = cli("report", "nope", "--config", str(s.config), ok=False)
    assert r.returncode == 1 and "no session" in r.stderr
    assert s.stop() == 0


def test_methods_add_refuses_a_bad_file_and_installs_nothing(serve, tmp_path):
    s = serve()
    good = tmp_path / "lang.yaml"
    good.write_text(LANG)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    r = cli("methods", "add", str(good), str(bad), "--config", str(s.config), ok=False)
    assert r.returncode == 1
    assert f"{bad}:3:" in r.stderr and "nothing was installed" in r.stderr
    assert sorted(p.name for p in s.methods.iterdir()) == ["kort.yaml"]
    # not running: installed anyway, and said so
    r = cli("methods", "add", str(good), "--config", str(s.config))
    assert "not running" in r.stdout and (s.methods / "lang.yaml").exists()
    r = cli("methods", "remove", "../kort", "--config", str(s.config), ok=False)
    assert r.returncode == 1 and "not a method id" in r.stderr
    r = cli("methods", "remove", "lang", "--config", str(s.config))
    assert not (s.methods / "lang.yaml").exists()


def test_methods_select_is_what_a_press_at_idle_starts(serve):
    s = serve(methods=(("kort.yaml", KORT), ("lang.yaml", LANG))).start()
    assert s.state()["service"]["selected"] == "kort"
    r = cli("methods", "select", "lang", "--config", str(s.config))
    assert "a press at idle starts lang" in r.stdout
    r = cli("methods", "list", "--config", str(s.config))
    assert "selected: lang" in r.stdout
    r = cli("methods", "select", "lang", "--choice", "x=y", "--config", str(s.config), ok=False)
    assert r.returncode == 1 and "no choice 'x'" in r.stderr
    s.send("next")
    st = s.wait_state(running)
    assert st["status"]["method"] == "lang"
    assert s.stop() == 0


def test_notifier_never_blocks_on_a_reader_that_does_not_read(tmp_path):
    path = str(tmp_path / "deaf")
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    deaf.bind(path)
    try:
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
        sent = [n.watchdog() for _ in range(5000)]   # far more than the queue holds
        assert sent[0] and not sent[-1]
    finally:
        deaf.close()


@pytest.mark.audio
def test_the_service_speaks_and_sigterm_lets_the_sound_playing_finish(serve, pulse_server):
    s = serve("audio: {enabled: true}\n").start(wait_ready=False)  # PULSE_SERVER is in our environment
    first = next(s.messages())
    # rendering the prompts asks systemd for time before READY
    assert int(first["EXTEND_TIMEOUT_USEC"]) >= 60_000_000 and "READY" not in first
    s.expect("READY=1")
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert "audio" not in st["service"]["faults"], s.read_log()
    with pulse_server.record() as rec:
        pressed = time.monotonic()
        s.send("next")                               # the introduction is spoken
        onset = rec.wait_for_sound(after=pressed, timeout=20)
        assert onset is not None, s.read_log()
        s.proc.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        assert s.proc.wait(timeout=10) == 0
        # it did not cut the sound off the moment it was asked to stop
        assert rec.wait_until(lambda: rec.count > rec.index_at(asked + 0.5), timeout=5)
        assert np.abs(rec.segment(asked, asked + 0.5)).max() > 0.01
    s.close()
    assert StateStore(s.state_dir).read()["session"]["method"] == "kort"


def test_a_second_service_on_the_same_state_refuses_to_start(serve, tmp_path):
    s = serve().start()
    r = subprocess.run([str(PROGRAM), "serve", "--config", str(s.config)], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and f"(pid {s.proc.pid})" in r.stderr
    assert s.state()["service"]["pid"] == s.proc.pid   # the first one's state is untouched
    assert s.stop() == 0


@pytest.mark.audio
def test_a_refused_file_is_announced_when_idle(serve, pulse_server):
    s = serve("audio: {enabled: true}\n").start()
    with pulse_server.record() as rec:
        assert rec.wait_for_silence(after=time.monotonic(), seconds=0.5, timeout=30) is not None
        (s.methods / "kapot.yaml").write_text(BROKEN.replace("kort", "kapot"))
        before = s.state()["service"]["reloads"]
        asked = time.monotonic()
        s.proc.send_signal(signal.SIGHUP)
        s.wait_state(lambda st: st["service"]["reloads"] > before)
        assert rec.wait_for_sound(after=asked, timeout=20) is not None
    assert "kapot.yaml refused" in s.read_log()
    assert s.stop() == 0


def test_a_bad_config_on_reload_is_refused_with_its_line_and_the_old_one_stays(serve):
    s = serve().start()
    good = s.config.read_text()
    s.config.write_text(good + "participants: 99\n")
    before = s.state()["service"]["reloads"]
    s.proc.send_signal(signal.SIGHUP)
    st = s.wait_state(lambda st: st["service"]["reloads"] > before)   # same state folder
    log = s.read_log()
    assert f"{s.config}:" in log and "participants" in log
    assert "keeping the one in use" in log
    assert "config" not in st["service"]["faults"]
    s.config.write_text(good)
    assert s.stop() == 0


# --- review fixes: resume on the copy, clocks, rendering off the loop, one reload ----------

KEUZE = KORT.replace("id: kort\ntitle: Kort overleg", "id: keuze\ntitle: Keuze overleg").replace(
    "    questions: [Wat wilde je bereiken?, Wat deed je?]\n", "    from_choice: soort\n").replace(
    "phases:\n", textwrap.dedent("""\
        choices:
          - id: soort
            title: Welke soort?
            options:
              - {id: a, title: Soort A, questions: [Wat zag je?]}
              - {id: b, title: Soort B, questions: [Wat hoorde je?, Wat deed je?]}
        phases:
        """), 1)


def edit_state(s: Serve, change) -> None:
    """Change the saved state as a crash, a reboot or time would have left it."""
    saved = StateStore(s.state_dir).read()
    change(saved)
    StateStore(s.state_dir).save({k: v for k, v in saved.items() if k not in ("format", "version", "saved")})


def wait_log(s: Serve, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = s.read_log()
        if text in log:
            return log
        time.sleep(0.02)
    raise AssertionError(f"never logged {text!r}; log:\n{s.read_log()[-4000:]}")


def test_a_restart_resumes_on_the_method_the_session_started_with_not_the_edited_file(serve):
    s = serve("choices: {soort: b}\n", methods=(("keuze.yaml", KEUZE),)).start()
    s.send("next", "next")
    st = s.wait_state(lambda st: st["status"].get("phase") == "twee")
    assert st["status"]["questions"] == 2
    # the admin edits the running method: a new first phase, option b renamed
    edited = KEUZE.replace("phases:\n", "phases:\n  - id: welkom\n    title: Welkom\n    duration: 5m\n")
    edited = edited.replace("{id: b, title: Soort B", "{id: c, title: Soort C")
    (s.methods / "keuze.yaml").write_text(edited)
    before = st["service"]["reloads"]
    s.proc.send_signal(signal.SIGHUP)
    st = s.wait_state(lambda st: st["service"]["reloads"] > before)
    assert st["status"]["phase"] == "twee" and st["status"]["phase_number"] == 2
    s.stop(signal.SIGKILL)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    status = st["status"]
    assert (status["phase"], status["phase_number"], status["phases"]) == ("twee", 2, 3), s.read_log()
    assert status["choices"] == {"soort": "b"} and status["question"] == 1 and status["questions"] == 2
    log = s.read_log()
    assert "goes on with the copy saved with it" in log and "cannot resume" not in log
    assert not list(s.state_dir.glob("state.json.bad-*"))
    s.send("next", "next", "next")                # question two, drie, the end
    st = s.wait_state(lambda st: st["status"]["stage"] == "idle")
    assert st["method_copy"] is None
    record = RecordBook(s.state_dir / "records").last()
    assert [p["id"] for p in record["phases"]] == ["een", "twee", "drie"] and record["completed"]
    s.send("next")                                 # the next session runs the edited file:
    s.wait_state(lambda st: st["status"]["stage"] not in ("idle", "running"))
    s.send("next")                                 # its option b is gone, so it asks; take the first
    st = s.wait_state(lambda st: running(st) and st["status"].get("phase") == "welkom")
    assert st["status"]["phases"] == 4
    assert s.stop() == 0


def test_a_method_edited_before_the_first_press_runs_and_resumes_on_the_text_it_was_loaded_from(serve):
    # The file is edited on disk after the start and before any reload:
    # the session that starts is the method loaded (what the device said
    # it is ready for), and the copy saved with it is the text that method
    # was loaded from, not the edited file read at the press.
    s = serve().start()
    edited = KORT.replace("phases:\n", "phases:\n  - id: welkom\n    title: Welkom\n    duration: 5m\n")
    (s.methods / "kort.yaml").write_text(edited)
    s.send("next")
    st = s.wait_state(running)
    assert (st["status"]["phase"], st["status"]["phases"]) == ("een", 3)
    assert st["method_copy"] is not None and st["method_copy"]["text"] == KORT
    s.stop(signal.SIGKILL)
    s.start()                                       # loads the edited file; resumes on the copy
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st) and (st["status"]["phase"], st["status"]["phases"]) == ("een", 3), s.read_log()
    assert st["method_copy"]["text"] == KORT
    assert s.stop() == 0


def test_resume_counts_time_away_on_the_monotonic_clock_within_one_boot(serve):
    s = serve().start()
    s.send("next", "next")
    s.wait_state(lambda st: st["status"].get("phase") == "twee")
    s.stop(signal.SIGKILL)
    before = s.state()
    # the wall clock jumped an hour ahead meanwhile (NTP after a boot without it)
    edit_state(s, lambda st: st["session"].update(saved_wall=st["session"]["saved_wall"] - 3600))
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st) and st["status"]["phase"] == "twee"
    # not an hour more: just the time it was down, on the monotonic clock
    passed = st["clock"]["monotonic"] - before["clock"]["monotonic"]
    assert abs(st["status"]["elapsed"] - (before["status"]["elapsed"] + passed)) < 0.5
    assert st["clock"]["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert s.stop() == 0


def test_after_a_reboot_a_clock_gone_back_resumes_with_no_time_away(serve):
    s = serve().start()
    s.send("next", "next")
    s.wait_state(lambda st: st["status"].get("phase") == "twee")
    s.stop(signal.SIGKILL)

    def rebooted_with_a_clock_behind(st):
        st["clock"]["boot_id"] = "another-boot"
        st["session"]["saved_wall"] += 86400     # saved "tomorrow": fake-hwclock's old time now
    edit_state(s, rebooted_with_a_clock_behind)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st) and st["status"]["phase"] == "twee" and st["status"]["elapsed"] < 600
    assert "resuming with no time away" in s.read_log()
    assert s.stop() == 0


@pytest.mark.parametrize("same_boot", [True, False])
def test_a_session_saved_more_than_12_hours_ago_is_closed_as_interrupted(serve, same_boot):
    s = serve().start()
    s.send("next", "next")
    s.wait_state(lambda st: st["status"].get("phase") == "twee")
    s.stop(signal.SIGKILL)
    hours13 = 13 * 3600

    def long_ago(st):
        if same_boot:
            st["clock"]["monotonic"] -= hours13
        else:
            st["clock"]["boot_id"] = "another-boot"
            st["session"]["saved_wall"] -= hours13
    edit_state(s, long_ago)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert st["status"]["stage"] == "idle" and st["session"] is None and st["record"] is None
    assert "not resumed, its record is closed as interrupted" in s.read_log()
    record = RecordBook(s.state_dir / "records").last()
    assert record["interrupted"] and not record["completed"]
    assert record["duration"] < 3600                # ended when last saved, not 13 hours later
    assert "interrupted" in cli("report", "--last", "--config", str(s.config)).stdout
    assert s.stop() == 0


def many_questions(mid: str, token: str, n: int = 40) -> str:
    """A method with many prompts of its own, none in any cache yet."""
    qs = "\n".join(f"          - Vraag {i} over {token}, wat zou je anders doen?" for i in range(n))
    return (f"id: {mid}\ntitle: Groot overleg {token}\nlanguage: nl\nphases:\n"
            f"  - id: een\n    title: Inbreng\n    duration: 10m\n    questions:\n{qs}\n")


FAULTY_AUDIO = "audio: {enabled: true, device: no-such-device-anywhere}\n"  # silent, still renders


def test_a_reload_renders_off_the_loop_a_press_goes_first_and_sigterm_stops_it(serve):
    s = serve(FAULTY_AUDIO).start()
    s.send("next")
    s.wait_state(running)
    token = f"reload{os.getpid()}{time.time_ns()}"
    (s.methods / "groot.yaml").write_text(many_questions("groot", token))
    s.proc.send_signal(signal.SIGHUP)
    wait_log(s, "prompts (reload)")                 # rendering the new method has begun
    s.send("next")                                  # the chair presses meanwhile
    s.wait_state(lambda st: st["status"].get("phase") == "twee")
    log = wait_log(s, "event phase_start phase=twee")   # (the state is saved before it is said)
    assert "rendered" not in log.split("prompts (reload)")[1], "the press waited for the rendering"
    s.proc.send_signal(signal.SIGTERM)              # and a SIGTERM does not wait for it either
    assert s.proc.wait(timeout=10) == 0
    s.close()
    # it left without waiting for the rest of the rendering (the batch being
    # rendered is the espeak worker's, which ends with its pipe)
    assert "in all" not in s.read_log().split("prompts (reload)")[1]
    assert StateStore(s.state_dir).read()["session"]["state"]["run"]["index"] == 1


def test_sigterm_while_prompts_render_at_start_up_exits_and_keeps_the_saved_session(serve, tmp_path):
    s = serve(FAULTY_AUDIO).start()
    s.send("next")
    s.wait_state(running)
    s.stop(signal.SIGKILL)
    token = f"start{os.getpid()}{time.time_ns()}"
    (s.methods / "groot.yaml").write_text(many_questions("groot", token))
    s.start(wait_ready=False)
    wait_log(s, "prompts (start-up)")
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=10) == 0
    s.sock.setblocking(False)
    sent = []
    with contextlib.suppress(BlockingIOError):
        while True:
            sent.append(s.sock.recv(4096).decode())
    s.close()
    assert sent and not any("READY=1" in m for m in sent)   # it never claimed to be up
    log = s.read_log()
    assert "in all" not in log.split("prompts (start-up)")[1]
    assert log.splitlines()[-1].endswith("stopped")
    saved = StateStore(s.state_dir).read()
    assert saved["session"]["method"] == "kort"     # not overwritten before it was resumed


def test_methods_add_and_the_path_units_reload_make_one_reload(serve, tmp_path):
    s = serve().start()
    new = tmp_path / "lang.yaml"
    new.write_text(LANG)
    r = cli("methods", "add", str(new), "--config", str(s.config))
    assert "the service reloaded: lang is in use" in r.stdout
    before = s.state()["service"]["reloads"]
    s.proc.send_signal(signal.SIGHUP)               # the path unit's, for the same file
    st = s.wait_state(lambda st: st["service"]["reloads"] > before)
    assert library(s)["methods"] == ["kort", "lang"]
    assert s.read_log().count("reload: methods and config") == 1
    assert s.read_log().count("methods: added lang") == 1
    assert s.stop() == 0


def dutch_device_with_sound(clock, methods):
    """A service on a Dutch device, in process, whose sound's fake notes
    the language each text is said in (the voice switch the real one has)."""
    from intervisor.core.events import Say
    from intervisor.table.runner import Device
    from intervisor.appliance.service import Parts, Service
    from intervisor.sound.adapter import FakeSound

    class Voiced(FakeSound):
        def __init__(self):
            super().__init__()
            self.language = "nl"
            self.spoken: list[tuple[str, str]] = []

        def set_language(self, language):
            self.language = language

        def perform(self, action):
            if isinstance(action, Say):
                self.spoken.append((self.language, action.text))
            super().perform(action)

    service = Service(clock=clock, environ={})
    service.parts = Parts({}, lambda command: None, "nl")
    service.parts.sound = sound = Voiced()
    service.device_language = "nl"
    service.device = Device(methods, clock, [service, sound], language="nl")
    return service.device, sound


def test_an_english_methods_wrap_up_is_said_in_english_on_a_dutch_device():
    from intervisor.core.events import Command

    clock = FakeClock()
    english = Method("short", "Short meeting", "en", (Phase("a", "Sharing", Duration(60, 60)),),
                     closing="Thank you all, see you next time.")
    device, sound = dutch_device_with_sound(clock, {"short": english})
    device.handle(Command.NEXT)                     # start
    device.handle(Command.NEXT)                     # the last phase done: the wrap-up
    assert device.session is None
    wrap_up = [(lang, text) for lang, text in sound.spoken if "Thank you all" in text]
    assert wrap_up and all(lang == "en" for lang, _ in wrap_up), sound.spoken
    device.handle(Command.STEP)                     # idle again: the device's own language
    assert sound.spoken[-1] == ("nl", "Short meeting")


def test_an_english_session_closed_on_resume_says_its_wrap_up_in_english():
    # Its last silent minute ran out while the device was down: the
    # resume closes it, in the method's language, not the device's.
    from intervisor.core.events import Command
    from intervisor.core.model import Cues

    clock = FakeClock()
    english = Method("short", "Short meeting", "en",
                     (Phase("a", "Sharing", Duration(60, 60)),
                      Phase("b", "Silence", Duration(60, 60), silent=True, cues=Cues(auto_advance=True))),
                     closing="Thank you all, see you next time.")
    device, _ = dutch_device_with_sound(clock, {"short": english})
    device.handle(Command.NEXT)
    device.handle(Command.NEXT)                     # into the silent minute
    snapshot = device.session.snapshot()
    device, sound = dutch_device_with_sound(clock, {"short": english})
    device.resume({**snapshot, "saved_wall": clock.time() - 3600})
    assert device.session is None
    assert sound.spoken and all(lang == "en" for lang, _ in sound.spoken), sound.spoken
    assert "Thank you all" in sound.spoken[0][1]


def test_the_loop_acts_on_deadlines_early_enough_for_the_output_buffer(tmp_path):
    # audio.cue_lead as configured, but never shorter than the output
    # buffer and two blocks (the cue would come late), and 0 without sound.
    from types import SimpleNamespace

    from intervisor.appliance.service import Service

    def lead(config_text, sound):
        path = tmp_path / "config.yaml"
        path.write_text(config_text + f"state_dir: {tmp_path / 'state'}\n", encoding="utf-8")
        service = Service(path)
        service.configure()
        service.parts = SimpleNamespace(sound=sound)
        return service.cue_lead()

    output = SimpleNamespace(output_latency=0.016, block_size=256, rate=48000)
    assert lead("", output) == 0.1
    assert lead("audio:\n  cue_lead: 0.25\n", output) == 0.25
    slow = SimpleNamespace(output_latency=0.2, block_size=480, rate=48000)
    assert lead("", slow) == pytest.approx(0.22)
    assert lead("audio:\n  cue_lead: 0\n", output) == 0.0
    assert lead("", None) == 0.0


def test_voice_keeps_the_language_the_config_chose_and_follows_a_method_in_another():
    from intervisor.appliance.service import Parts

    class Switch:
        def __init__(self):
            self.languages = []

        def set_language(self, language):
            self.languages.append(language)

    for configured, wanted in ((None, ["nl", "en", "nl"]), ("en", ["en", "en", "en"])):
        parts = Parts({"voice": {"language": configured}}, lambda command: None, "nl")
        parts.sound, parts.voice = Switch(), Switch()
        for language in ("nl", "en", "nl"):          # idle, an English method, idle
            parts.speak_in(language)
        assert parts.sound.languages == ["nl", "en", "nl"]
        assert parts.voice.languages == wanted, configured


def test_voice_that_cannot_start_is_a_fault_and_its_notice_joins_the_greeting():
    # No such microphone: a fault on the lights, and the spoken notice kept
    # for the greeting (a Say of its own would be cut off by it).
    import queue

    from intervisor.core.events import Light, Say, Show
    from intervisor.appliance.service import Parts, with_notices

    config = {"voice": {"enabled": True, "backend": "pocketsphinx", "language": "en",
                        "device": "no such microphone"}}
    parts = Parts(config, lambda command: None, "en")
    parts.start_voice(queue.Queue())
    assert parts.voice is None and not parts.voice_on
    assert "no microphone" in parts.faults["voice"]
    assert parts.voice_notices == [Say(("Voice commands are not working right now. The button still works.",))]
    greeting = [Show(Light.IDLE), Say(("Ready.", "Short meeting"))]
    assert with_notices(greeting, parts.voice_notices) == [
        Show(Light.IDLE), Say(("Ready.", "Short meeting", "Voice commands are not working right now. The button still works."))]


# --- found in review (session 8): input that stopped the service -------------

def test_a_damaged_record_does_not_stop_the_resumed_session(serve):
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    s.stop(signal.SIGKILL)
    edit_state(s, lambda st: st["record"].pop("restarts"))   # was a crash loop (KeyError)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st) and st["status"]["phase"] == "een"
    assert "its record starts again" in s.read_log() and "Traceback" not in s.read_log()
    s.send("next", "next", "next", "next")
    s.wait_state(lambda st: st["status"]["stage"] == "idle")
    assert s.stop() == 0
    assert [r["method"] for r in RecordBook(s.state_dir / "records").list()] == ["kort"]


def test_a_saved_time_too_big_for_a_float_is_set_aside(serve):
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    s.stop(signal.SIGKILL)

    def damaged(st):
        st["clock"]["boot_id"] = "another-boot"
        st["session"]["saved_wall"] = 10 ** 400             # was an OverflowError at start
    edit_state(s, damaged)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert st["status"]["stage"] == "idle" and "cannot resume" in s.read_log()
    assert len(list(s.state_dir.glob("state.json.bad-*"))) == 1
    assert s.stop() == 0


def test_an_unusable_state_dir_is_one_clear_line_not_a_traceback(tmp_path):
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "kort.yaml").write_text(KORT)
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(f"""\
        methods_dir: {tmp_path / 'methods'}
        state_dir: /proc/no-such-intervisor-state
        cache_dir: {tmp_path / 'cache'}
        audio: {{enabled: false}}
        panel: {{pin_factory: mock}}
        """))
    r = subprocess.run([str(PROGRAM), "serve", "--config", str(config)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert f"state_dir /proc/no-such-intervisor-state cannot be used" in r.stderr
    assert f"set state_dir in {config}" in r.stderr


def test_a_stray_big_file_in_the_methods_folder_is_not_read(tmp_path):
    import tracemalloc

    from intervisor.appliance.service import folder_fingerprint

    (tmp_path / "kort.yaml").write_text(KORT)
    with open(tmp_path / "backup.img", "wb") as f:   # sparse: no disk used
        f.truncate(1024 ** 3)
    tracemalloc.start()
    try:
        before = folder_fingerprint(tmp_path / "config.yaml", tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 ** 2, f"{peak} bytes read for a fingerprint"   # was the whole gigabyte
    with open(tmp_path / "backup.img", "r+b") as f:
        f.truncate(2 * 1024 ** 3)
    assert folder_fingerprint(tmp_path / "config.yaml", tmp_path) != before   # still seen to change


def test_methods_remove_removes_a_file_that_was_refused(tmp_path):
    methods = tmp_path / "methods"
    methods.mkdir()
    (methods / "casus.yaml").write_text("id: casus\ntitle: [\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"methods_dir: {methods}\nstate_dir: {tmp_path / 'state'}\n")
    r = cli("methods", "remove", "casus", "--config", str(config))
    assert not (methods / "casus.yaml").exists()
    assert "a file that was refused" in r.stdout


def test_status_ignores_a_state_file_of_the_wrong_shape(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"methods_dir: {tmp_path / 'methods'}\nstate_dir: {tmp_path / 'state'}\n")
    StateStore(tmp_path / "state").save({"session": ["not", "a", "session"], "service": {}, "status": {}})
    r = cli("status", "--config", str(config), ok=False)
    assert "Traceback" not in r.stderr and "not one the service wrote" in r.stderr
    assert "Intervisor is not running." in r.stdout


def test_status_says_not_running_to_a_reader_that_went_away(tmp_path):
    # Found in review: `intervisor status | head -0` (or a dropped SSH
    # session) turned "not running" (3) into 0 for a script that checks it.
    config = tmp_path / "config.yaml"
    config.write_text(f"methods_dir: {tmp_path / 'methods'}\nstate_dir: {tmp_path / 'state'}\n")
    for args in (("status", "--config", str(config)), ("status", "--json", "--config", str(config))):
        read, write = os.pipe()
        os.close(read)
        try:
            r = subprocess.run([str(PROGRAM), *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(write)
        assert r.returncode == 3 and r.stderr == ""


def test_check_keeps_its_exit_code_when_stderr_has_no_reader(tmp_path):
    # `intervisor check methods/*.yaml 2>&1 | head -1`, or the dropped SSH
    # session the _Reader's docstring names: check writes its warnings on
    # stderr. The file is fine (a warning only): check says 0, whoever reads.
    import os
    import subprocess
    import sys

    good = tmp_path / "w.yaml"
    good.write_text("id: w\ntitle: W\nlanguage: en\nphases:\n"
                    "  - id: a\n    title: A\n    duration: 1m\n    warn_before: 2m\n")
    program = [sys.executable, "-c", "import sys; from intervisor.cli import main; sys.exit(main())"]
    assert subprocess.run(program + ["check", str(good)], capture_output=True).returncode == 0
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run(program + ["check", str(good), str(good)], stdout=subprocess.DEVNULL,
                           stderr=write, timeout=60)
    finally:
        os.close(write)
    assert r.returncode == 0


def test_a_config_refused_for_a_typo_still_names_the_folders(tmp_path):
    # Found in review: a typo anywhere sent the service to the default
    # folders, where the session saved before it was killed is not.
    from intervisor.appliance.service import load_settings

    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmethods_dir: {tmp_path / 'm'}\n"
                      "audio: {volum: 80}\nlanguage: fr\n")
    settings, problems = load_settings(config)
    assert len(problems) == 2 and problems[0].startswith(f"{config}:3:")
    assert (settings.state_dir, settings.methods_dir) == (str(tmp_path / "state"), str(tmp_path / "m"))
    assert settings.language == settings.default().language and settings.audio == settings.default().audio
    StateStore(tmp_path / "state").save({"session": {"method": "kort"}, "service": {}, "status": {}})
    r = cli("status", "--config", str(config), ok=False)
    assert "A session of kort is saved" in r.stdout


def test_a_session_resumed_with_a_damaged_record_is_still_recorded(serve):
    # Found in review: the new record opened no phase at the restart, so a
    # session that ended in that phase left no record at all.
    s = serve().start()
    s.send("next", "next", "next", "next")
    s.wait_state(lambda st: st["status"].get("phase") == "drie")
    s.stop(signal.SIGKILL)
    edit_state(s, lambda st: st["record"].pop("restarts"))
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st) and st["status"]["phase"] == "drie"
    s.send("next")
    s.wait_state(lambda st: st["status"]["stage"] == "idle")
    assert s.stop() == 0
    records = RecordBook(s.state_dir / "records").list()
    assert [r["method"] for r in records] == ["kort"]
    assert [p["id"] for p in records[0]["phases"]] == ["drie"]


EEN = textwrap.dedent("""\
    id: een
    title: Een fase
    language: nl
    phases:
      - id: stil
        title: Stil
        duration: 10m
        auto_advance: true
    """)


def an_hour_ago(st):
    """A saved state as another boot finds it an hour later."""
    st["clock"]["boot_id"] = "another-boot"
    st["session"]["saved_wall"] -= 3600
    st["record"]["started"] -= 3600
    for seg in st["record"]["segments"]:
        seg["start"] -= 3600


def ran_out_while_down(serve):
    """A one-phase session (moving on by itself) killed, and found by
    another boot an hour later: its phase ran out meanwhile. Serve stopped."""
    s = serve(methods=(("een.yaml", EEN),)).start()
    s.send("next")
    s.wait_state(running)
    s.stop(signal.SIGKILL)
    edit_state(s, an_hour_ago)
    return s


def test_a_session_that_ran_out_while_down_is_recorded_and_cleared(serve):
    s = ran_out_while_down(serve)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert st["status"]["stage"] == "idle" and st["session"] is None and st["record"] is None
    assert "session resumed and closed" in s.read_log()
    assert s.stop() == 0
    records = RecordBook(s.state_dir / "records").list()
    assert len(records) == 1 and records[0]["completed"] is True
    assert abs(records[0]["duration"] - 600) < 5      # its ten minutes, not the hour away


def said_at_start(config: Path) -> list:
    """What the service hands its adapters from its start until it is up:
    a real Service run in process, on this thread (it installs its signal
    handlers, put back after), stopped once it is up."""
    import threading

    from intervisor.appliance.service import Service
    from intervisor.core.events import Hush, Say

    actions: list = []

    class Heard(Service):
        def perform(self, action):
            actions.append(action)
            super().perform(action)

    service = Heard(config, environ={})
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}

    def stop_once_up():
        deadline = time.monotonic() + 30
        while not service.up and time.monotonic() < deadline:
            time.sleep(0.01)
        service.stop()   # the greeting comes after `up`, before the loop looks at the stop

    stopper = threading.Thread(target=stop_once_up, daemon=True)
    stopper.start()
    try:
        assert service.run() == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        stopper.join(5)
    return [a for a in actions if isinstance(a, (Hush, Say))]


def test_a_session_that_ran_out_while_down_ends_on_its_closing_words_with_no_greeting(serve):
    # Its closing words are what the room hears after the restart; the
    # idle greeting (a Hush, then "ready: ..., press to start") would cut
    # them off and talk over them.
    from intervisor.core.events import Say
    from intervisor.core.phrases import Phrases

    s = ran_out_while_down(serve)
    said = said_at_start(s.config)
    assert said and isinstance(said[-1], Say), said
    assert Phrases("nl")["ended"] in said[-1].parts, said      # "De sessie is afgerond."
    assert not any(Phrases("nl")["press_to_start"] in a.parts for a in said if isinstance(a, Say)), said


def test_a_session_too_old_to_resume_is_closed_and_the_device_greets(serve):
    # The other way round: closed unheard (saved 13 hours ago), nothing
    # was said of it, so the idle device says what it is ready for.
    from intervisor.core.events import Say
    from intervisor.core.phrases import Phrases

    def twelve_hours_more(st):
        st["session"]["saved_wall"] -= 12 * 3600

    s = ran_out_while_down(serve)
    edit_state(s, twelve_hours_more)
    said = said_at_start(s.config)
    assert said and isinstance(said[-1], Say) and Phrases("nl")["press_to_start"] in said[-1].parts, said
    assert not any(Phrases("nl")["ended"] in a.parts for a in said if isinstance(a, Say)), said


# --- found by a kill -9 soak of serve (seeded, 374 kills; session 10) -------------
#
# Each test puts on disk exactly what a SIGKILL (or a power cut) at one
# moment leaves there, and starts serve again.

def test_a_kill_between_the_record_and_the_state_does_not_record_the_session_twice(serve):
    # The last press ends the session: the service writes its record, then
    # the state (no session). A kill between the two writes left the record
    # in the book and the state from before the press; the restart resumed
    # the ended session ("resumed", in the room) and recorded it again.
    s = serve().start()
    s.send("next", "next", "next", "next")            # start, twee, question 2, drie
    s.wait_state(lambda st: st["status"].get("phase") == "drie")
    s.settled()
    before_the_press = (s.state_dir / "state.json").read_bytes()
    s.send("next")                                    # the session ends; its record is written
    s.wait_state(lambda st: st["status"]["stage"] == "idle")
    s.stop(signal.SIGKILL)
    (s.state_dir / "state.json").write_bytes(before_the_press)   # the state write never happened
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert not running(st)
    assert s.stop() == 0
    records = RecordBook(s.state_dir / "records").list()
    assert len(records) == 1, [(r["id"], r["started"]) for r in records]
    assert "had ended" in s.read_log()


def test_a_kill_after_a_resume_closed_the_session_does_not_record_it_twice(serve):
    # The same two writes when a restart finds that the last (moving on by
    # itself) phase ran out while the device was down: the resume closes
    # the session and records it; killed before the state followed, the
    # next start closed and recorded it again.
    s = ran_out_while_down(serve)
    ran_out = (s.state_dir / "state.json").read_bytes()
    s.start()
    s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid and st["session"] is None)
    s.stop(signal.SIGKILL)
    (s.state_dir / "state.json").write_bytes(ran_out)   # killed after the record, before the state
    s.start()
    s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert s.stop() == 0
    records = RecordBook(s.state_dir / "records").list()
    assert len(records) == 1, [(r["id"], r["started"]) for r in records]


def test_temporary_files_of_a_killed_write_do_not_pile_up(serve):
    # write_atomic names its temporary file by pid: a process killed
    # between the write and the rename leaves it (one in about ten kills in
    # the soak). Serve holds the folder's lock, so it removes those of
    # processes that are gone.
    s = serve().start()
    s.send("next")
    s.wait_state(running)
    s.stop(signal.SIGKILL)
    state = (s.state_dir / "state.json").read_bytes()
    left = [s.state_dir / ".state.json.999999.tmp", s.state_dir / "records" / ".20260101-120000.json.999998.tmp"]
    left[1].parent.mkdir(exist_ok=True)
    for path in left:
        path.write_bytes(state[: len(state) // 2])
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert running(st)
    assert s.stop() == 0
    assert [p.name for p in left if p.exists()] == []


def test_a_kill_while_choosing_at_the_start_comes_back_idle_without_setting_the_state_aside(serve):
    # Nothing of a session runs while the start-up questions are asked: the
    # device comes back idle. It did, but through a "cannot resume" warning
    # and a state.json.bad-* file left for each such kill (soak: 19 in one run).
    s = serve(methods=(("keuze.yaml", KEUZE),)).start()
    s.send("next")
    s.wait_state(lambda st: st["status"]["stage"] == "choosing")
    s.settled()
    s.stop(signal.SIGKILL)
    s.start()
    st = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert st["status"]["stage"] == "idle"
    assert s.stop() == 0
    assert list(s.state_dir.glob("state.json.bad*")) == []
    assert "cannot resume" not in s.read_log()


def test_a_restart_while_the_start_question_is_asked_again_keeps_the_record(serve):
    # The session ran its first phase, the chair went back to the start-up
    # question (reopened), and the device restarted before it was answered
    # (an update's restart, a kill, a power cut). The state keeps no session
    # while choosing, so the device comes back idle: but the record of the
    # phase that did run was in the state only, and it is gone; no line in
    # `intervisor history` for a session the group held.
    s = serve(methods=(("keuze.yaml", KEUZE),)).start()
    s.send("next", "next")                            # start; Soort A taken: een runs
    s.wait_state(lambda st: st["status"].get("phase") == "een")
    s.send("back")                                    # the question asked again
    st = s.wait_state(lambda st: st["status"]["stage"] == "choosing")
    assert st["session"] is None and st["record"]["segments"], st["record"]
    s.settled()
    assert s.stop(signal.SIGKILL) != 0
    s.start()
    s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid)
    assert s.stop() == 0
    records = RecordBook(s.state_dir / "records").list()
    assert len(records) == 1 and records[0]["phases"][0]["id"] == "een", s.read_log()[-3000:]
    assert records[0]["completed"] is False


def test_a_temporary_file_left_by_a_process_of_the_same_pid_is_removed_too(tmp_path):
    # After a power cut the Pi boots the same units in the same order, so
    # the new serve often gets the pid the killed one had. Its leftover in
    # the records folder (named after a record id no later write reuses)
    # then stays for good. Nothing of this process has been written yet
    # when serve calls remove_stale_temps (under the lock, before the pid
    # file): every temporary file there is a leftover.
    from intervisor.appliance.state import remove_stale_temps

    left = tmp_path / f".20260101-120000.json.{os.getpid()}.tmp"
    left.write_text("{half")
    assert remove_stale_temps(tmp_path) == 1 and not left.exists()
