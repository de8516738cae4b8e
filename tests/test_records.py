"""Session records: what the record says agrees with what the engine did,
and the reports an admin opens are safe to open (found in review, session 8)."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from intervisor.core.clock import FakeClock
from intervisor.core.engine import Engine
from intervisor.core.events import Command, Mark
from intervisor.core.model import Cues, Duration, Method, Phase
from intervisor.appliance.records import Recorder, RecordBook, csv_phases, csv_sessions, markdown

PROGRAM = Path(sys.executable).with_name("intervisor")


def feed(rec, actions):
    for a in actions:
        if isinstance(a, Mark):
            rec.mark(a)


def restarted(m, run_for, away):
    """A session of ``m`` run for ``run_for`` s, saved with its record, and
    picked up after ``away`` s: the engine, its record, the clock."""
    clock = FakeClock()
    e = Engine(m, clock)
    rec = Recorder.begin(m, clock, {}, 5)
    feed(rec, e.start())
    clock.advance(run_for)
    snap, saved = e.snapshot(), Recorder.from_dict(rec.to_dict(), clock)
    clock.advance(away)
    again = Engine.restore(m, clock, snap)
    saved.restarted()
    feed(saved, again.resumed())
    return again, saved, clock


def test_csv_cells_never_start_a_spreadsheet_formula():
    m = Method("proef", '=HYPERLINK("http://evil","klik")', "nl",
               (Phase("een", "@SUM(1+1)", Duration(60, 60)),))
    clock = FakeClock()
    rec = Recorder.begin(m, clock, {}, 5)
    rec.mark(Mark("phase_start", "een"))
    clock.advance(60)
    r = rec.finish(True)
    cells = [c for row in csv.reader(io.StringIO(csv_sessions([r]) + csv_phases(r))) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:2].isdigit())]


def test_a_pipe_in_a_phase_title_keeps_the_markdown_table_six_columns():
    m = Method("proef", "Proef", "nl", (Phase("een", "Inbreng | casus", Duration(60, 60)),))
    clock = FakeClock()
    rec = Recorder.begin(m, clock, {}, 5)
    rec.mark(Mark("phase_start", "een"))
    clock.advance(60)
    row = next(l for l in markdown(rec.finish(True)).splitlines() if l.startswith("| Inbreng"))
    assert row.replace("\\|", "").count("|") == 7


def test_back_across_phases_the_record_agrees_with_the_engine_clock():
    m = Method("m", "M", "nl", (Phase("a", "A", Duration(600, 600)), Phase("b", "B", Duration(600, 600))))
    clock = FakeClock()
    e = Engine(m, clock)
    rec = Recorder.begin(m, clock, {}, 5)
    feed(rec, e.start())
    clock.advance(570); feed(rec, e.handle(Command.NEXT))    # 9m30 in A, a press by mistake
    clock.advance(120); feed(rec, e.handle(Command.BACK))    # 2 min later: back to A
    assert e.status()["phase"] == "a" and e.status()["elapsed"] == 690   # the engine: A ran 11m30
    clock.advance(60)
    r = rec.finish(True)
    phases = {p["id"]: p for p in r["phases"]}
    assert phases["a"]["actual"] == e.status()["elapsed"] == 750
    assert phases["a"]["overrun"] == 150


def test_a_phase_that_ran_out_and_moved_on_while_the_device_was_down_is_recorded():
    auto = Cues(auto_advance=True)
    m = Method("m", "M", "nl", (Phase("a", "A", Duration(60, 60), cues=auto),
                                Phase("b", "B", Duration(600, 600))))
    again, saved, clock = restarted(m, run_for=30, away=300)   # A ran out at 60 s, B began
    assert again.status()["phase"] == "b"
    clock.advance(60)
    phases = {p["id"]: p for p in saved.finish(True)["phases"]}
    assert "b" in phases                                 # the session is in B: reached
    assert phases["a"]["actual"] == 60                   # A ran its minute, not 6


def test_a_last_phase_that_ran_out_while_the_device_was_down_ends_the_record_when_it_ran_out():
    m = Method("m", "M", "nl", (Phase("a", "A", Duration(600, 600), cues=Cues(auto_advance=True)),))
    # off for 4 hours (under the 12 h that close it as stale); it closes by itself
    again, saved, clock = restarted(m, run_for=300, away=4 * 3600)
    assert again.ended
    r = saved.finish(completed=True)
    assert r["duration"] == 600              # the session lasted its 10 minutes, not 4h05



def test_history_skips_a_records_file_that_is_not_a_record(tmp_path):
    from intervisor.appliance.records import RecordBook, history_lines
    m = Method("m", "M", "nl", (Phase("a", "A", Duration(60, 60)),))
    clock = FakeClock()
    rec = Recorder.begin(m, clock, {}, 5)
    rec.mark(Mark("phase_start", "a"))
    clock.advance(60)
    book = RecordBook(tmp_path)
    book.save(rec.finish(True))
    (tmp_path / "20990101-000000.json").write_text("[]")        # JSON, but no record
    (tmp_path / "20990101-000001.json").write_text('{"id": "20990101-000001"}')
    assert len(history_lines(book.list())) == 2                   # header and the one record


def one_record(state: Path) -> None:
    m = Method("proef", "Proef", "nl", (Phase("a", "A", Duration(60, 60)),))
    clock = FakeClock()
    rec = Recorder.begin(m, clock, {}, 5)
    rec.mark(Mark("phase_start", "a"))
    clock.advance(60)
    RecordBook(state / "records").save(rec.finish(True))


def test_report_works_under_a_non_utf8_locale(tmp_path):
    one_record(tmp_path / "state")
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    env = dict(os.environ, PYTHONIOENCODING="latin-1")      # what LANG=nl_NL (ISO-8859-1) gives
    r = subprocess.run([str(PROGRAM), "report", "--config", str(config)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_status_without_a_state_file_does_not_call_it_foreign(tmp_path):
    (tmp_path / "state").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmethods_dir: {tmp_path / 'methods'}\n")
    r = subprocess.run([str(PROGRAM), "status", "--config", str(config)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3
    assert "not one the service wrote" not in r.stderr


def test_back_into_a_silent_minute_that_starts_over_is_a_new_visit():
    auto = Cues(auto_advance=True)
    m = Method("m", "M", "nl", (Phase("a", "A", Duration(300, 300)),
                                Phase("stil", "Stil", Duration(60, 60), cues=auto),
                                Phase("c", "C", Duration(300, 300))))
    clock = FakeClock()
    e = Engine(m, clock)
    rec = Recorder.begin(m, clock, {}, 5)
    feed(rec, e.start())
    clock.advance(300); feed(rec, e.handle(Command.NEXT))
    clock.advance(20); feed(rec, e.handle(Command.NEXT))     # c, by mistake
    clock.advance(100); feed(rec, e.handle(Command.BACK))    # the silent minute starts over
    assert e.status()["phase"] == "stil" and e.status()["elapsed"] == 0
    clock.advance(60); feed(rec, e.handle(Command.TICK))
    assert e.status()["phase"] == "c"
    clock.advance(300)
    phases = {p["id"]: p for p in rec.finish(True)["phases"]}
    # Both visits of the silent minute (20 s, then its whole minute) and both
    # of c: c's minutes are not taken for the silent minute's.
    assert phases["stil"]["actual"] == 80 and phases["c"]["actual"] == 400


def test_a_session_closed_on_resume_with_a_new_record_still_has_its_phase():
    import json

    m = Method("m", "M", "nl", (Phase("a", "A", Duration(300, 300)),
                                Phase("stil", "Stil", Duration(120, 120), cues=Cues(auto_advance=True))))
    clock = FakeClock()
    e = Engine(m, clock)
    e.start()
    clock.set(300)
    e.handle(Command.NEXT)
    snap = json.loads(json.dumps(e.snapshot()))
    later = FakeClock(wall=clock.time() + 600)
    again = Engine.restore(m, later, snap)
    rec = Recorder.begin(m, later, {}, 5)      # the saved record was damaged: a new one
    feed(rec, again.resumed())
    assert again.ended
    assert [s["phase"] for s in rec.data["segments"]] == ["stil"]
    assert rec.finish(True)["phases"][0]["actual"] == 120   # from its start to when it ran out


class RecordingService:
    """What Service.perform does with marks: a Recorder from the first one."""

    def __init__(self, device_ref, clock):
        self.device_ref, self.clock, self.recorder = device_ref, clock, None

    def perform(self, action):
        if not isinstance(action, Mark):
            return
        device = self.device_ref[0]
        if self.recorder is None and device is not None and device.session is not None:
            s = device.session
            self.recorder = Recorder.begin(s.method, self.clock, s.choices, s.participants)
        if self.recorder is not None:
            self.recorder.mark(action)


def test_the_time_spent_answering_the_reopened_question_is_not_counted_as_the_first_phase():
    # Back in the first phase reopens the start-up question; the phase
    # "starts afresh when it is answered". The record kept the first
    # phase's segment open through the choosing, so every minute the group
    # spent deciding again counted as time in phase 1 (and as its overrun).
    from intervisor.core.model import Choice, Option
    from intervisor.table.runner import Device

    M = 60.0
    vragen = Choice("vragen", "Welke set vragen?", (Option("vijf", "Vijf"), Option("alt", "Alt")))
    m = Method("proef", "Proef", "nl", (Phase("inbreng", "Inbreng", Duration(10 * M, 10 * M)),
                                         Phase("advies", "Advies", Duration(5 * M, 5 * M))),
               choices=(vragen,))
    clock = FakeClock()
    ref = [None]
    svc = RecordingService(ref, clock)
    device = Device({m.id: m}, clock, [svc], selected=m.id)
    ref[0] = device
    device.handle(Command.NEXT)          # which set?
    device.handle(Command.NEXT)          # taken by a slip: phase 1 runs
    clock.advance(30)
    device.handle(Command.BACK)          # asked again
    assert device.session.stage == "choosing"
    clock.advance(5 * M)                 # the group talks it over
    device.handle(Command.STEP)
    device.handle(Command.NEXT)          # phase 1 afresh
    clock.advance(10 * M)
    assert device.session.status()["elapsed"] == 10 * M
    record = svc.recorder.finish(completed=False)
    inbreng = next(p for p in record["phases"] if p["id"] == "inbreng")
    # 30 s of the slip and the 10 minutes it ran afresh; not the 5 minutes
    # in which no phase ran.
    assert inbreng["actual"] == 30 + 10 * M, inbreng
    assert inbreng["overrun"] == 30, inbreng
