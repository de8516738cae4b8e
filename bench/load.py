"""How long the method library takes to read and check its files, and to
rehearse the longest shipped method.

Copies the shipped methods (each with a new id) into a temporary folder
until there are 50 files, then times :class:`intervisor.files.method.Library`
reading and checking all of them (best of several runs, so a busy shared
machine shows less). Target: 50 files under 0.5 s.

    .venv/bin/python bench/load.py            # last line: JSON
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from intervisor.files.method import Library, load_method, plan_keys

FILES = 50
RUNS = 7
METHODS = Path(__file__).resolve().parent.parent / "methods"


def fill(folder: Path, shipped: list[Path], n: int) -> None:
    for i in range(n):
        source = shipped[i % len(shipped)]
        new_id = f"{source.stem}-{i:02d}"
        text = re.sub(r"(?m)^id:.*$", f"id: {new_id}", source.read_text(encoding="utf-8"), count=1)
        (folder / f"{new_id}.yaml").write_text(text, encoding="utf-8")


def time_library(folder: Path) -> tuple[float, Library]:
    start = time.perf_counter()
    library = Library(folder)
    return time.perf_counter() - start, library


def main() -> int:
    shipped = sorted(METHODS.glob("*.yaml"))
    if not shipped:
        print(f"no shipped methods in {METHODS}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fill(folder, shipped, FILES)
        size = sum(p.stat().st_size for p in folder.iterdir())
        times = []
        for _ in range(RUNS):
            seconds, library = time_library(folder)
            times.append(seconds)
        if len(library) != FILES:
            print(f"only {len(library)} of {FILES} files loaded: {dict(library.refused)}", file=sys.stderr)
            return 1
    shipped_s = min(time_library(METHODS)[0] for _ in range(RUNS))

    best, median = min(times), statistics.median(times)
    print(f"{FILES} method files ({size / 1024:.0f} KB), read and checked: best {best * 1000:.1f} ms, "
          f"median {median * 1000:.1f} ms of {RUNS} runs; {best / FILES * 1000:.2f} ms per file")
    print(f"the {len(shipped)} shipped methods: {shipped_s * 1000:.1f} ms")
    figures = {"files": FILES, "load_s": round(best, 4), "load_median_s": round(median, 4),
               "per_file_ms": round(best / FILES * 1000, 3), "shipped_files": len(shipped),
               "shipped_load_s": round(shipped_s, 4), "target_s": 0.5, "met": best < 0.5}

    try:
        from intervisor.core.rehearsal import rehearse
    except ImportError:
        rehearse = None
    if rehearse is not None:
        methods = [load_method(p).method for p in shipped]
        longest = max((m for m in methods if m is not None),
                      key=lambda m: max(m.planned_seconds(k) for k in plan_keys(m)))
        choices = max(plan_keys(longest), key=longest.planned_seconds)
        runs = []
        for _ in range(RUNS):
            start = time.perf_counter()
            result = rehearse(longest, choices)
            runs.append(time.perf_counter() - start)
        print(f"rehearsal of the longest method, {longest.id} ({longest.planned_seconds(choices) / 3600:.1f} h "
              f"planned, {len(result.events)} timeline events): best {min(runs) * 1000:.1f} ms")
        figures.update({"rehearse_method": longest.id, "rehearse_s": round(min(runs), 4)})
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
