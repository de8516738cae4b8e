"""``intervisor rehearse``: a whole session on a simulated clock, from the
command line: the timeline, or the soundtrack as a WAV file, of what the
device would do (the rehearsal itself is :mod:`intervisor.core.rehearsal`).
"""

from __future__ import annotations

from typing import Mapping

from intervisor.core.model import Method
from intervisor.core.rehearsal import rehearse


# ----------------------------------------------------------------- command

def parse_choices(items: list[str] | None) -> dict[str, str]:
    """``["vragen=alternatief"]`` -> ``{"vragen": "alternatief"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, option = item.partition("=")
        if not sep or not name or not option:
            raise ValueError(f"--choice takes NAME=OPTION, not {item!r}")
        out[name.strip()] = option.strip()
    return out


def check_choices(method: Method, chosen: Mapping[str, str]) -> list[str]:
    """Plain-language problems with ``--choice`` values for this method."""
    problems = []
    for name, option in chosen.items():
        ids = [c.id for c in method.choices]
        if name not in ids:
            problems.append(f"method {method.id!r} has no choice {name!r}"
                            + (f" (its choices: {', '.join(ids)})" if ids else ""))
            continue
        options = [o.id for o in method.choice(name).options]
        if option not in options:
            problems.append(f"choice {name!r} has no option {option!r} (its options: {', '.join(options)})")
    return problems


def open_method(spec: str, methods_dir: str | None = None):
    """A method by id (in the methods folder) or by path: ``(method, problems)``
    where ``method`` is None when it cannot be used."""
    from intervisor.files.method import Library, MethodError, default_methods_dir

    try:
        return Library(methods_dir or default_methods_dir()).find(spec), []
    except MethodError as exc:
        return None, [str(p) for p in exc.problems] or [f"intervisor: {exc}"]


def add_command(sub) -> None:
    p = sub.add_parser("rehearse", help="run a whole session on a simulated clock",
                       description="Run METHOD from start to end on a simulated clock, with a chair "
                                   "who presses on time, and write what the device would do.")
    p.add_argument("method", metavar="METHOD", help="a method id from the methods folder, or a path to a file")
    p.add_argument("--choice", action="append", metavar="NAME=OPTION", help="preset a choice (repeatable)")
    p.add_argument("--participants", type=int, metavar="N", help="number of participants for rounds")
    p.add_argument("--timeline", metavar="FILE.json", help="write the timeline as JSON")
    p.add_argument("--out", metavar="FILE.wav", help="write the session's soundtrack")
    p.add_argument("--html", metavar="FILE.html", help="write the timeline as an HTML page with a chart")
    p.add_argument("--gap", type=float, default=1.0, metavar="SECONDS",
                   help="longest silence kept between events in the soundtrack (default 1)")
    p.add_argument("--dir", metavar="DIR", help="methods folder to find METHOD in")
    p.set_defaults(func=run_command)


def run_command(args) -> int:
    import json
    import sys

    method, problems = open_method(args.method, args.dir)
    if method is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        chosen = parse_choices(args.choice)
    except ValueError as exc:
        print(f"intervisor rehearse: {exc}", file=sys.stderr)
        return 2
    bad = check_choices(method, chosen)
    if args.participants is not None and not 2 <= args.participants <= 12:
        bad.append("--participants must be between 2 and 12")
    if bad:
        for problem in bad:
            print(f"intervisor rehearse: {problem}", file=sys.stderr)
        return 2
    result = rehearse(method, chosen, args.participants)
    if args.out:
        from intervisor.sound.soundtrack import render_rehearsal

        offsets = render_rehearsal(result, args.out, gap=args.gap, spoken=result.parts)
        for event, at in zip(result.events, offsets):
            event["audio_at"] = at
    if args.timeline:
        with open(args.timeline, "w", encoding="utf-8") as f:
            json.dump(result.timeline(), f, ensure_ascii=False, indent=1)
            f.write("\n")
    if args.html:
        from intervisor.cli.html_report import html_page, rehearsal_record

        with open(args.html, "w", encoding="utf-8") as f:
            f.write(html_page(rehearsal_record(result), heading="Repetitie / rehearsal"))
    if not args.timeline and not args.out and not args.html:
        for e in result.events:
            m, s = divmod(int(e["t"]), 60)
            print(f"{m:4d}:{s:02d}  {e['kind']:<12} {e['phase'] or ''}")
    return 0
