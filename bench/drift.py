"""Cue timing against the engine's deadlines, in real time, at the speaker.

A method of many short phases (a range, a warning, an overtime reminder,
auto-advance) runs on the system clock in the service's loop shape: wait
on the command queue until the engine's next deadline, then TICK and hand
the actions to the sound adapter. Every cue fired by a deadline is found
at the PulseAudio null sink's monitor and its onset compared with the
deadline it belonged to: the error is what the group hears, loop wake-up,
mixer and output path included.

    .venv/bin/python bench/drift.py [--minutes 10]

Target: |error| <= 15 ms for every cue, no growth with time. The last line
is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "device"))

from pulse import start_pulse  # noqa: E402

from intervisor.core.events import Command, Play  # noqa: E402


def short_method(minutes: float):
    from intervisor.core.model import Cues, Duration, Method, Phase

    cues = Cues(warn_before=4.0, min_cue=True, overtime_every=0.0, auto_advance=True)
    phases = tuple(Phase(f"p{i}", f"Fase {i}", Duration(7.0, 12.0), cues=cues)
                   for i in range(max(2, int(minutes * 60 / 12) + 1)))
    return Method("drift", "Drift", "nl", phases, participants=2)


def onset(rec, deadline: float, look: float = 0.25) -> float | None:
    """The first sample after ``deadline - 50 ms`` clearly louder than what
    rang just before it (a cue may strike over the ringing of the last)."""
    before = rec.segment(deadline - 0.15, deadline - 0.05)
    floor = max(0.02, 3 * float(np.abs(before).max(initial=0)))
    start = rec.index_at(deadline - 0.05)
    window = np.abs(rec.samples(start)[: int(look * rec.rate)])
    loud = np.flatnonzero(window > floor)
    return rec.time_of(start + int(loud[0])) if len(loud) else None


class _Probe:
    """Notes the cues a deadline struck."""

    def __init__(self, struck: list[str]):
        self.struck = struck

    def perform(self, action) -> None:
        if isinstance(action, Play):
            self.struck.append(action.cue.value)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--standby", type=float, default=None,
                    help="seconds of silence before the stream rests (default: the adapter's own)")
    ap.add_argument("--block", type=int, default=256, help="frames per callback (config audio.block_size)")
    ap.add_argument("--latency", type=float, default=None, help="output latency asked of PortAudio, seconds")
    ap.add_argument("--lead", type=float, default=0.1,
                    help="seconds the loop acts before a deadline so its cue is placed on it (config audio.cue_lead); "
                         "0: the naive way, a cue played when its deadline has come")
    args = ap.parse_args()

    from intervisor.core.clock import SystemClock
    from intervisor.core.engine import Engine
    from intervisor.table.runner import Device

    method = short_method(args.minutes)
    with start_pulse() as server, tempfile.TemporaryDirectory() as tmp:
        from intervisor.sound.output import SoundOutput
        from intervisor.sound.speech import Speech, close_worker

        clock = SystemClock()
        engine = Engine(method, clock, participants=2)
        options = {"block_size": args.block}
        if args.standby is not None:
            options["standby_after"] = args.standby
        if args.latency is not None:
            options["latency"] = args.latency
        sound = SoundOutput(Speech("nl", 170, 1.0, Path(tmp) / "cache"), **options)
        if sound.faulted:
            print(f"no sound: {sound.fault}", file=sys.stderr)
            return 1
        sound.prepare(engine.phrases_to_render())
        close_worker()
        device = Device({method.id: method}, clock, [sound], participants=2, lead=args.lead)
        fired: list[tuple[float, str]] = []
        with server.record() as rec:
            time.sleep(0.5)
            t_end = time.monotonic() + args.minutes * 60
            device.dispatch(device.start(method.id))
            engine = device.session
            while not engine.ended and time.monotonic() < t_end:
                due = engine.next_due()
                if due is None:  # waiting for the chair: press
                    device.handle(Command.NEXT)
                    continue
                struck: list[str] = []
                device.adapters = [sound, _Probe(struck)]
                command = device.step(max_wait=60.0)
                if command is Command.TICK and struck:
                    fired.append((due, "+".join(struck)))
            sound.finish(10)
            time.sleep(0.3)
            results = []
            for due, cue in fired:
                at = onset(rec, due)
                results.append((due - fired[0][0], cue, None if at is None else at - due))
        sound.close()

    errors = np.array([e for _, _, e in results if e is not None])
    missed = sum(1 for _, _, e in results if e is None)
    half = len(errors) // 2
    shown = set(range(0, len(results), max(1, len(results) // 12)))
    shown |= {i for i, (_, _, e) in enumerate(results) if e is None or abs(e) > 0.010}  # every outlier
    for i in sorted(shown):
        t, cue, e = results[i]
        print(f"{t:8.1f} s  {cue:24s} {'missed' if e is None else f'{e * 1000:7.1f} ms'}")
    if not len(errors):
        print(json.dumps({"cues": 0, "missed": missed}))
        return 1
    result = {"cues": int(len(errors)), "max_abs_error_ms": round(float(np.abs(errors).max() * 1000), 1),
              "mean_error_ms": round(float(errors.mean() * 1000), 1),
              "first_half_mean_ms": round(float(errors[:half].mean() * 1000), 1) if half else None,
              "second_half_mean_ms": round(float(errors[half:].mean() * 1000), 1),
              "p99_abs_error_ms": round(float(np.percentile(np.abs(errors), 99) * 1000), 1),
              "minutes": args.minutes, "standby_after_s": sound.standby_after, "lead_s": args.lead}
    if missed:
        result["missed"] = missed
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
