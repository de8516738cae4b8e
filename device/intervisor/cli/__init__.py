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
    from intervisor.cli import method as commands_method

    commands_method.register(sub)


def _add_sound_commands(sub: argparse._SubParsersAction) -> None:
    """say, chime (the sound issue)."""
    _register("intervisor.cli.sound", sub)


def _add_panel_commands(sub: argparse._SubParsersAction) -> None:
    """demo (the panel issue)."""
    _register("intervisor.cli.panel", sub)


def _add_voice_commands(sub: argparse._SubParsersAction) -> None:
    """voice recognise, voice selftest (the voice issue)."""
    _register("intervisor.cli.voice", sub)


def _add_service_commands(sub: argparse._SubParsersAction) -> None:
    """serve, status, history, report, methods add/remove/select (the appliance issue)."""
    _register("intervisor.cli.service", sub)


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


class _Reader:
    """Standard output that outlives its reader. When the reader goes away
    (`intervisor status | head -1`, a dropped SSH session) the rest of the
    output goes nowhere, and the command still finishes and returns its own
    exit code: `status` says 3 for "not running" whether or not anyone read
    the line that said so.

    >>> import io
    >>> class Gone(io.StringIO):
    ...     def write(self, text): raise BrokenPipeError
    >>> out = _Reader(Gone())
    >>> out.write("read by no one")
    14
    >>> out.gone
    True
    """

    def __init__(self, stream):
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._leave()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._leave()

    def _leave(self) -> None:
        self.gone = True
        # Python flushes sys.stdout once more at exit; point the descriptor
        # at /dev/null so that flush finds no closed pipe either.
        try:
            import os
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


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
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Reader(stdout), _Reader(stderr)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = stdout, stderr


if __name__ == "__main__":
    sys.exit(main())
