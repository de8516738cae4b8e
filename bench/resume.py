"""How well a session survives kill -9: the session clock after a restart.

Runs the real `intervisor serve` (sound off, mock panel, commands on stdin),
starts a session, moves into its second phase, kills the process with
SIGKILL, waits a moment (the room goes on talking) and starts it again. The
engine's elapsed time after the restart is compared with the time that
really passed since the last saved step. Repeated a few times; the worst
error counts. Target: off by at most 1 s. Within one boot the service
measures the time away on the monotonic clock, so one more run moves the
saved wall time an hour back (a wall clock that jumped meanwhile, as NTP
does after a boot without a clock chip): the error must stay as small.

    .venv/bin/python bench/resume.py          # last line: JSON
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_service import KORT, Serve, edit_state  # noqa: E402  (the tests' own driver of the process)

RUNS = 5
DOWN = 1.5  # seconds the device is off between kill and restart


def one_run(folder: Path, wall_jump: float = 0.0) -> dict:
    s = Serve(folder)
    (s.methods / "kort.yaml").write_text(KORT)
    try:
        s.start()
        s.send("next", "next")
        before = s.wait_state(lambda st: st["status"].get("phase") == "twee")
        killed_at = time.time()
        s.stop(signal.SIGKILL)
        if wall_jump:
            edit_state(s, lambda st: st["session"].update(saved_wall=st["session"]["saved_wall"] - wall_jump))
        time.sleep(DOWN)
        restart = time.monotonic()
        s.start()
        ready = time.monotonic() - restart
        after = s.wait_state(lambda st: st["service"]["pid"] == s.proc.pid and st["status"].get("phase"))
        s.stop()
    finally:
        s.close()
    expected = before["status"]["elapsed"] + (after["saved"] - before["saved"])
    return {
        "phase_kept": after["status"]["phase"] == "twee",
        "error_s": after["status"]["elapsed"] - expected,
        "down_s": after["saved"] - killed_at,
        "restart_to_ready_s": ready,
    }


def main() -> None:
    runs = []
    for i in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="intervisor-resume-") as tmp:
            r = one_run(Path(tmp))
        runs.append(r)
        print(f"run {i + 1}: phase kept {r['phase_kept']}, clock off by {r['error_s'] * 1000:+.1f} ms "
              f"after {r['down_s']:.2f} s down; restart to READY {r['restart_to_ready_s']:.2f} s")
    worst = max(abs(r["error_s"]) for r in runs)
    with tempfile.TemporaryDirectory(prefix="intervisor-resume-") as tmp:
        jumped = one_run(Path(tmp), wall_jump=3600)
    print(f"wall clock an hour ahead: clock off by {jumped['error_s'] * 1000:+.1f} ms")
    print(json.dumps({
        "bench": "resume",
        "runs": RUNS,
        "phase_kept": all(r["phase_kept"] for r in runs),
        "clock_error_max_s": round(worst, 4),
        "restart_to_ready_max_s": round(max(r["restart_to_ready_s"] for r in runs), 3),
        "clock_error_wall_jump_s": round(abs(jumped["error_s"]), 4),
        "target_clock_error_s": 1.0,
        "ok": max(worst, abs(jumped["error_s"])) <= 1.0 and all(r["phase_kept"] for r in runs + [jumped]),
    }))


if __name__ == "__main__":
    main()
