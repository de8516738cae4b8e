"""`intervisor demo`: the device on this computer (the panel issue)."""

from __future__ import annotations

import argparse
from pathlib import Path

# The methods that ship beside the package in a source checkout.
SHIPPED = Path(__file__).resolve().parent.parent.parent / "methods"
DEFAULT_METHOD = "vijf-stappen"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the device here: the keyboard is the button, the terminal the lights",
        description=(
            "Runs Intervisor on this computer with the same panel code as on the device, "
            "on simulated pins. Space is a press; 1-4 hold the button for that many ticks "
            "(repeat, back, pause, end); q stops."
        ),
    )
    p.add_argument("--method", metavar="ID", help=f"the method to run (default: {DEFAULT_METHOD})")
    p.add_argument("--methods", metavar="DIR", type=Path, default=None,
                   help="the folder of method files (default: the shipped methods)")
    p.add_argument("--ask", action="store_true",
                   help="ask the start choices (question set, participants) instead of taking the defaults")
    p.add_argument("--idle", action="store_true",
                   help="start at idle, as the device does after power-on, instead of starting the method")
    p.add_argument("--wav", metavar="FILE", type=Path, default=None,
                   help="write the sound to this WAV file instead of the speakers")
    p.add_argument("--hold", type=float, default=None, metavar="SECONDS",
                   help="seconds per hold tick (default: the config's panel.hold, else 1)")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    import sys

    from intervisor.clock import SystemClock
    from intervisor.events import Cue, Play
    from intervisor.panel import Panel
    from intervisor.runner import Device
    from intervisor.simulator import Simulator, mock_factory

    methods = _methods(args.methods or SHIPPED)
    if not methods:
        print(f"intervisor demo: no method could be loaded from {args.methods or SHIPPED}", file=sys.stderr)
        return 2
    chosen = args.method or (DEFAULT_METHOD if DEFAULT_METHOD in methods else sorted(methods)[0])
    if chosen not in methods:
        print(f"intervisor demo: there is no method {chosen!r}; installed: {', '.join(sorted(methods))}",
              file=sys.stderr)
        return 2
    method = methods[chosen]
    choices, participants = {}, None
    if not args.ask:
        # A newcomer hears the introduction at once: the start choices take
        # their defaults (--ask lets the chair choose, as on the device).
        choices = {c.id: c.default or c.options[0].id for c in method.choices}
        participants = method.participants

    sound, where = _sound(args, method.language)
    device = Device(methods, SystemClock(), [], selected=chosen, choices=choices,
                    participants=participants, language=method.language)
    factory = mock_factory()

    def tick(command):
        # The chair hears each hold tick; a cancelled hold sounds different.
        if sound is not None:
            sound.perform(Play(Cue.HEARD if command is not None else Cue.ERROR))

    panel = Panel(device.queue, hold=args.hold or 1.0, on_tick=tick, pin_factory=factory)
    device.adapters.append(panel)
    if sound is not None:
        device.adapters.append(sound)
    print(f"Intervisor demo: {method.title} ({chosen}). Sound: {where}.")
    print("Keys: space = press (next); hold 1 tick = repeat, 2 = back, 3 = pause, 4 = end "
          "(1 steps while choosing); q = stop.")
    try:
        Simulator(device, panel, factory).run(start=None if args.idle else chosen)
    finally:
        panel.close()
        if sound is not None and hasattr(sound, "close"):
            sound.close()
    return 0


def _methods(folder: Path) -> dict:
    """Every method file in ``folder`` that loads; the others are named
    with their problems (FILE:LINE: message) and left out."""
    import sys

    from intervisor.method import load_method

    methods = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        result = load_method(path)
        if result.ok:
            methods[result.method.id] = result.method
        else:
            for problem in result.errors:
                print(problem, file=sys.stderr)
    return methods


def _sound(args: argparse.Namespace, language: str):
    """The sound adapter and a plain word on where the sound goes."""
    return None, "none (the sound adapter is not installed yet)"
