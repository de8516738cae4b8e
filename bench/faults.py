"""Fault injection against the real `intervisor serve`: is anything lost,
is every fault visible? (issue 20)

Each fault runs on a fresh serve in temporary folders (sound off, mock
panel, commands on stdin), and prints one line: ``held`` or ``lost``, with
what was seen. A full disk is a small tmpfs, read-only records a read-only
bind mount (both need root; without it those faults are skipped, said so),
an unreadable state file a mode-000 file read by a serve without
CAP_DAC_OVERRIDE (setpriv).

With ``--before REV`` every fault runs a second time on the device code of
that git revision (the naive way, beside it in the same run).

    .venv/bin/python bench/faults.py --before main --kills 40     # last line: JSON
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_faults import fill  # noqa: E402
from test_service import KORT, LANG, PROGRAM, Serve  # noqa: E402  (the tests' driver of the process)

from intervisor.appliance.state import StateStore  # noqa: E402


class Code:
    """Which device code runs: this checkout, or a revision unpacked aside
    (run through the same console script, with PYTHONPATH before it)."""

    def __init__(self, name: str, path: Path | None):
        self.name, self.path = name, path
        self.prefix = [] if path is None else ["env", f"PYTHONPATH={path}", sys.executable]

    def serve(self, tmp: Path, extra: str = "", methods=(("kort.yaml", KORT),), **kw) -> Serve:
        s = Serve(tmp, extra, **kw)
        s.prefix = list(self.prefix)
        for name, text in methods:
            (s.methods / name).write_text(text)
        return s

    def cli(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run([*self.prefix, str(PROGRAM), *args], capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def unpack(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "device"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "device"


def mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def umount(point: Path) -> None:
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def started(s: Serve, timeout: float = 20.0) -> bool:
    """Did it come up (READY) within ``timeout``?"""
    try:
        s.start(wait_ready=False)
        s.expect("READY=1", timeout=timeout)
        return True
    except AssertionError:
        return False


def state_of(s: Serve) -> dict:
    try:
        return s.state()
    except (ValueError, OSError):
        return {}


def wait(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def mine(s: Serve):
    return lambda: state_of(s).get("service", {}).get("pid") == (s.proc.pid if s.proc else None)


def phase_is(s: Serve, phase: str):
    return lambda: state_of(s).get("status", {}).get("phase") == phase


# --- the faults: each returns (held, what was seen) ----------------------------------------

def refused_files(code: Code, tmp: Path) -> tuple[bool, str]:
    bad = "id: kapot\ntitle: Kapot\nlanguage: nl\nphases:\n" + "".join(
        f"  - {{id: p{i}, title: P, duration: nooit}}\n" for i in range(60))
    s = code.serve(tmp, methods=[("kort.yaml", KORT)] + [(f"kapot-{i}.yaml", bad) for i in range(200)])
    try:
        s.start(); s.send("next")
        wait(lambda: state_of(s).get("status", {}).get("stage") == "running")
        size = (s.state_dir / "state.json").stat().st_size
        s.stop(signal.SIGKILL)
        ok = started(s) and wait(mine(s))
        resumed = ok and state_of(s).get("status", {}).get("stage") == "running"
        return size < 64 * 1024 and resumed, f"state {size / 1024:.0f} kB, resumed after kill -9: {resumed}"
    finally:
        s.close()


def readonly_records(code: Code, tmp: Path) -> tuple[bool, str]:
    s = code.serve(tmp)
    records = s.state_dir / "records"
    try:
        s.start()
        records.mkdir(exist_ok=True)
        if not (mount("--bind", str(records), str(records))
                and mount("-o", "remount,bind,ro", str(records))):
            return True, "skipped: cannot mount here"
        s.send("next"); wait(lambda: state_of(s).get("status", {}).get("stage") == "running")
        s.send("end", "end"); wait(lambda: state_of(s).get("status", {}).get("stage") == "idle")
        time.sleep(0.5)
        r = code.cli("status", "--config", str(s.config))
        shown = r is not None and "storage" in r.stdout
        s.stop(signal.SIGKILL)              # a kill while it waits for the disk
        umount(records)
        started(s); s.send("step"); wait(mine(s)); time.sleep(1.0)
        h = code.cli("history", "--config", str(s.config))
        kept = h is not None and "kort" in h.stdout
        return shown and kept, f"fault shown: {shown}; record in the history after the remount and a kill: {kept}"
    finally:
        umount(records)
        s.close()


def full_disk(code: Code, tmp: Path) -> tuple[bool, str]:
    s = code.serve(tmp)
    s.state_dir.mkdir(parents=True)
    if not mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(s.state_dir)):
        return True, "skipped: cannot mount here"
    try:
        s.start(); s.stop()
        fill(s.state_dir)
        up = started(s)
        r = code.cli("status", "--config", str(s.config)) if up else None
        shown = r is not None and "storage" in r.stdout
        if up:
            s.send("next")
        runs = up and wait(lambda: "phase_start phase=een" in s.read_log(), 10)
        return up and runs and shown, f"started: {up}, a session runs: {runs}, fault in status: {shown}"
    finally:
        s.close()
        umount(s.state_dir)


def unreadable_state(code: Code, tmp: Path) -> tuple[bool, str]:
    s = code.serve(tmp)
    try:
        s.start(); s.send("next")
        wait(lambda: state_of(s).get("status", {}).get("stage") == "running")
        s.stop()
        saved = (s.state_dir / "state.json").read_bytes()
        os.chmod(s.state_dir / "state.json", 0)
        s.prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *code.prefix]
        started(s); wait(mine(s))
        kept = any(p.read_bytes() == saved for p in s.state_dir.glob("state.json*"))
        shown = "storage" in state_of(s).get("status", {}).get("faults", [])
        return kept and shown, f"saved session kept: {kept}, fault shown: {shown}"
    finally:
        s.close()


def kill_after_announce(code: Code, tmp: Path, kills: int, seed: int = 20) -> tuple[bool, str]:
    """Kill 0-30 ms after the press that starts a session; a session whose
    start was announced (its first phase dispatched) must resume."""
    rng = random.Random(seed)
    s = code.serve(tmp)
    announced = lost = 0
    try:
        for _ in range(kills):
            s.start()
            s.send("next")
            time.sleep(rng.uniform(0, 0.030))
            s.proc.kill(); s.proc.wait()
            s.close()
            heard = s.read_log().rsplit("ready:", 1)[-1].count("event phase_start phase=een") > 0
            s.start()
            wait(mine(s))
            back = state_of(s).get("status", {}).get("stage") == "running"
            announced += heard
            lost += heard and not back
            s.send("end", "end")
            wait(lambda: state_of(s).get("status", {}).get("stage") == "idle", 5)
            s.stop()
        return lost == 0, f"{kills} kills, {announced} after the start was announced, {lost} of those came back idle"
    finally:
        s.close()


def config_deleted(code: Code, tmp: Path) -> tuple[bool, str]:
    s = code.serve(tmp, "selected: lang\nparticipants: 7\n", methods=[("kort.yaml", KORT), ("lang.yaml", LANG)])
    try:
        s.start()
        before = state_of(s)["service"]["reloads"]
        s.config.unlink()
        s.proc.send_signal(signal.SIGHUP)
        wait(lambda: state_of(s).get("service", {}).get("reloads", 0) > before)
        s.send("next")
        wait(lambda: state_of(s).get("status", {}).get("stage") == "running")
        st = state_of(s)["status"]
        kept = st.get("method") == "lang" and st.get("participants") == 7
        said = "keeping the config in use" in s.read_log()
        return kept and said, f"config in use kept: {kept}, a line says why: {said}"
    finally:
        s.close()


def slow_reload(code: Code, tmp: Path, files: int) -> tuple[bool, str]:
    many = [(f"m{i:05d}.yaml", KORT.replace("id: kort", f"id: m{i:05d}")) for i in range(files)]
    s = code.serve(tmp, "selected: kort\n", methods=[("kort.yaml", KORT), *many], watchdog_usec=1_000_000)
    try:
        t0 = time.monotonic()
        s.start(wait_ready=False); s.expect("READY=1", timeout=120)
        ready = time.monotonic() - t0
        (s.methods / "lang.yaml").write_text(LANG)
        s.proc.send_signal(signal.SIGHUP)
        s.expect("RELOADING=1", timeout=30)
        sent = time.monotonic()
        s.send("next")
        wait(lambda: state_of(s).get("status", {}).get("stage") == "running", 60)
        answered = time.monotonic() - sent
        gaps, last = [], sent
        for msg in s.messages(timeout=120):
            now = time.monotonic()
            if msg.get("WATCHDOG") == "1":
                gaps.append(now - last); last = now
            if msg.get("READY") == "1":
                gaps.append(now - last)
                break
        reload_s = time.monotonic() - sent
        held = answered < 0.5 and max(gaps) < 1.0
        return held, (f"{files} files: READY after {ready:.1f} s, reload {reload_s:.1f} s, press answered "
                      f"in {answered * 1000:.0f} ms, longest watchdog gap {max(gaps):.2f} s (WatchdogSec 1 s)")
    finally:
        s.close()


def fifo_state(code: Code, tmp: Path) -> tuple[bool, str]:
    s = code.serve(tmp)
    s.state_dir.mkdir(parents=True)
    os.mkfifo(s.state_dir / "state.json")
    try:
        r = code.cli("status", "--config", str(s.config), timeout=10)
        up = started(s, timeout=15)
        return r is not None and up, f"status answered: {r is not None}, serve ready: {up}"
    finally:
        s.close()


def bad_input(code: Code, tmp: Path, source: str) -> tuple[bool, str]:
    s = code.serve(tmp)
    if source == "regular":
        path = tmp / "commands.txt"
        path.write_text("bogus\n" * 10)
        source = str(path)
    s.config.write_text(s.config.read_text().replace("input: stdin", f"input: {source}"))
    try:
        if not started(s):
            return False, "did not start"
        time.sleep(3.0)
        fields = Path(f"/proc/{s.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{s.proc.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:")) / 1024
        lines = sum(": input:" in line for line in s.read_log().splitlines())
        held = rss < 300 and lines <= 2 and cpu < 3.0
        return held, f"after 3 s: {cpu:.1f} s CPU in all, {rss:.0f} MB resident, {lines} input log lines"
    finally:
        s.close()


def flood(code: Code, tmp: Path) -> tuple[bool, str]:
    s = code.serve(tmp, methods=[("kort.yaml", KORT), ("lang.yaml", LANG)], watchdog_usec=2_000_000)
    try:
        s.start()
        sent = time.monotonic()
        s.send(*["step"] * 3000)
        gaps, last = [], sent
        for msg in s.messages(timeout=60):
            if msg.get("WATCHDOG") == "1":
                now = time.monotonic()
                gaps.append(now - last); last = now
            if time.monotonic() - sent > 12:
                break
        dropped = "queue: " in s.read_log()
        return max(gaps) < 2.0, f"3000 presses queued: longest watchdog gap {max(gaps):.1f} s " \
                                f"(WatchdogSec 2 s), drop line: {dropped}"
    finally:
        s.close()


def run_all(code: Code, args) -> dict:
    faults = [
        ("refused files fill the state", refused_files),
        ("read-only records folder", readonly_records),
        ("full disk at start", full_disk),
        ("unreadable state file", unreadable_state),
        ("kill between announcing and saving", lambda c, t: kill_after_announce(c, t, args.kills)),
        ("config deleted at SIGHUP", config_deleted),
        ("reload of a big library", lambda c, t: slow_reload(c, t, args.files)),
        ("FIFO at state.json", fifo_state),
        ("input: a regular file", lambda c, t: bad_input(c, t, "regular")),
        ("input: /dev/zero", lambda c, t: bad_input(c, t, "/dev/zero")),
        ("command flood", flood),
    ]
    out = {}
    for name, fault in faults:
        if args.only and args.only not in name:
            continue
        with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
            try:
                held, seen = fault(code, Path(tmp))
            except Exception as e:   # a fault the bench did not foresee is a loss too
                held, seen = False, f"{type(e).__name__}: {str(e)[:200]}"
        print(f"[{code.name}] {name}: {'held' if held else 'LOST'}  ({seen})", flush=True)
        out[name] = {"held": held, "seen": seen}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", metavar="REV", help="also run the device code of this git revision")
    p.add_argument("--kills", type=int, default=40)
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--only", metavar="TEXT", help="only the faults whose name contains TEXT")
    args = p.parse_args()
    result = {"after": run_all(Code("after", None), args)}
    if args.before:
        with tempfile.TemporaryDirectory(prefix="faults-code-") as tmp:
            result["before"] = run_all(Code(f"before {args.before}", unpack(args.before, Path(tmp))), args)
    summary = {k: {"held": sum(v["held"] for v in r.values()), "of": len(r)} for k, r in result.items()}
    print(json.dumps({"summary": summary, **result}, ensure_ascii=False))
    return 0 if all(v["held"] for v in result["after"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
