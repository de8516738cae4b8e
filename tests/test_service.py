"""The appliance: notify protocol, atomic state, session records, and the
real `intervisor serve` process."""

from __future__ import annotations

import json
import os
import socket

import pytest

from intervisor.clock import FakeClock
from intervisor.events import Mark
from intervisor.model import Duration, Method, Phase
from intervisor.notify import Notifier
from intervisor.records import Recorder, RecordBook, csv_phases, csv_sessions, history_lines, markdown
from intervisor.state import StateStore, write_atomic


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
    assert phases["inbreng"]["actual"] == 150 and phases["vragen"]["actual"] == 10


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
