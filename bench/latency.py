"""Press to first audible sample, through a real PulseAudio null sink.

The real path first: a press on gpiozero's mock button pin (the panel's own
code, as in the demo and the tests), its command on the device's queue, the
runner's loop thread (as the service's: ``Device.run``, the cue lead of the
config's default), the engine (next question), the sound adapter, and the
time read where the sound first appears at the sink's monitor, counted from
the release (a press is answered when the button is let go). Prompts as the
service has them (rendered to the disk cache ahead, read into memory when
first said), with the stream running and resting (as after a quiet stretch
of a session); then each prompt in memory ahead, and the naive way beside
them: the same path with each prompt played by ``sd.play`` (a new stream
per prompt).

Then the adapter's own figures: actions handed straight to the sound
adapter by a loop thread (no panel, no engine), for a cue, a prompt, both
from standby, and ``sd.play`` per sound.

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

from intervisor.core.events import Cue, Hush, Play, Say  # noqa: E402

PROMPT = "Volgende vraag."
CUE_LEAD = 0.1   # audio.cue_lead's default: the service's loop runs with it


def stats(values: list[float]) -> dict:
    if not values:
        return {"median": None, "p99": None, "n": 0}
    ms = np.array(values) * 1000
    return {"median": round(float(np.median(ms)), 1), "p99": round(float(np.percentile(ms, 99)), 1),
            "n": len(values)}


def presses(rec, press, settle, count: int) -> tuple[list[float], int]:
    """``count`` presses; each waits for the sound and lets it settle.
    ``press()`` returns the time it counts from (or None: now)."""
    found, missed = [], 0
    for _ in range(count):
        t = time.monotonic()
        t = press() or t
        onset = rec.wait_for_sound(after=t, timeout=5, threshold=0.02)
        if onset is None:
            missed += 1
            continue
        found.append(onset.time - t)
        settle()
        rec.wait_for_silence(after=onset.time, seconds=0.15, timeout=10, threshold=0.01)
    return found, missed


def asleep(sound) -> None:
    """Wait until the stream rests (standby)."""
    deadline = time.monotonic() + 5
    while not sound.standby and time.monotonic() < deadline:
        time.sleep(0.01)


class NaiveSound:
    """The naive adapter: every prompt through ``sd.play``, a new stream
    each time, from the same samples the real adapter holds."""

    def __init__(self, prompt, rate: int):
        import sounddevice as sd

        self.sd, self.prompt, self.rate = sd, prompt, rate

    def perform(self, action) -> None:
        if isinstance(action, Say):
            pcm = np.concatenate([self.prompt(p) for p in action.parts]).astype(np.float32) / 32767
            self.sd.play(pcm, self.rate)
        elif isinstance(action, Hush):
            self.sd.stop()


def bench_method(questions: int):
    from intervisor.core.model import Duration, Method, Phase, Question

    qs = tuple(Question(f"Vraag {i}.") for i in range(1, questions + 1))
    return Method("bench", "Bench", "nl", (Phase("een", "Een", Duration(3 * 3600, 3 * 3600), questions=qs),))


def real_path(rec, sound, count: int, naive: int) -> dict:
    """Presses on the mock button pin through panel, queue, runner, engine
    and adapter. Prompts as the service has them: rendered to the disk
    cache ahead, loaded into memory when first said; the stream running,
    then resting. Then with each prompt in memory ahead (sound.prepare),
    and the naive adapter (sd.play) on those same samples."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from intervisor.core.clock import SystemClock
    from intervisor.core.engine import Engine
    from intervisor.table.panel import Panel
    from intervisor.table.runner import Device

    method = bench_method(3 * count + naive + 2)
    sound.speech.prerender(Engine(method, SystemClock()).phrases_to_render())
    factory = MockFactory(pin_class=MockPWMPin)
    device = Device({"bench": method}, SystemClock(), [], selected="bench", lead=CUE_LEAD)
    panel = Panel(device.queue, pin_factory=factory)
    device.adapters += [panel, sound]
    pin = factory.pin(panel.pins["button"])
    device.dispatch(device.start("bench"))
    sound.perform(Hush())
    stop = threading.Event()
    loop = threading.Thread(target=device.run, args=(stop,), kwargs={"max_wait": 0.5}, daemon=True)
    loop.start()

    def press() -> float:
        pin.drive_low()
        time.sleep(0.1)   # a short tap, well past the bounce filter and short of a hold
        t = time.monotonic()
        pin.drive_high()  # answered on release
        return t

    def hush() -> None:
        sound.perform(Hush())

    try:
        time.sleep(0.5)
        sound.standby_after = None
        out = {"press": presses(rec, press, hush, count)}
        sound.standby_after = 0.1
        asleep(sound)
        out["press_standby"] = presses(rec, press, lambda: (hush(), asleep(sound)), count)
        sound.standby_after = None
        sound.finish(5)
        sound.prepare([q.text for q in method.phases[0].questions])
        out["press_in_memory"] = presses(rec, press, hush, count)
        plain = NaiveSound(sound.prompts.get, sound.rate)
        device.adapters = [panel, plain]
        out["press_naive"] = presses(rec, press, plain.sd.stop, naive)
        plain.sd.stop()
    finally:
        stop.set()
        loop.join(timeout=5)
        panel.close()
        factory.reset()
    return out


def adapter_only(rec, sound, count: int, naive: int) -> dict:
    """Actions handed straight to the adapter by a loop thread: the
    adapter's own part of a press."""
    import sounddevice as sd

    commands: queue.Queue = queue.Queue()

    def loop() -> None:
        while (actions := commands.get()) is not None:
            for action in actions:
                sound.perform(action)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    sound.prepare([PROMPT])
    sound.standby_after = None   # first with the stream running
    out = {"adapter_cue": presses(rec, lambda: commands.put([Play(Cue.HEARD)]), lambda: None, count),
           "adapter_prompt": presses(rec, lambda: commands.put([Say((PROMPT,))]),
                                     lambda: commands.put([Hush()]), count)}
    sound.standby_after = 0.1    # then each wakes the stream from standby
    asleep(sound)
    out["adapter_standby_cue"] = presses(rec, lambda: commands.put([Play(Cue.HEARD)]),
                                         lambda: asleep(sound), count)
    out["adapter_standby_prompt"] = presses(rec, lambda: commands.put([Say((PROMPT,))]),
                                            lambda: (commands.put([Hush()]), asleep(sound)), count)
    sound.finish(5)
    commands.put(None)
    samples = sound.chimes[Cue.HEARD]
    rate = sound.rate
    sound.close()
    out["adapter_naive"] = presses(rec, lambda: sd.play(samples, rate), sd.stop, naive)
    sd.stop()
    return out


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
        from intervisor.sound.output import SoundOutput
        from intervisor.sound.speech import Speech

        options = {"block_size": args.block, "quick_start": args.quick_start}
        if args.latency is not None:
            options["latency"] = args.latency
        sound = SoundOutput(Speech("nl", 150, 1.0, Path(tmp) / "cache"), **options)
        if sound.faulted:
            print(f"no sound: {sound.fault}", file=sys.stderr)
            return 1
        with server.record() as rec:
            time.sleep(0.5)  # the stream's first blocks are past
            runs = real_path(rec, sound, args.presses, args.naive)
            runs.update(adapter_only(rec, sound, args.presses, args.naive))

    result = {f"{name}_ms": stats(found) for name, (found, _) in runs.items()}
    result.update(quick_start=args.quick_start, block=args.block, latency_s=sound.output_latency)
    missed = {name: n for name, (_, n) in runs.items() if n}
    if missed:
        result["missed"] = missed
    for name, (found, _) in runs.items():
        r = result[f"{name}_ms"]
        print(f"{name:24s} median {r['median']!s:>7} ms   p99 {r['p99']!s:>7} ms   ({r['n']} presses)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
