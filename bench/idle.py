"""CPU and memory of an idle running session (no voice commands).

The sound adapter is up with its stream open on a real PulseAudio null
sink, a method's prompts are rendered and loaded, the engine waits for a
deadline minutes away; for ``--seconds`` nothing happens. Measured: this
process's CPU time (user + system, all its threads: the PortAudio callback
included) per wall second, and its resident memory at the end. The sound
server is another process and not counted (on the device, ALSA is
in-process and costs the same callback).

    .venv/bin/python bench/idle.py [--seconds 30] [--block 256]

Target on this machine: <= 1 % of a core, <= 80 MB RSS. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "device"))

from pulse import start_pulse  # noqa: E402


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--method", default="vijf-stappen")
    args = ap.parse_args()

    with start_pulse(), tempfile.TemporaryDirectory() as tmp:
        from intervisor.core.clock import SystemClock
        from intervisor.core.engine import Engine
        from intervisor.core.events import Command
        from intervisor.files.method import Library
        from intervisor.sound.output import SoundOutput
        from intervisor.sound.speech import Speech, close_worker

        method = Library(str(ROOT / "methods")).find(args.method)
        engine = Engine(method, SystemClock())
        sound = SoundOutput(Speech(method.language, 150, 1.0, Path(tmp) / "cache"), block_size=args.block)
        if sound.faulted:
            print(f"no sound: {sound.fault}", file=sys.stderr)
            return 1
        t = time.perf_counter()
        rendered = sound.prepare(engine.phrases_to_render())
        render_s = time.perf_counter() - t
        close_worker()  # it leaves by itself when idle; not part of the session
        for action in engine.start():
            sound.perform(action)
        engine.handle(Command.NEXT)
        sound.finish(30)
        # First with the stream kept running (no standby), then as it runs
        # on the device: stopped after standby_after seconds of silence.
        standby_after, sound.standby_after = sound.standby_after, None
        time.sleep(1.0)  # settle: the start's prompts are over
        c0, w0 = cpu_seconds(), time.monotonic()
        time.sleep(args.seconds)
        c1, w1 = cpu_seconds(), time.monotonic()
        running = 100 * (c1 - c0) / (w1 - w0)
        sound.standby_after = standby_after
        deadline = time.monotonic() + standby_after + 10
        while not sound.standby and time.monotonic() < deadline:
            time.sleep(0.1)
        c0, w0 = cpu_seconds(), time.monotonic()
        time.sleep(args.seconds)
        c1, w1 = cpu_seconds(), time.monotonic()
        rss = rss_mb()
        prompts_mb = sound.prompts.nbytes / 2**20
        sound.close()

    result = {"cpu_percent": round(100 * (c1 - c0) / (w1 - w0), 2), "rss_mb": round(rss, 1),
              "cpu_percent_stream_running": round(running, 2), "standby_after_s": standby_after,
              "prompts_in_memory_mb": round(prompts_mb, 1), "prompts_rendered": rendered,
              "render_seconds": round(render_s, 1), "block": args.block}
    print(f"idle: {result['cpu_percent']} % of a core (stream kept running: {result['cpu_percent_stream_running']} %), "
          f"{result['rss_mb']} MB resident "
          f"({result['prompts_in_memory_mb']} MB of prompts); rendered {rendered} prompts in {render_s:.1f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
