"""Commands of the method library and the engine: check, methods, rehearse.

    $ intervisor check methods/vijf-stappen.yaml
    methods/vijf-stappen.yaml: ok (Intervisie in vijf stappen, 6 phases, 40m-50m)
    $ intervisor methods
    id            title                       language  length   phases
    vijf-stappen  Intervisie in vijf stappen  nl        40m-50m  6
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``check`` and ``methods``; the engine adds ``rehearse`` below."""
    p = sub.add_parser(
        "check", help="check method files (and the config)",
        description="Check method files, and with --config the device's config file. Every problem is "
                    "printed as FILE:LINE: message; exit status 0 when all files are valid, 1 otherwise.")
    p.add_argument("files", nargs="*", metavar="FILE", help="a method file (.yaml), or a folder of them")
    p.add_argument("--config", metavar="FILE", action="append", default=[],
                   help="also check this config file (like /etc/intervisor/config.yaml)")
    p.set_defaults(func=check_command)

    p = sub.add_parser(
        "methods", help="list the methods in the methods folder",
        description="List the methods in a folder: id, title, language, planned length, phases. "
                    "Files that are refused are named on stderr with their problems.")
    p.add_argument("--dir", metavar="DIR", help="methods folder (default: the repository's methods/ "
                                                "when run from a checkout, else methods_dir of the config)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=methods_command)

    p = sub.add_parser(
        "new", help="write a starter method file that passes check",
        description="Write a new method file: a blank skeleton with a comment on every field, or with "
                    "--from a copy of an existing method under the new file's id. The file name (without "
                    ".yaml) is the id. Its first line names the JSON Schema for editors when it is found.")
    p.add_argument("file", metavar="FILE", help="the new file, like teamoverleg.yaml")
    p.add_argument("--from", dest="source", metavar="METHOD", help="a method id (or file) to copy")
    p.add_argument("--lang", choices=("nl", "en"), default="nl", help="language of the skeleton (default nl)")
    p.add_argument("--dir", metavar="DIR", help="methods folder to find --from METHOD in")
    p.set_defaults(func=new_command)

    p = sub.add_parser("schema", help="print the JSON Schema of method files (for editors)",
                       description="Print the JSON Schema of method files, generated from the checks of "
                                   "the device itself; save it and name it in a method's first line.")
    p.set_defaults(func=schema_command)

    # The engine's commands.
    from intervisor.cli import rehearse

    rehearse.add_command(sub)


def check_command(args: argparse.Namespace) -> int:
    from intervisor.files.method import describe_length, load_method

    if not args.files and not args.config:
        print("intervisor check: name at least one method file (or --config FILE)", file=sys.stderr)
        return 2
    status = 0
    for name in args.config:
        if not check_config(name):
            status = 1
    for name in _method_files(args.files):
        if name is None:
            status = 1
            continue
        result = load_method(name)
        for problem in result.problems:
            print(problem.marked(), file=sys.stderr)
        if result.method is None:
            status = 1
            continue
        m = result.method
        n = len(m.phases)
        print(f"{name}: ok ({m.title}, {n} phase{'s' if n != 1 else ''}, {describe_length(m)})")
    return status


def _method_files(names: list[str]):
    """Each name, with a folder standing for the method files in it (the
    way the device reads the folder); None for a folder without any, after
    saying so."""
    import os

    from intervisor.files.method import SUFFIXES, Library

    for name in names:
        if not os.path.isdir(name):
            yield name
            continue
        files = Library(name).files()
        if not files:
            print(f"{name}: no method files ({', '.join(SUFFIXES)}) in this folder", file=sys.stderr)
            yield None
        yield from (str(f) for f in files)


def check_config(name: str) -> bool:
    import os

    from intervisor.files.config import ConfigError, load_config

    if not os.path.lexists(name):
        print(f"{name}:1: there is no such file (the device would use all defaults)", file=sys.stderr)
        return False
    try:
        config = load_config(name)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return False
    voices = piper_voice_problems(config)
    for problem in voices:
        print(problem, file=sys.stderr)
    if voices:
        return False
    for warning in config.warnings:
        print(warning.marked(), file=sys.stderr)
    print(f"{name}: ok (config)")
    return True


def piper_voice_problems(config) -> list[str]:
    """``FILE:LINE: message`` for each Piper voice of the config that the
    device could not use (it would speak espeak-ng there): missing, in
    another language, or one Piper cannot load (damaged, half downloaded)."""
    from intervisor.core.model import LANGUAGES
    from intervisor.sound.pipervoice import PiperEngine, VoiceFile, VoiceProblem
    from intervisor.files.yamlsafe import YMap, read_file

    root = read_file(config.path).node
    audio = root.entries.get("audio") if isinstance(root, YMap) else None
    audio = audio.node if audio is not None and isinstance(audio.node, YMap) else None

    def line(language: str) -> tuple[str, int]:
        table = audio.entries.get("piper") if audio is not None else None
        if table is not None and isinstance(table.node, YMap) and language in table.node.entries:
            return f"audio.piper.{language}", table.node.entries[language].node.line
        old = audio.entries.get("piper_model") if audio is not None else None
        return "audio.piper_model", old.node.line if old is not None else 1

    problems = []
    for language in LANGUAGES:
        model = config.audio.piper_for(language, config.language)
        if not model:
            continue
        try:
            PiperEngine(VoiceFile.open(model, language), threads=1)
        except VoiceProblem as e:
            key, at = line(language)
            problems.append(f"{config.path}:{at}: {key}: {e} (the device speaks espeak-ng there until then)")
    return problems


def methods_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from intervisor.files.method import Library, default_methods_dir, describe_length

    folder = Path(args.dir) if args.dir else default_methods_dir()
    if not folder.is_dir():
        print(f"intervisor methods: {folder}: there is no such folder", file=sys.stderr)
        return 1
    library = Library(folder)
    for problems in library.refused.values():
        for problem in problems:
            print(problem, file=sys.stderr)
    rows = [{"id": m.id, "title": m.title, "language": m.language, "length": describe_length(m),
             "phases": len(m.phases)} for m in library]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print(f"no methods in {folder}", file=sys.stderr)
        return 0
    header = {"id": "id", "title": "title", "language": "language", "length": "length", "phases": "phases"}
    table = [header] + rows
    widths = {k: max(len(str(r[k])) for r in table) for k in header}
    for r in table:
        print("  ".join(str(r[k]).ljust(widths[k]) for k in header).rstrip())
    return 0


def new_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from intervisor.cli import starter
    from intervisor.files.method import Library, MethodError, default_methods_dir
    from intervisor.files.method_schema import SHIPPED

    target = Path(args.file)
    if args.source:
        try:
            method = Library(Path(args.dir) if args.dir else default_methods_dir()).find(args.source)
            text = starter.copy_of(Path(method.path).read_text(encoding="utf-8"), target.stem)
        except (MethodError, OSError, ValueError) as e:
            print(f"intervisor new: --from {args.source}: {e}", file=sys.stderr)
            return 1
    else:
        text = starter.skeleton(target.stem, args.lang)
    problems = starter.new_method(target, text, SHIPPED)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"{target}: written; edit it, then: intervisor check {target}")
    return 0


def schema_command(args: argparse.Namespace) -> int:
    from intervisor.files.method_schema import schema_text

    sys.stdout.write(schema_text())
    return 0
