"""A session's report as one HTML page to look at and to print (A4): the
figures of ``intervisor report`` and an SVG chart of where the time went.

The page is self-contained: styles inline, the chart inline SVG, no script,
no font, no image, no link, so it opens anywhere and fetches nothing (it
goes into a PE accreditation file as it is). Nothing but times and ids is
shown, as in the record itself::

    $ intervisor report --last --html > sessie.html
    $ intervisor rehearse vijf-stappen --html proef.html

The chart has one row per phase of the plan, on the session's own time
axis: the planned length as an outline from where the phase began, the
time it ran as a bar (green within the plan, red past it), pauses grey,
and each restart of the device as a dashed line across.

>>> from intervisor.core.clock import FakeClock
>>> from intervisor.core.events import Mark
>>> from intervisor.core.model import Duration, Method, Phase
>>> from intervisor.appliance.records import Recorder
>>> m = Method("m", "M", "nl", (Phase("a", "A", Duration(60, 60)),))
>>> clock = FakeClock()
>>> rec = Recorder.begin(m, clock, choices={}, participants=5)
>>> rec.mark(Mark("phase_start", "a")); clock.advance(90)
>>> page = html_page(rec.finish(completed=True))
>>> page.count('class="phase"'), page.count('class="run over"')
(1, 1)
"""

from __future__ import annotations

import time
from html import escape

from intervisor.appliance.records import _clock, _date, _not_completed, _plan, minutes, summarise

#: Chart geometry, in SVG units (the page scales it to its width).
WIDTH, LABEL, ROW, TOP = 720, 170, 26, 28

_STYLE = """
@page { size: A4 portrait; margin: 15mm; }
body { font-family: sans-serif; color: #111; max-width: 180mm; margin: 1em auto; font-size: 11pt; }
h1 { font-size: 16pt; margin: 0 0 .3em; } h2 { font-size: 12pt; margin: 1.2em 0 .4em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; margin: 0; }
dt { color: #555; } dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 10pt; }
th, td { text-align: left; padding: .2em .5em; border-bottom: 1px solid #ccc; }
td.n, th.n { text-align: right; }
svg { width: 100%; height: auto; }
svg text { font-size: 11px; fill: #111; }
.planned { fill: none; stroke: #333; stroke-width: 1; stroke-dasharray: 3 2; }
.run.in { fill: #4a9a4a; } .run.over { fill: #c8372d; } .run.paused { fill: #bbb; }
.restart { stroke: #c8372d; stroke-width: 1.5; stroke-dasharray: 5 3; }
.grid { stroke: #ddd; } .legend rect { stroke: #333; stroke-width: .5; }
@media print { body { margin: 0; max-width: none; } svg, table { page-break-inside: avoid; } }
"""


def html_page(record: dict, heading: str = "Sessieverslag / session report") -> str:
    """The whole page for one record (summarised here when it is not yet)."""
    r = record if "phases" in record else summarise(record)
    title = escape(r["title"])
    parts = [
        "<!DOCTYPE html>", '<html lang="' + escape(r.get("language", "nl")) + '">', "<head>",
        '<meta charset="utf-8">', f"<title>{title} – {escape(r['id'])}</title>",
        f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{title}</h1>", f"<p>{escape(heading)}</p>",
        _facts(r), "<h2>Tijdlijn / timeline</h2>", chart(r), _table(r), "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def _facts(r: dict) -> str:
    rows = [
        ("Session", r["id"]),
        ("Date", f"{_date(r['started'])}, {_clock(r['started'])}–{_clock(r['ended'])}"),
        ("Method", f"{r['method']} ({r['language']})"),
        ("Participants", str(r["participants"])),
    ]
    if r["choices"]:
        rows.append(("Choices", ", ".join(f"{k} = {v}" for k, v in sorted(r["choices"].items()))))
    rows += [
        ("Planned", minutes(r["planned_total"])),
        ("Actual", f"{minutes(r['duration'])} (paused {minutes(r['paused_total'])}, "
                   f"over plan {minutes(r['overrun_total'])})"),
        ("Completed", "yes" if r["completed"] else _not_completed(r)),
    ]
    if r.get("restarts"):
        rows.append(("Device restarted", f"{len(r['restarts'])}×, " + ", ".join(_clock(t) for t in r["restarts"])))
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def _table(r: dict) -> str:
    head = ("<h2>Fasen / phases</h2><table><tr><th>Phase</th><th>Start</th><th class=n>Planned</th>"
            "<th class=n>Actual</th><th class=n>Paused</th><th class=n>Over</th></tr>")
    visited = {p["id"]: p for p in r["phases"]}
    rows = []
    for p in r["plan"]:
        v = visited.get(p["id"])
        cells = ([escape(p["title"]), "–", minutes(p["hi"]), "not reached", "", ""] if v is None else
                 [escape(v["title"]), _clock(v["start"]), minutes(p["hi"]), minutes(v["actual"]),
                  minutes(v["paused"]), minutes(v["overrun"])])
        rows.append("<tr>" + "".join(f"<td{' class=n' if i >= 2 else ''}>{c}</td>"
                                     for i, c in enumerate(cells)) + "</tr>")
    return head + "".join(rows) + "</table>"


# --- the chart ----------------------------------------------------------------------------------


def pieces(record: dict) -> dict[str, list[tuple[float, float, str]]]:
    """Per phase, the stretches of wall time it ran: ``(start, end, kind)``
    with kind ``in`` (within its planned time), ``over`` (past it) or
    ``paused``. A phase visited twice counts both visits against its plan.

    >>> rec = {"plan": [{"id": "a", "hi": 60}], "ended": 100, "restarts": [],
    ...        "segments": [{"phase": "a", "start": 0, "end": 100}],
    ...        "pauses": [{"start": 20, "end": 30, "phase": "a"}]}
    >>> pieces(rec)["a"]
    [(0, 20, 'in'), (20, 30, 'paused'), (30, 70, 'in'), (70, 100, 'over')]
    """
    end_of = record["ended"] or 0.0
    plan = {p["id"]: p["hi"] for p in record["plan"]}
    out: dict[str, list[tuple[float, float, str]]] = {}
    used: dict[str, float] = {}
    for seg in record["segments"]:
        s0, s1 = seg["start"], seg["end"] if seg["end"] is not None else max(end_of, seg["start"])
        cuts = sorted({s0, s1} | {t for p in record["pauses"]
                                  for t in (p["start"], p["end"] if p["end"] is not None else s1) if s0 < t < s1})
        limit = plan.get(seg["phase"])
        for a, b in zip(cuts, cuts[1:]):
            mid = (a + b) / 2
            if any(p["start"] <= mid < (p["end"] if p["end"] is not None else s1) for p in record["pauses"]):
                out.setdefault(seg["phase"], []).append((a, b, "paused"))
                continue
            ran = used.get(seg["phase"], 0.0)
            left = (limit - ran) if limit is not None else b - a
            if left > 0:
                out.setdefault(seg["phase"], []).append((a, min(b, a + left), "in"))
            if b - a > left:
                out.setdefault(seg["phase"], []).append((a + max(left, 0.0), b, "over"))
            used[seg["phase"]] = ran + (b - a)
    return out


def chart(r: dict) -> str:
    """The SVG: one ``<g class="phase">`` per phase of the plan."""
    start = r["started"]
    stretches = pieces(r)
    first = {p["id"]: min((a for a, _, _ in stretches.get(p["id"], ())), default=None) for p in r["plan"]}
    # A phase not reached is drawn where the plan would have put it.
    expected, cursor = {}, start
    for p in r["plan"]:
        cursor = first[p["id"]] if first[p["id"]] is not None else cursor
        expected[p["id"]] = cursor
        cursor += p["hi"]
    span = max([(r["ended"] or start) - start, 60.0]
               + [expected[p["id"]] + p["hi"] - start for p in r["plan"]])
    scale = (WIDTH - LABEL - 24) / span
    height = TOP + ROW * len(r["plan"]) + 50

    def x(t: float) -> float:
        return round(LABEL + (t - start) * scale, 1)

    out = [f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline of the session">']
    out += _axis(start, span, x, TOP + ROW * len(r["plan"]))
    for i, p in enumerate(r["plan"]):
        y = TOP + i * ROW
        out.append(f'<g class="phase" data-phase="{escape(p["id"])}">')
        out.append(f'<text x="{LABEL - 6}" y="{y + 16}" text-anchor="end">{escape(_cut(p["title"]))}</text>')
        for a, b, kind in stretches.get(p["id"], ()):
            out.append(f'<rect class="run {kind}" x="{x(a)}" y="{y + 5}" width="{max((b - a) * scale, 0.5):.1f}" '
                       f'height="{ROW - 10}"/>')
        out.append(f'<rect class="planned" x="{x(expected[p["id"]])}" y="{y + 3}" '
                   f'width="{_planned_span(p["hi"], stretches.get(p["id"], ())) * scale:.1f}" height="{ROW - 6}"/>')
        if first[p["id"]] is None:
            out.append(f'<text x="{x(expected[p["id"]]) + 4}" y="{y + 16}" fill="#555">not reached</text>')
        out.append("</g>")
    bottom = TOP + ROW * len(r["plan"])
    for t in r.get("restarts", ()):
        out.append(f'<line class="restart" x1="{x(t)}" y1="{TOP - 4}" x2="{x(t)}" y2="{bottom}"/>'
                   f'<text x="{x(t) + 3}" y="{TOP - 8}" fill="#c8372d">restart {_clock(t)}</text>')
    out += _legend(bottom + 36)
    out.append("</svg>")
    return "\n".join(out)


def _planned_span(planned: float, stretches) -> float:
    """How much of the axis the plan covers from the phase's start: a pause
    within it moves its end on, as it moved the phase's time-up."""
    paused = 0.0
    for a, b, kind in stretches:
        if kind == "over":
            break
        if kind == "paused":
            paused += b - a
    return planned + paused


def _axis(start: float, span: float, x, bottom: float) -> list[str]:
    step = next(s for s in (60, 300, 600, 900, 1800, 3600, 7200) if span / s <= 12)
    out = []
    for k in range(int(span // step) + 1):
        t = start + k * step
        out.append(f'<line class="grid" x1="{x(t)}" y1="{TOP - 2}" x2="{x(t)}" y2="{bottom}"/>'
                   f'<text x="{x(t)}" y="{bottom + 12}" text-anchor="middle">{minutes(k * step)}</text>')
    out.append(f'<text x="{LABEL - 16}" y="{bottom + 12}" text-anchor="end">'
               f'from {time.strftime("%H:%M", time.localtime(start))}</text>')
    return out


def _legend(y: float) -> list[str]:
    items = (("run in", "within plan"), ("run over", "over plan"), ("run paused", "paused"),
             ("planned", "planned"))
    out = ['<g class="legend">']
    for i, (cls, label) in enumerate(items):
        lx = LABEL + i * 130
        out.append(f'<rect class="{cls}" x="{lx}" y="{y - 9}" width="18" height="10"/>'
                   f'<text x="{lx + 24}" y="{y}">{label}</text>')
    out.append("</g>")
    return out


def _cut(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def rehearsal_record(result) -> dict:
    """A :class:`~intervisor.core.rehearsal.Rehearsal` as a record, so that it is
    drawn like a session: the punctual chair's phases on the same axis."""
    from intervisor.core.rehearsal import _start_wall

    method, chosen = result.method, result.choices
    wall = _start_wall(method.plan(chosen))
    starts = [(e["t"], e["phase"]) for e in result.events if e["kind"] == "phase_start"]
    end = max((e["t"] for e in result.events if e["kind"] == "session_end"), default=starts[-1][0] if starts else 0)
    segments = [{"phase": ph, "start": wall + t, "end": wall + (nxt[0] if nxt else end)}
                for (t, ph), nxt in zip(starts, starts[1:] + [None])]
    record = {
        "id": "rehearsal", "method": method.id, "title": method.title, "language": method.language,
        "started": wall, "ended": wall + end, "completed": True, "choices": dict(chosen),
        "participants": result.participants, "segments": segments, "pauses": [], "restarts": [],
        "plan": _plan(method, chosen),
    }
    return summarise(record)
