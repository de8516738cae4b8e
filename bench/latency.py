"""Press to first audible sample, through a real PulseAudio null sink.

A "press" is a command put on the engine's queue; a loop thread (as the
service's) takes it and hands the actions to the sound adapter; the time
is read where the sound first appears at the sink's monitor. For a cue, for
a prompt (pre-rendered, as in a session), and the naive way beside them
(``sd.play`` per sound, a new stream each time), in the same run.

    .venv/bin/python bench/latency.py [--presses 60] [--naive 50]

Target on this machine: median <= 20 ms, p99 <= 50 ms for cue and prompt.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "device"))

from pulse import start_pulse  # noqa: E402

from intervisor.events import Cue, Hush, Play, Say  # noqa: E402

PROMPT = "Volgende vraag."


def stats(values: list[float]) -> dict:
    ms = np.array(values) * 1000
    return {"median": round(float(np.median(ms)), 1), "p99": round(float(np.percentile(ms, 99)), 1),
            "n": len(values)}


def presses(rec, press, settle, count: int) -> tuple[list[float], int]:
    """``count`` presses; each waits for the sound and lets it settle."""
    found, missed = [], 0
    for _ in range(count):
        t = time.monotonic()
        press()
        onset = rec.wait_for_sound(after=t, timeout=5, threshold=0.02)
        if onset is None:
            missed += 1
            continue
        found.append(onset.time - t)
        settle()
        rec.wait_for_silence(after=onset.time, seconds=0.15, timeout=10, threshold=0.01)
    return found, missed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presses", type=int, default=60)
    ap.add_argument("--naive", type=int, default=50)
    ap.add_argument("--block", type=int, default=256, help="frames per callback (config audio.block_size)")
    ap.add_argument("--latency", type=float, default=None, help="output latency asked of PortAudio, seconds")
    ap.add_argument("--no-quick-start", dest="quick_start", action="store_false",
                    help="do not restart a stream that holds only silence (config audio.quick_start)")
    args = ap.parse_args()

    with start_pulse() as server, tempfile.TemporaryDirectory() as tmp:
        import sounddevice as sd

        from intervisor.sound import SoundOutput
        from intervisor.speech import Speech

        options = {"block_size": args.block, "quick_start": args.quick_start}
        if args.latency is not None:
            options["latency"] = args.latency
        sound = SoundOutput(Speech("nl", 150, 1.0, Path(tmp) / "cache"), **options)
        if sound.faulted:
            print(f"no sound: {sound.fault}", file=sys.stderr)
            return 1
        sound.prepare([PROMPT])

        commands: queue.Queue = queue.Queue()

        def loop() -> None:  # the service's loop: a command in, actions to the adapter
            while True:
                actions = commands.get()
                if actions is None:
                    return
                for action in actions:
                    sound.perform(action)

        worker = threading.Thread(target=loop, daemon=True)
        worker.start()
        with server.record() as rec:
            time.sleep(0.5)  # the stream's first blocks are past
            sound.standby_after = None  # first with the stream running
            cue, cue_missed = presses(rec, lambda: commands.put([Play(Cue.HEARD)]), lambda: None, args.presses)
            prompt, prompt_missed = presses(rec, lambda: commands.put([Say((PROMPT,))]),
                                            lambda: commands.put([Hush()]), args.presses)
            # Then each press wakes the stream from standby, as after a
            # quiet stretch of a session.
            sound.standby_after = 0.1

            def asleep() -> None:
                deadline = time.monotonic() + 5
                while not sound.standby and time.monotonic() < deadline:
                    time.sleep(0.01)

            asleep()
            wake_cue, wake_cue_missed = presses(rec, lambda: commands.put([Play(Cue.HEARD)]), asleep, args.presses)
            wake_prompt, wake_prompt_missed = presses(rec, lambda: commands.put([Say((PROMPT,))]),
                                                      lambda: (commands.put([Hush()]), asleep()), args.presses)
            sound.finish(5)
            commands.put(None)
            sound.close()
            # The naive way: a new stream for each sound.
            samples = sound.chimes[Cue.HEARD]
            naive, naive_missed = presses(rec, lambda: sd.play(samples, sound.rate), sd.stop, args.naive)
            sd.stop()

    result = {"cue_ms": stats(cue), "prompt_ms": stats(prompt), "naive_ms": stats(naive),
              "standby_cue_ms": stats(wake_cue), "standby_prompt_ms": stats(wake_prompt),
              "quick_start": args.quick_start, "block": args.block, "latency_s": sound.output_latency}
    missed = {"cue": cue_missed, "prompt": prompt_missed, "naive": naive_missed,
              "standby_cue": wake_cue_missed, "standby_prompt": wake_prompt_missed}
    if any(missed.values()):
        result["missed"] = missed
    for name in ("cue_ms", "prompt_ms", "standby_cue_ms", "standby_prompt_ms", "naive_ms"):
        r = result[name]
        print(f"{name[:-3]:15s} median {r['median']:7.1f} ms   p99 {r['p99']:7.1f} ms   ({r['n']} presses)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
