"""The folders are the architecture: imports go one way, from the command
line down to the core, with no circles.

Read from the sources (every import, also the lazy ones inside functions),
so a test run needs none of the libraries named here.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "device" / "intervisor"

# From the bottom up: a package may import only from itself and the ones before it.
LAYERS = ["core", "files", "sound", "voice", "table", "appliance", "cli"]


def module_name(path: Path) -> str:
    parts = ["intervisor", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


MODULES = sources()


def imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, intervisor's own as full module names
    (``from intervisor.sound import output`` is ``intervisor.sound.output``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _running(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            rooms = {f"{module}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(rooms)
            if len(rooms) < len(node.names):
                found.add(module)
    return found


def _running(tree: ast.AST):
    """Every node, but for what sits under ``if TYPE_CHECKING:`` (read by
    type checkers, never run: a part may name the facade it belongs to)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_running(child)])
            continue
        yield node
        yield from _running(node)


GRAPH = {name: imports(name, path) for name, path in MODULES.items()}


def own(names: set[str]) -> set[str]:
    return {n for n in names if n == "intervisor" or n.startswith("intervisor.")}


def area(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


def test_every_package_has_its_place_in_the_layers():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS)
    assert not [n for n in MODULES if n.count(".") == 1 and area(n) not in LAYERS], \
        "a module beside the packages belongs in one of them"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if area(n) == "core"))
def test_the_core_imports_only_the_standard_library(name):
    # No other package of intervisor, no hardware, audio or speech library,
    # not even YAML: the core runs anywhere, on any clock.
    outside = {n for n in GRAPH[name] if not n.startswith("intervisor.core")
               and n.split(".")[0] not in sys.stdlib_module_names}
    assert not outside, f"{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if area(n) == "files"))
def test_the_files_need_only_yaml_and_the_core(name):
    outside = {n for n in GRAPH[name] if area(n) not in ("core", "files") or not n.startswith("intervisor.")}
    outside = {n for n in outside if n.split(".")[0] not in sys.stdlib_module_names | {"yaml"}}
    assert not outside, f"{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if area(n)))
def test_no_package_imports_a_package_above_it(name):
    mine = LAYERS.index(area(name))
    above = {n for n in own(GRAPH[name]) if n == "intervisor" or LAYERS.index(area(n)) > mine}
    assert not above, f"{name} ({area(name)}) imports {sorted(above)} from above it"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of imports, each once (Tarjan's strongly connected parts)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1 or v in graph[v]:
                found.append(sorted(part))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_round_a_circle():
    # A package's face (its __init__) imports its rooms; a room importing
    # the face of its own package would close a circle, so rooms import
    # each other by module.
    assert cycles({n: own(i) for n, i in GRAPH.items()}) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


LONGEST_CLASS, LONGEST_FUNCTION = 420, 70
"""Lines, docstrings included: the style's ~400 and ~60, with a margin."""


def too_long(tree: ast.AST) -> list[tuple[str, int]]:
    """Every class and function of ``tree`` longer than it may be."""
    found = []
    for node in ast.walk(tree):
        limit = (LONGEST_CLASS if isinstance(node, ast.ClassDef) else
                 LONGEST_FUNCTION if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None)
        if limit is not None and node.end_lineno - node.lineno + 1 > limit:
            found.append((node.name, node.end_lineno - node.lineno + 1))
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_class_or_function_is_too_long_to_read(name):
    assert too_long(ast.parse(MODULES[name].read_text("utf-8"))) == []


def test_the_length_check_finds_a_long_class_and_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(LONGEST_FUNCTION))
    source = f"class Big:\n    def f(self):\n{textwrap.indent(body, '    ')}\n" + "    y = 0\n" * LONGEST_CLASS
    assert too_long(ast.parse(source)) == [("Big", LONGEST_CLASS + LONGEST_FUNCTION + 2), ("f", LONGEST_FUNCTION + 1)]
