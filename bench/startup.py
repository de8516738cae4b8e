"""How long the device takes from process start to READY=1.

Runs the real `intervisor serve` with the shipped methods and sound on, into
a private PulseAudio null sink (tests/pulse.py), and times process start to
the READY=1 it sends on its notify socket:

- cold: an empty prompt cache, so every prompt of every method is rendered
  with espeak-ng first (target <= 15 s on this machine);
- warm: the same cache again (target <= 2 s), best of a few runs (a shared,
  busy machine only ever makes a run slower);
- stop: SIGTERM to exit (the spec: within 2 s, the cue playing finished);
- stop while rendering: SIGTERM while a cold cache is being rendered at
  start-up (rendering runs on its own thread; the exit does not wait for it).

    .venv/bin/python bench/startup.py          # last line: JSON
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
from pathlib import Path

from serving import REPO, ready_service, with_shipped_methods

WARM_RUNS = 3


def start_and_time(folder: Path, cache: Path, audio: str) -> tuple[float, float, str]:
    with ready_service(folder, cache, audio) as (s, ready):
        s.proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = s.proc.wait(timeout=30)
        stop = time.monotonic() - stopping
        assert code == 0, f"exit status {code}"
        return ready, stop, s.read_log()


def stop_while_rendering(folder: Path, cache: Path, audio: str) -> float:
    s = with_shipped_methods(folder, cache, audio)
    try:
        s.start(wait_ready=False)
        deadline = time.monotonic() + 60
        while "prompts (start-up)" not in s.read_log() and time.monotonic() < deadline:
            time.sleep(0.02)
        s.proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = s.proc.wait(timeout=30)
        assert code == 0, f"exit status {code}"
        return time.monotonic() - stopping
    finally:
        s.close()


def main() -> None:
    try:
        from pulse import start_pulse

        pulse = start_pulse()
        server = pulse.__enter__()
        audio = "audio: {enabled: true}\n"
    except Exception as e:  # no sound server here: still time the rest
        print(f"no PulseAudio null sink ({e}); sound stays off, prompts are still rendered")
        pulse, audio = None, "audio: {enabled: true, device: no-such-device}\n"
    try:
        with tempfile.TemporaryDirectory(prefix="intervisor-startup-") as tmp:
            cache = Path(tmp) / "cache"
            cold, stop_cold, log = start_and_time(Path(tmp) / "cold", cache, audio)
            rendered = [line for line in log.splitlines() if "prompts rendered" in line]
            print(f"cold: READY after {cold:.2f} s; {rendered[-1].split(': ', 1)[1] if rendered else ''}")
            faults = [line for line in log.splitlines() if ": fault" in line]
            for line in faults:
                print("  " + line)
            warm, stops = [], [stop_cold]
            for i in range(WARM_RUNS):
                ready, stop, _ = start_and_time(Path(tmp) / f"warm{i}", cache, audio)
                warm.append(ready)
                stops.append(stop)
                print(f"warm {i + 1}: READY after {ready:.2f} s, SIGTERM to exit {stop:.2f} s")
            rendering_stop = stop_while_rendering(Path(tmp) / "interrupted", Path(tmp) / "cache2", audio)
            print(f"SIGTERM while rendering a cold cache: exit after {rendering_stop:.2f} s")
    finally:
        if pulse is not None:
            pulse.__exit__(None, None, None)
    methods = len(list((REPO / "methods").glob("*.yaml")))
    print(json.dumps({
        "bench": "startup",
        "methods": methods,
        "sound": pulse is not None and not faults,
        "ready_cold_s": round(cold, 2),
        "ready_warm_s": round(min(warm), 2),
        "stop_max_s": round(max(stops), 2),
        "stop_while_rendering_s": round(rendering_stop, 2),
        "target_cold_s": 15.0,
        "target_warm_s": 2.0,
        "target_stop_s": 2.0,
        "ok": cold <= 15.0 and min(warm) <= 2.0 and max(stops + [rendering_stop]) <= 2.0,
    }))


if __name__ == "__main__":
    main()
