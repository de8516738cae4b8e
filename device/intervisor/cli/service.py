"""Commands of the appliance: serve, status, history, report, and the
administration of the methods folder (list, add, remove, select).

    $ intervisor methods add casus.yaml        # validate, install, reload
    casus.yaml: ok (casus, Intervisie op eigen casus)
    installed casus -> /var/lib/intervisor/methods/casus.yaml
    the service reloaded: casus is in use
    $ intervisor status
    $ intervisor report --last

Every command takes ``--config FILE`` (default ``$INTERVISOR_CONFIG`` or
/etc/intervisor/config.yaml) to find the state and methods folders.
Exit status: 0 done, 1 refused or failed, 3 (status) the service is not
running.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

NOT_RUNNING = 3


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE",
                   default=os.environ.get("INTERVISOR_CONFIG"),
                   help="the config file (default: $INTERVISOR_CONFIG or /etc/intervisor/config.yaml)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the device (the systemd service runs this)",
                       description="Run the device's main process: panel, sound, voice, methods; "
                                   "systemd notify and watchdog; SIGHUP reloads, SIGTERM stops.")
    _config_arg(p)
    p.set_defaults(func=serve_command)

    p = sub.add_parser("status", help="what the running device is doing",
                       description="The running method, phase, question, time left, voice and faults, "
                                   "read from the service's state file. Exit 3 when it is not running.")
    _config_arg(p)
    p.add_argument("--json", action="store_true", help="print the state as JSON")
    p.set_defaults(func=status_command)

    p = sub.add_parser("history", help="list the recorded sessions",
                       description="One line per recorded session: id, date, method, planned and actual time.")
    _config_arg(p)
    p.add_argument("--csv", action="store_true",
                   help="CSV, one row per session, the header even when there is none (as report --csv)")
    p.set_defaults(func=history_command)

    p = sub.add_parser("report", help="one session's report (Markdown), or CSV",
                       description="Print a session's record as Markdown with a timeline chart. "
                                   "--csv alone: every session, one row each (attendance and duration); "
                                   "with --last or ID: that session's phases.")
    _config_arg(p)
    p.add_argument("id", nargs="?", metavar="ID", help="a session id from `intervisor history`")
    p.add_argument("--last", action="store_true", help="the last session (the default)")
    p.add_argument("--csv", action="store_true", help="CSV instead of Markdown")
    p.add_argument("--html", action="store_true",
                   help="one self-contained HTML page with a chart, to look at or print (A4)")
    p.set_defaults(func=report_command)

    _extend_methods(sub)


def _extend_methods(sub: argparse._SubParsersAction) -> None:
    """Add list/add/remove/select to the method library's `methods`
    command (which lists a folder when given no action)."""
    methods = sub.choices.get("methods")
    if methods is None:
        methods = sub.add_parser("methods", help="the methods folder")
        methods.add_argument("--dir", metavar="DIR", help="methods folder")
        methods.set_defaults(func=methods_list_command, json=False)
    actions = methods.add_subparsers(dest="action", metavar="ACTION")

    p = actions.add_parser("list", help="the installed methods and which is selected")
    _config_arg(p)
    # Also after `list`, where a user types them; SUPPRESS keeps what was
    # given before it (`methods --dir X list`).
    p.add_argument("--dir", metavar="DIR", default=argparse.SUPPRESS,
                   help="methods folder (default: methods_dir of the config; off the device, "
                        "the repository's methods/)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the list as JSON")
    p.set_defaults(func=methods_list_command)

    p = actions.add_parser("add", help="validate method files, install them and reload the service",
                           description="Validate every FILE (problems as FILE:LINE: message); only when "
                                       "all are valid, install them atomically into the methods folder "
                                       "and reload the running service. Nothing is installed on failure.")
    _config_arg(p)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="how long to wait for the service's verdict (default 10)")
    p.set_defaults(func=methods_add_command)

    p = actions.add_parser("remove", help="remove a method from the methods folder")
    _config_arg(p)
    p.add_argument("method_id", metavar="ID")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS")
    p.set_defaults(func=methods_remove_command)

    p = actions.add_parser("select", help="the method a press at idle starts",
                           description="Select the method a press at idle starts, with choices "
                                       "preset (--choice NAME=OPTION, repeatable).")
    _config_arg(p)
    p.add_argument("method_id", metavar="ID")
    p.add_argument("--choice", action="append", default=[], metavar="NAME=OPTION")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS")
    p.set_defaults(func=methods_select_command)


def _fail(message: str) -> int:
    print(f"intervisor: {message}", file=sys.stderr)
    return 1


class _Place:
    """The folders the config names, for commands run by the admin."""

    def __init__(self, config_path: str | None):
        from intervisor.appliance.service import load_settings, setting

        self.config_path = config_path
        self.config, self.problems = load_settings(config_path)
        self.state_dir = Path(setting(self.config, "state_dir", "/var/lib/intervisor"))
        self.methods_dir = Path(setting(self.config, "methods_dir", self.state_dir / "methods"))

    def state(self) -> dict | None:
        from intervisor.appliance.state import StateStore

        try:
            doc = StateStore(self.state_dir).read()
        except (ValueError, OSError):
            return None
        if doc is None:
            return None   # not written yet, or set aside
        # Only the service writes it; anything else there is not believed.
        if not isinstance(doc, dict) or any(
                not isinstance(doc.get(key), (dict, type(None))) for key in ("session", "service", "status")):
            print(f"intervisor: {self.state_dir}: the state file is not one the service wrote; ignored",
                  file=sys.stderr)
            return None
        return doc

    def library(self) -> dict:
        """What the service loaded and refused (its library report)."""
        from intervisor.appliance.storage import LibraryReport

        return LibraryReport.read(self.state_dir) or {"methods": [], "refused": {}}


# --- serve, status ------------------------------------------------------------------------------

def serve_command(args: argparse.Namespace) -> int:
    from intervisor.appliance.service import serve

    return serve(args.config)


def _clock_text(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    return f"{sign}{s // 60}m{s % 60:02d}s"


def status_command(args: argparse.Namespace) -> int:
    import json

    from intervisor.appliance.service import running_pid

    place = _Place(args.config)
    for p in place.problems:
        print(p, file=sys.stderr)
    pid = running_pid(place.state_dir)
    doc = place.state()
    if args.json:
        print(json.dumps({"running": pid is not None, "pid": pid, "state": doc}, ensure_ascii=False, indent=1))
        return 0 if pid else NOT_RUNNING
    if pid is None:
        print("Intervisor is not running.")
        if doc and doc.get("session"):
            print(f"A session of {doc['session'].get('method')} is saved and resumes when it starts.")
        return NOT_RUNNING
    if doc is None or doc.get("service", {}).get("pid") != pid:
        # Not written yet, or it cannot be written: the disk is full, say.
        print(f"Intervisor is running (pid {pid}) but has not written its state "
              "(yet, or it cannot: a storage fault; see journalctl -u intervisor).")
        if doc is not None:
            print("Faults: storage (the state file there is not this run's)")
        return 0
    service, st = doc.get("service", {}), doc.get("status", {})
    print(f"Intervisor is running (pid {pid}).")
    if st.get("stage") == "idle":
        print(f"Idle; a press starts: {st.get('selected') or 'nothing (no methods)'}")
    else:
        print(f"Method: {st.get('method')} ({st.get('title')}), {st.get('stage')}")
        if st.get("phase"):
            line = f"Phase {st.get('phase_number')}/{st.get('phases')}: {st.get('phase_title')}"
            # Positions only, as the engine reports them (its plan, its
            # choices): status never prints a prompt. (The state file holds
            # the method's own texts, for a restart: the prompt said last
            # and a copy of the method file; never anything said in the room.)
            if st.get("question"):
                line += f", question {st['question']}/{st.get('questions')}"
            if st.get("turn"):
                line += f", turn {st['turn']}/{st.get('turns')}"
            print(line)
            remaining = float(st.get("remaining", 0))
            if not st.get("paused"):
                remaining -= max(0.0, time.time() - float(doc.get("saved", time.time())))
            left = f"{_clock_text(remaining)} left" if remaining >= 0 else f"{_clock_text(-remaining)} over"
            print(f"Time: {left} in this phase" + (" (paused)" if st.get("paused") else ""))
    print(f"Voice commands: {'on' if service.get('voice') else 'off'}")
    faults = service.get("faults") or []
    print(f"Faults: {', '.join(faults) if faults else 'none'}")
    if service.get("storage"):
        print(f"Storage: {service['storage']}")
    for path, problems in place.library()["refused"].items():
        print(f"Refused: {path}")
        for p in problems:
            print(f"  {p}")
    return 0


# --- records ------------------------------------------------------------------------------------

def history_command(args: argparse.Namespace) -> int:
    from intervisor.appliance.records import RecordBook, csv_sessions, history_lines

    records = RecordBook(_Place(args.config).state_dir / "records").list()
    if args.csv:
        sys.stdout.write(csv_sessions(records))
        return 0
    if not records:
        print("no sessions recorded yet")
        return 0
    print("\n".join(history_lines(records)))
    return 0


def report_command(args: argparse.Namespace) -> int:
    from intervisor.appliance.records import RecordBook, csv_phases, csv_sessions, markdown, summarise

    book = RecordBook(_Place(args.config).state_dir / "records")
    if args.csv and args.html:
        return _fail("--csv or --html, not both")
    if args.csv and not args.id and not args.last:
        sys.stdout.write(csv_sessions(book.list()))
        return 0
    if args.id:
        try:
            record = book.get(args.id)
        except KeyError:
            return _fail(f"there is no session {args.id!r} (see `intervisor history`)")
    else:
        record = book.last()
        if record is None:
            return _fail("no sessions recorded yet")
    record = summarise(record) if "phases" not in record else record
    if args.html:
        from intervisor.cli.html_report import html_page

        sys.stdout.write(html_page(record))
        return 0
    sys.stdout.write(csv_phases(record) if args.csv else markdown(record))
    return 0


# --- methods ------------------------------------------------------------------------------------

def _tell_service(place: _Place, wait: float) -> dict | None:
    """SIGHUP the running service and wait for its verdict: the state file
    that reports the fingerprint of the folder as we left it (so the
    verdict is about our files, even when the path unit's reload came
    first, with half of them). The path unit may reload as well: a reload
    that finds nothing new does nothing, so the two make one.
    ``None`` when it cannot be told or did not answer."""
    from intervisor.appliance.service import folder_fingerprint, running_pid

    pid = running_pid(place.state_dir)
    if pid is None:
        print("the service is not running; it reads the change when it starts")
        return None
    before = (place.state() or {}).get("service", {}).get("reloads", 0)
    expected = folder_fingerprint(place.config_path, place.methods_dir)
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        print("not allowed to signal the service; intervisor-methods.path reloads it")
        return None
    except ProcessLookupError:
        print("the service has just stopped; it reads the change when it starts")
        return None
    deadline = time.monotonic() + wait
    reloaded = None
    while time.monotonic() < deadline:
        doc = place.state()
        service = (doc or {}).get("service", {})
        if service.get("reloads", 0) > before:
            # The library report is written before the state that counts the reload.
            doc = {**doc, "library": place.library()}
            if service.get("fingerprint") == expected:
                return doc
            reloaded = doc  # someone changed the folder again meanwhile
        time.sleep(0.05)
    if reloaded is not None:
        return reloaded
    print(f"the service did not confirm the reload within {wait:g} s; see journalctl -u intervisor")
    return None


def _verdict(doc: dict | None, expect: list[str], gone: list[str] = ()) -> int:
    if doc is None:
        return 0
    library = doc.get("library", {})
    loaded = set(library.get("methods", []))
    status = 0
    for mid in expect:
        if mid in loaded:
            print(f"the service reloaded: {mid} is in use")
        else:
            print(f"the service did not load {mid}", file=sys.stderr)
            status = 1
    for mid in gone:
        if mid not in loaded:
            print(f"the service reloaded: {mid} is gone")
    for path, problems in (library.get("refused") or {}).items():
        for p in problems:
            print(p, file=sys.stderr)
    return status


def methods_list_command(args: argparse.Namespace) -> int:
    from intervisor.appliance.service import read_selection, setting

    place = _Place(getattr(args, "config", None))
    if not getattr(args, "dir", None):
        args.dir = str(_folder_to_list(place))
    try:
        from intervisor.cli.method import methods_command
    except ImportError:
        methods_command = None
    if methods_command is not None and hasattr(args, "json"):
        status = methods_command(args)
    else:
        from intervisor.files.method import Library

        status = 0
        for m in Library(args.dir):
            print(f"{m.id}  {m.title}  {m.language}")
    if getattr(args, "json", False):
        return status
    chosen = read_selection(args.dir)
    if chosen:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(chosen.get("choices", {}).items()))
        print(f"selected: {chosen['method']}" + (f" ({extra})" if extra else ""))
    elif setting(place.config, "selected", None):
        print(f"selected: {setting(place.config, 'selected')} (from the config)")
    return status


def _folder_to_list(place: _Place) -> Path:
    """The config's methods folder; off the device (no config named and
    that folder missing, as in a fresh checkout) the repository's methods/."""
    if place.config_path or place.methods_dir.is_dir():
        return place.methods_dir
    from intervisor.files.method import default_methods_dir

    here = default_methods_dir()
    if here != place.methods_dir and here.is_dir():
        print(f"intervisor methods: {place.methods_dir} is not here (not on the device?); "
              f"the methods in {here}", file=sys.stderr)
    return here


def methods_add_command(args: argparse.Namespace) -> int:
    from intervisor.files.method import Library, read_method
    from intervisor.appliance.state import fsync_dir

    place = _Place(args.config)
    folder = place.methods_dir
    if not folder.is_dir():
        return _fail(f"{folder}: the methods folder does not exist")
    loaded = []
    failed = False
    for name in args.files:
        # One bounded read: the bytes checked are the bytes installed, even
        # when the file is rewritten while this runs.
        result, data = read_method(name)
        for problem in result.problems:
            print(problem, file=sys.stderr)
        if result.method is None:
            failed = True
            continue
        print(f"{name}: ok ({result.method.id}, {result.method.title})")
        loaded.append((data, result.method))
    ids = [m.id for _, m in loaded]
    for mid in {i for i in ids if ids.count(i) > 1}:
        print(f"intervisor: more than one file has the id {mid!r}", file=sys.stderr)
        failed = True
    if failed:
        return _fail("nothing was installed")
    library = Library(folder)
    staged = []
    try:
        for data, method in loaded:
            # The id is [a-z0-9-]+ (the loader checks), so the target cannot
            # leave the folder; a method already installed keeps its file name.
            old = library.methods.get(method.id)
            target = Path(old.path) if old is not None and old.path and \
                Path(old.path).parent.resolve() == folder.resolve() else folder / f"{method.id}.yaml"
            tmp = folder / f".{target.name}.{os.getpid()}.tmp"
            with open(tmp, "wb") as dst:
                dst.write(data)
                dst.flush()
                os.fsync(dst.fileno())
            os.chmod(tmp, 0o664)
            staged.append((tmp, target, method.id))
        for tmp, target, mid in staged:
            os.replace(tmp, target)
            print(f"installed {mid} -> {target}")
        fsync_dir(folder)
    except OSError as e:
        for tmp, _, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        hint = " (run it with sudo, or as a member of group intervisor)" if isinstance(e, PermissionError) else ""
        return _fail(f"cannot install into {folder}: {e.strerror or e}{hint}")
    return _verdict(_tell_service(place, args.wait), ids)


def methods_remove_command(args: argparse.Namespace) -> int:
    from intervisor.files.method import ID_PATTERN, Library
    from intervisor.appliance.service import read_selection
    from intervisor.appliance.state import fsync_dir

    place = _Place(args.config)
    mid = args.method_id
    if not ID_PATTERN.match(mid):
        return _fail(f"{mid!r} is not a method id (small letters, digits and hyphens)")
    library = Library(place.methods_dir)
    method = library.methods.get(mid)
    path = method.path if method is not None else None
    if path is None:
        # A file the library refused is still the admin's to remove
        # (its stem is the id it was meant to have).
        path = next((Path(f) for f in library.refused
                     if Path(f).stem == mid and Path(f).parent == Path(place.methods_dir)), None)
    if path is None:
        known = ", ".join(sorted(library.methods)) or "none"
        return _fail(f"there is no method {mid!r} in {place.methods_dir} (known: {known})")
    try:
        os.unlink(path)
        fsync_dir(place.methods_dir)
    except OSError as e:
        return _fail(f"cannot remove {path}: {e.strerror or e}")
    print(f"removed {mid} ({path})" + ("" if method is not None else ", a file that was refused"))
    chosen = read_selection(place.methods_dir)
    if chosen and chosen.get("method") == mid:
        print(f"note: {mid} was selected; a press at idle now starts another method "
              "(intervisor methods select ID)")
    return _verdict(_tell_service(place, args.wait), [], [mid])


def methods_select_command(args: argparse.Namespace) -> int:
    from intervisor.files.method import Library
    from intervisor.appliance.service import write_selection

    place = _Place(args.config)
    library = Library(place.methods_dir)
    method = library.methods.get(args.method_id)
    if method is None:
        known = ", ".join(sorted(library.methods)) or "none"
        return _fail(f"there is no method {args.method_id!r} in {place.methods_dir} (known: {known})")
    choices = {}
    for item in args.choice:
        name, sep, option = item.partition("=")
        if not sep:
            return _fail(f"--choice {item!r}: write it as NAME=OPTION")
        try:
            choice = method.choice(name)
        except KeyError:
            names = ", ".join(c.id for c in method.choices) or "none"
            return _fail(f"{method.id} has no choice {name!r} (its choices: {names})")
        if option not in {o.id for o in choice.options}:
            opts = ", ".join(o.id for o in choice.options)
            return _fail(f"choice {name!r} has no option {option!r} (options: {opts})")
        choices[name] = option
    try:
        write_selection(place.methods_dir, method.id, choices)
    except OSError as e:
        return _fail(f"cannot write the selection into {place.methods_dir}: {e.strerror or e}")
    extra = ", ".join(f"{k}={v}" for k, v in sorted(choices.items()))
    print(f"selected {method.id}" + (f" ({extra})" if extra else ""))
    doc = _tell_service(place, args.wait)
    if doc is not None:
        print(f"the service reloaded: a press at idle starts {doc['service'].get('selected')}")
    return 0
