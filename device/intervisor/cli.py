"""The `intervisor` command.

Each area of the device adds its own subcommands in its own function below,
and imports its module lazily inside the handler, so that `intervisor check`
never loads numpy, PortAudio or a speech model.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys


def _register(module: str, sub: argparse._SubParsersAction) -> None:
    # An area whose module is not written yet simply adds no commands; an
    # area whose module fails to import is a bug and must say so.
    if importlib.util.find_spec(module) is None:
        return
    importlib.import_module(module).register(sub)


def _add_method_commands(sub: argparse._SubParsersAction) -> None:
    """check, methods, rehearse (the method library and the engine)."""
    from intervisor import commands_method

    commands_method.register(sub)


def _add_sound_commands(sub: argparse._SubParsersAction) -> None:
    """say, chime (the sound issue)."""
    _register("intervisor.commands_sound", sub)


def _add_panel_commands(sub: argparse._SubParsersAction) -> None:
    """demo (the panel issue)."""
    _register("intervisor.commands_panel", sub)


def _add_voice_commands(sub: argparse._SubParsersAction) -> None:
    """voice recognise, voice selftest (the voice issue)."""
    _register("intervisor.commands_voice", sub)


def _add_service_commands(sub: argparse._SubParsersAction) -> None:
    """serve, status, history, report, methods add/remove/select (the appliance issue)."""
    _register("intervisor.commands_service", sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intervisor",
        description="Keeps the method of an intervisie session: speaks the phases, keeps time, listens to one button.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_method_commands(sub)
    _add_sound_commands(sub)
    _add_panel_commands(sub)
    _add_voice_commands(sub)
    _add_service_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A terminal or a pipe in a non-UTF-8 locale cannot show every character
    # of a method's title or a report's dash: a "?" instead, never a crash.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
