"""Session records: when, which method, how the time went. Never content.

A :class:`Recorder` follows one session through the engine's :class:`Mark`
actions (``phase_start``, ``pause``, ``resume``, ``session_end``) and keeps
only times and ids: what was said is never looked at. Groups need these for
attendance and duration (accreditation points), the chair to see where the
time went.

>>> from intervisor.core.clock import FakeClock
>>> from intervisor.core.events import Mark
>>> from intervisor.core.model import Duration, Method, Phase
>>> m = Method("m", "M", "nl", (Phase("a", "A", Duration(60, 60)),))
>>> clock = FakeClock()
>>> rec = Recorder.begin(m, clock, choices={}, participants=5)
>>> rec.mark(Mark("phase_start", "a")); clock.advance(90)
>>> r = rec.finish(completed=True)
>>> r["phases"][0]["actual"], r["phases"][0]["overrun"]
(90.0, 30.0)

:class:`RecordBook` keeps finished records as JSON files in a folder and
answers ``intervisor history`` and ``intervisor report``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from intervisor.core.events import Mark
from intervisor.core.model import Method
from intervisor.appliance.state import write_atomic

_ID = re.compile(r"^[0-9]{8}-[0-9]{6}(-[0-9]+)?$")


class Recorder:
    """Builds the record of one running session from its marks.

    Its :meth:`to_dict` goes into the state file after every step, so a
    record survives a restart together with the session.
    """

    def __init__(self, data: dict, clock):
        self.data = data
        self._clock = clock

    @classmethod
    def begin(cls, method: Method, clock, choices: Mapping[str, str], participants: int | None) -> "Recorder":
        now = clock.time()
        data = {
            "id": time.strftime("%Y%m%d-%H%M%S", time.localtime(now)),
            "method": method.id,
            "title": method.title,
            "language": method.language,
            "started": now,
            "ended": None,
            "completed": False,
            "choices": dict(choices),
            "participants": participants if participants is not None else method.participants,
            "plan": _plan(method, choices),
            "segments": [],      # one per phase_start: phase, start, end
            "pauses": [],        # start, end, phase
            "restarts": [],      # wall times the service came back mid-session
        }
        return cls(data, clock)

    @classmethod
    def from_dict(cls, data: Any, clock) -> "Recorder":
        """The record saved in the state file. Raises ``ValueError`` when it
        is not one :meth:`begin` could have made: the state file is input.

        >>> Recorder.from_dict({"method": "kort"}, None)
        Traceback (most recent call last):
        ValueError: the saved record has no id
        """
        _check_record(data)
        return cls(data, clock)

    def to_dict(self) -> dict:
        return self.data

    def set_choices(self, method: Method, choices: Mapping[str, str], participants: int | None) -> None:
        """Choices asked at the start are known only after the chair picks."""
        if participants is not None:
            self.data["participants"] = participants
        if choices != self.data["choices"]:
            self.data["choices"] = dict(choices)
            self.data["plan"] = _plan(method, choices)

    def restarted(self) -> None:
        self.data["restarts"].append(self._clock.time())

    def mark(self, mark: Mark) -> None:
        now = self._clock.time() - max(0.0, mark.ago)
        segs = self.data["segments"]
        moved_back = mark.kind == "back" and mark.phase and segs and segs[-1]["phase"] != mark.phase
        # A session picked up after a restart in a phase the record has not
        # opened (a new record, the old one damaged): it opens when the
        # phase began (the mark's ago).
        picked_up = (mark.kind == "resume_after_restart" and mark.phase
                     and not (segs and segs[-1]["phase"] == mark.phase and segs[-1]["end"] is None))
        undone = moved_back and self._undo_step(mark.phase)
        if not undone and ((mark.kind == "phase_start" and mark.phase) or moved_back or picked_up):
            self._end_segment(now)
            segs.append({"phase": mark.phase, "start": now, "end": None})
        elif mark.kind == "pause":
            if not self._open_pause():
                self.data["pauses"].append({"start": now, "end": None, "phase": mark.phase})
        elif mark.kind == "resume":
            pause = self._open_pause()
            if pause:
                pause["end"] = now
        elif mark.kind == "reopen":
            # Back to the start-up question: the phase stops until it is
            # answered (and then starts afresh with a phase_start of its own).
            self._end_segment(now)
        elif mark.kind == "session_end":
            self._close(now)

    def _undo_step(self, phase: str) -> bool:
        """Back into the phase just left: the step is undone, and its
        minutes count for the phase returned to, as the engine counts them
        (and the README promises). True when that is what happened."""
        segs = self.data["segments"]
        if len(segs) < 2 or segs[-1]["end"] is not None:
            return False
        before, undone = segs[-2], segs[-1]
        if before["phase"] != phase or before["end"] != undone["start"]:
            return False
        segs.pop()
        before["end"] = None
        return True

    def _open_pause(self) -> dict | None:
        pauses = self.data["pauses"]
        return pauses[-1] if pauses and pauses[-1]["end"] is None else None

    def _end_segment(self, now: float) -> None:
        """The phase being recorded, if one is, ends ``now``."""
        segs = self.data["segments"]
        if segs and segs[-1]["end"] is None:
            segs[-1]["end"] = now

    def _close(self, now: float) -> None:
        self._end_segment(now)
        pause = self._open_pause()
        if pause:
            pause["end"] = now
        if self.data["ended"] is None:
            self.data["ended"] = now

    def finish(self, completed: bool, at: float | None = None, interrupted: bool = False) -> dict:
        """The finished record, with the time per phase worked out. ``at``
        ends it at another wall time than now: a session that was not
        resumed ends when it was last saved, not when the device came back."""
        self._close(self._clock.time() if at is None else at)
        self.data["completed"] = completed
        if interrupted:
            self.data["interrupted"] = True
        return summarise(self.data)


def _plan(method: Method, choices: Mapping[str, str]) -> list[dict]:
    return [
        {"id": p.id, "title": p.title, "lo": p.duration.lo, "hi": p.duration.hi}
        for p in method.plan(choices)
    ]


def _check_record(data: Any) -> None:
    def number(x: Any, none_ok: bool = False) -> bool:
        if x is None:
            return none_ok
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    if not isinstance(data, dict):
        raise ValueError("the saved record is not a record")
    for key, kind in (("id", str), ("method", str), ("title", str), ("language", str),
                      ("completed", bool), ("choices", dict), ("plan", list), ("segments", list),
                      ("pauses", list), ("restarts", list)):
        if not isinstance(data.get(key), kind):
            raise ValueError(f"the saved record has no {key}")
    if not number(data.get("started")) or not number(data.get("ended"), none_ok=True):
        raise ValueError("the saved record's times are not times")
    if not (data.get("participants") is None or isinstance(data["participants"], int)):
        raise ValueError("the saved record's participants are not a number")
    def row(r: Any, texts: tuple[str, ...], times: tuple[str, ...], ends: bool) -> bool:
        return (isinstance(r, dict) and all(isinstance(r.get(k), str) for k in texts)
                and all(number(r.get(k)) for k in times)
                and (not ends or ("end" in r and number(r["end"], none_ok=True))))

    if not (all(row(r, ("id", "title"), ("hi",), False) for r in data["plan"])
            and all(row(r, ("phase",), ("start",), True) for r in data["segments"])
            and all(row(r, (), ("start",), True) for r in data["pauses"])):
        raise ValueError("the saved record has a damaged phase, segment or pause")
    if not all(number(t) for t in data["restarts"]):
        raise ValueError("the saved record's restarts are not times")


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def summarise(data: dict) -> dict:
    """Add per-phase actual, paused and overrun seconds and the totals.

    A phase visited twice (the chair went back) counts all its visits.
    """
    record = dict(data)
    plan = {p["id"]: p for p in data["plan"]}
    titles = {p["id"]: p["title"] for p in data["plan"]}
    phases: dict[str, dict] = {}
    for seg in data["segments"]:
        end = seg["end"] if seg["end"] is not None else (data["ended"] or seg["start"])
        paused = sum(
            _overlap(seg["start"], end, p["start"], p["end"] if p["end"] is not None else end)
            for p in data["pauses"]
        )
        entry = phases.setdefault(seg["phase"], {
            "id": seg["phase"],
            "title": titles.get(seg["phase"], seg["phase"]),
            "planned": plan[seg["phase"]]["hi"] if seg["phase"] in plan else None,
            "start": seg["start"],
            "actual": 0.0,
            "paused": 0.0,
        })
        entry["actual"] += end - seg["start"] - paused
        entry["paused"] += paused
    for entry in phases.values():
        planned = entry["planned"]
        entry["overrun"] = max(0.0, entry["actual"] - planned) if planned is not None else 0.0
    ended = data["ended"] if data["ended"] is not None else data["started"]
    record["phases"] = list(phases.values())
    record["planned_total"] = sum(p["hi"] for p in data["plan"])
    record["duration"] = max(0.0, ended - data["started"])
    record["paused_total"] = sum(p["paused"] for p in phases.values())
    record["overrun_total"] = sum(p["overrun"] for p in phases.values())
    return record


class RecordBook:
    """Finished session records, one JSON file each, in ``folder``.

    >>> import tempfile
    >>> book = RecordBook(tempfile.mkdtemp())
    >>> book.list()
    []
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def save(self, record: dict) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        rid = record["id"]
        n = 1
        while (self.folder / f"{rid}.json").exists():
            n += 1
            rid = f"{record['id']}-{n}"
        record = {**record, "id": rid}
        path = self.folder / f"{rid}.json"
        write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1).encode())
        return path

    def holds(self, record: Mapping) -> bool:
        """Is this session's finished record in the book already? (Saved
        under its id, or its id with a number when that was taken.)"""
        rid = record.get("id")
        if not isinstance(rid, str) or not _ID.match(rid) or not self.folder.is_dir():
            return False
        for path in self.folder.glob(f"{rid}*.json"):
            if not _ID.match(path.stem) or not (path.stem == rid or path.stem.startswith(rid + "-")):
                continue
            try:
                saved = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(saved, dict) and saved.get("method") == record.get("method") \
                    and saved.get("started") == record.get("started"):
                return True
        return False

    def list(self) -> list[dict]:
        """All readable records, oldest first; unreadable files are skipped."""
        out = []
        if not self.folder.is_dir():
            return out
        for path in sorted(self.folder.glob("*.json")):
            if not _ID.match(path.stem):
                continue
            try:
                record = json.loads(path.read_text("utf-8"))
                _check_record(record)
                if not isinstance(record.get("phases"), list):
                    raise ValueError("not finished")
            except (OSError, ValueError):
                continue   # not a record this device wrote: skipped, never a crash
            out.append(record)
        out.sort(key=lambda r: (r.get("started", 0), r.get("id", "")))
        return out

    def get(self, record_id: str) -> dict:
        """One record by id; ``KeyError`` if there is none by that name."""
        if not _ID.match(record_id):
            raise KeyError(record_id)
        path = self.folder / f"{record_id}.json"
        try:
            return json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            raise KeyError(record_id) from None

    def last(self) -> dict | None:
        records = self.list()
        return records[-1] if records else None


# --- presenting -------------------------------------------------------------

def _clock(t: float | None) -> str:
    return time.strftime("%H:%M", time.localtime(t)) if t is not None else "--:--"


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(t))


def minutes(seconds: float | None) -> str:
    """``"12m"`` or ``"1h05m"``: to the minute, as the group counts."""
    if seconds is None:
        return "-"
    m = int(round(seconds / 60))
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m"


def history_lines(records: Iterable[dict]) -> list[str]:
    rows = [("ID", "DATE", "START", "METHOD", "PLANNED", "ACTUAL", "DONE")]
    for r in records:
        rows.append((
            r["id"], _date(r["started"]), _clock(r["started"]), r["method"],
            minutes(r.get("planned_total")), minutes(r.get("duration")),
            "yes" if r.get("completed") else "no",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def timeline_chart(record: dict, width: int = 48) -> list[str]:
    """One row per phase visit on a shared time axis.

    ``#`` within the planned time, ``!`` past it, ``.`` paused.
    """
    start, end = record["started"], record["ended"] or record["started"]
    span = max(end - start, 1.0)
    per_col = span / width
    plan = {p["id"]: p["hi"] for p in record["plan"]}
    name_w = max([len(s["phase"]) for s in record["segments"]] + [5])
    axis = f"{'':{name_w}}  0{'':{width - 1 - len(minutes(span))}}{minutes(span)}"
    lines = [axis, f"{'':{name_w}}  |{'-' * (width - 2)}|"]
    used: dict[str, float] = {}
    for seg in record["segments"]:
        s0, s1 = seg["start"], seg["end"] if seg["end"] is not None else end
        running = used.get(seg["phase"], 0.0)
        cols = []
        for c in range(width):
            t0 = start + c * per_col
            t1 = t0 + per_col
            if _overlap(t0, t1, s0, s1) <= 0 and not (s0 == s1 and t0 <= s0 < t1):
                cols.append(" ")
                continue
            mid = max(t0, s0)
            paused = any(
                _overlap(t0, t1, p["start"], p["end"] if p["end"] is not None else end) >= per_col / 2
                for p in record["pauses"]
            )
            # time run in this phase up to this column, without pauses
            ran = running + (mid - s0) - sum(
                _overlap(s0, mid, p["start"], p["end"] if p["end"] is not None else end)
                for p in record["pauses"]
            )
            if paused:
                cols.append(".")
            elif seg["phase"] in plan and ran >= plan[seg["phase"]]:
                cols.append("!")
            else:
                cols.append("#")
        run = (s1 - s0) - sum(
            _overlap(s0, s1, p["start"], p["end"] if p["end"] is not None else end)
            for p in record["pauses"]
        )
        used[seg["phase"]] = running + run
        lines.append(f"{seg['phase']:<{name_w}}  {''.join(cols).rstrip()}")
    lines.append("")
    lines.append("# within plan   ! over plan   . paused")
    return lines


def _not_completed(r: dict) -> str:
    if r.get("interrupted"):
        return "no, interrupted (the device was off too long to resume it)"
    return "no, ended early"


def markdown(record: dict) -> str:
    """The report of one session, in Markdown."""
    r = record
    out = [
        f"# {r['title']}",
        "",
        f"- Session: {r['id']}",
        f"- Date: {_date(r['started'])}, {_clock(r['started'])}–{_clock(r['ended'])}",
        f"- Method: {r['method']} ({r['language']})",
        f"- Participants: {r['participants']}",
    ]
    if r["choices"]:
        out.append("- Choices: " + ", ".join(f"{k} = {v}" for k, v in sorted(r["choices"].items())))
    out += [
        f"- Planned: {minutes(r['planned_total'])}; actual: {minutes(r['duration'])}"
        f" (paused {minutes(r['paused_total'])}, over plan {minutes(r['overrun_total'])})",
        f"- Completed: {'yes' if r['completed'] else _not_completed(r)}",
    ]
    if r.get("restarts"):
        out.append(f"- Device restarted during the session: {len(r['restarts'])}×, "
                   + ", ".join(_clock(t) for t in r["restarts"]))
    out += ["", "## Phases", "", "| Phase | Start | Planned | Actual | Paused | Over |",
            "|---|---|---|---|---|---|"]
    visited = {p["id"]: p for p in r["phases"]}
    for p in r["plan"]:
        v = visited.get(p["id"])
        if v is None:
            out.append(f"| {_md_cell(p['title'])} | – | {minutes(p['hi'])} | not reached | | |")
        else:
            out.append(f"| {_md_cell(v['title'])} | {_clock(v['start'])} | {minutes(p['hi'])} | "
                       f"{minutes(v['actual'])} | {minutes(v['paused'])} | {minutes(v['overrun'])} |")
    if r["pauses"]:
        out += ["", f"## Pauses ({len(r['pauses'])})", ""]
        for p in r["pauses"]:
            length = (p["end"] or r["ended"] or p["start"]) - p["start"]
            out.append(f"- {_clock(p['start'])}, {minutes(length)}" + (f", in {p['phase']}" if p["phase"] else ""))
    out += ["", "## Timeline", "", "```", *timeline_chart(r), "```", ""]
    return "\n".join(out)


_SESSION_FIELDS = ["id", "date", "start", "end", "method", "title", "participants", "choices",
                   "planned_min", "actual_min", "paused_min", "overrun_min", "pauses", "completed"]
_PHASE_FIELDS = ["session", "phase", "title", "start", "planned_min", "actual_min",
                 "paused_min", "overrun_min"]


def _m(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


def _md_cell(text: str) -> str:
    """Text in a Markdown table cell: a ``|`` in a title must not split it."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


class _SafeWriter:
    """A csv writer whose text cells never start a spreadsheet formula: an
    admin opens these files in a spreadsheet, and a method's title is
    written by whoever wrote the method file (OWASP: prefix a quote)."""

    def __init__(self, buf):
        self._w = csv.writer(buf, lineterminator="\n")

    def writerow(self, row) -> None:
        self._w.writerow([f"'{c}" if isinstance(c, str) and c[:1] in ("=", "+", "-", "@", "\t", "\r")
                          else c for c in row])


def csv_sessions(records: Iterable[dict]) -> str:
    """One row per session: what a group needs for attendance and duration."""
    buf = io.StringIO()
    w = _SafeWriter(buf)
    w.writerow(_SESSION_FIELDS)
    for r in records:
        w.writerow([
            r["id"], _date(r["started"]), _clock(r["started"]), _clock(r["ended"]),
            r["method"], r["title"], r["participants"],
            ";".join(f"{k}={v}" for k, v in sorted(r["choices"].items())),
            _m(r["planned_total"]), _m(r["duration"]), _m(r["paused_total"]),
            _m(r["overrun_total"]), len(r["pauses"]), "yes" if r["completed"] else "no",
        ])
    return buf.getvalue()


def csv_phases(record: dict) -> str:
    """One row per phase of one session."""
    buf = io.StringIO()
    w = _SafeWriter(buf)
    w.writerow(_PHASE_FIELDS)
    for p in record["phases"]:
        w.writerow([record["id"], p["id"], p["title"], _clock(p["start"]), _m(p["planned"]),
                    _m(p["actual"]), _m(p["paused"]), _m(p["overrun"])])
    return buf.getvalue()
