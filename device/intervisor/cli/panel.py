"""`intervisor demo`: the device on this computer (the panel issue)."""

from __future__ import annotations

import argparse
from pathlib import Path

# The methods that ship beside the package in a source checkout.
SHIPPED = Path(__file__).resolve().parent.parent.parent.parent / "methods"
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
    p.add_argument("--method", metavar="ID", help=f"the method to run, by id or file (default: {DEFAULT_METHOD})")
    p.add_argument("--config", metavar="FILE", type=Path, default=None,
                   help="the device's config file (default: $INTERVISOR_CONFIG or /etc/intervisor/config.yaml; "
                        "none: all defaults)")
    p.add_argument("--methods", metavar="DIR", type=Path, default=None,
                   help="the folder of method files (default: the shipped methods)")
    p.add_argument("--ask", action="store_true",
                   help="ask the start choices (question set, participants) instead of taking the defaults")
    p.add_argument("--idle", action="store_true",
                   help="start at idle, as the device does after power-on, instead of starting the method")
    p.add_argument("--wav", metavar="FILE", type=Path, default=None,
                   help="write the sound to this WAV file instead of the speakers")
    p.add_argument("--hold", type=float, default=None, metavar="SECONDS",
                   help="seconds per hold tick (default: the config's panel.hold)")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    import dataclasses
    import sys

    from intervisor.core.clock import SystemClock
    from intervisor.core.phrases import gesture_text
    from intervisor.files.method import MethodError
    from intervisor.table.panel import from_config, tick_cues
    from intervisor.table.runner import Device
    from intervisor.table.simulator import Simulator, SpeakIn, mock_factory

    config, config_problems = _config(args)
    try:
        method, methods = _method(args, config)
    except MethodError as e:
        print(f"intervisor demo: {e}", file=sys.stderr)
        return 2
    choices, participants = _choices(args, config, method)

    sound, where = _sound(args, config, method.language)
    second = config.panel.second_button is not None
    device = Device(methods, SystemClock(), [], selected=method.id, choices=choices,
                    participants=participants, language=config.language,
                    explain=lambda language: gesture_text(language, second), lead=config.audio.cue_lead)
    factory = mock_factory()
    panel = from_config(dataclasses.replace(config, voice=dataclasses.replace(config.voice, enabled=False)),
                        device.queue, pin_factory=factory)
    if config_problems:
        panel.fault("config")
    device.adapters.append(panel)
    if sound is not None:
        panel.on_tick = tick_cues(sound)
        device.adapters.insert(0, SpeakIn(device, sound))
        device.adapters.append(sound)
    if sound is not None and getattr(sound, "speech", None) is not None:
        from intervisor.core.engine import Engine

        _prerender(sound, Engine(method, SystemClock()).phrases_to_render())
    print(f"Intervisor demo: {method.title} ({method.id}). Sound: {where}.")
    print("Keys: space = press (next); hold for 1 tick = repeat, 2 = back, 3 = pause, 4 = end "
          "(1 steps while choosing); q = stop.")
    try:
        Simulator(device, panel, factory).run(start=None if args.idle else method.id)
    finally:
        panel.close()
        if sound is not None and hasattr(sound, "close"):
            sound.close()
    return 0


def _config(args: argparse.Namespace):
    """The config the demo runs with, and its problems (said on stderr; a
    config with problems gives the defaults and the fault light)."""
    import dataclasses
    import os
    import sys

    from intervisor.files.config import DEFAULT_PATH, Config, ConfigError, load_config

    config_problems: list = []
    try:
        config = load_config(args.config or os.environ.get("INTERVISOR_CONFIG", DEFAULT_PATH))
    except ConfigError as e:
        config_problems = e.problems
        config = Config.default()
    for problem in config_problems:
        print(problem, file=sys.stderr)
    if args.hold:
        config = dataclasses.replace(config, panel=dataclasses.replace(config.panel, hold=args.hold))
    return config, config_problems


def _method(args: argparse.Namespace, config):
    """The method to run and every method the device can offer. Raises
    MethodError when the one asked for cannot be used."""
    import sys

    from intervisor.files.method import Library

    folder = args.methods or (SHIPPED if SHIPPED.is_dir() else Path(config.methods_dir))
    library = Library(folder)
    for problems in library.refused.values():
        for problem in problems:
            print(problem, file=sys.stderr)
    wanted = args.method or config.selected or DEFAULT_METHOD
    if wanted not in library.methods and not args.method:
        wanted = next(iter(sorted(library.methods)), DEFAULT_METHOD)
    method = library.find(wanted)
    return method, {**library.methods, method.id: method}


def _choices(args: argparse.Namespace, config, method):
    """The start choices and the number of participants to begin with."""
    choices, participants = dict(config.choices), config.participants
    if not args.ask:
        # A newcomer hears the introduction at once: the start choices take
        # their defaults (--ask lets the chair choose, as on the device).
        choices.update({c.id: c.default or c.options[0].id for c in method.choices if c.id not in choices})
        participants = participants or method.participants
    return choices, participants


def _sound(args: argparse.Namespace, config, language: str):
    """The sound adapter and plain words on where the sound goes: the
    speakers, or a WAV file when there is no sound device (or --wav)."""
    import dataclasses
    import logging
    import os

    try:
        from intervisor.sound import config as sound_mod
        from intervisor.table.simulator import WavDevice
    except ImportError as e:  # numpy or PortAudio missing: say so, run on
        return None, f"none ({e})"
    # The one line below says where the sound goes; the adapter's own
    # warnings would only break the live view.
    logging.getLogger("intervisor.sound").setLevel(logging.ERROR)
    # The demo is a user's program: its prompt cache lives in the user's cache.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "intervisor"
    config = dataclasses.replace(config, cache_dir=str(cache))
    if args.wav is None:
        out = sound_mod.from_config(config, language=language)
        if not out.faulted:
            return out, "the speakers"
        out.close()
        why, path = "this computer has no sound device, so it goes into the file ", Path("out/demo.wav")
    else:
        why, path = "into the file ", args.wav
    wav = WavDevice(path)
    # The WAV file takes PortAudio's place, at the library's boundary.
    out = sound_mod.from_config(config, language=language, sample_rate=wav.rate, device=None, sd=wav)
    if out.faulted:
        out.close()
        return None, f"none ({out.fault})"
    return out, f"{why}{path} (silences cut to {wav.max_gap:g} s)"


def _prerender(sound, texts: list[str]) -> None:
    """Render the rest of the method's prompts while the introduction
    plays, in small batches so a prompt asked for meanwhile waits little."""
    import threading

    def work():
        try:
            for i in range(0, len(texts), 5):
                if getattr(sound, "closed", False):
                    return
                sound.speech.prerender(texts[i:i + 5])
        except Exception:  # a prompt that fails to render is rendered (or not) when said
            pass

    threading.Thread(target=work, name="prerender", daemon=True).start()
