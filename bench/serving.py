"""The real `intervisor serve` for the start-up benches (bench/startup.py,
bench/piper_fill.py): every shipped method copied in, started, timed from
process start to the READY=1 it sends on its notify socket.

    with ready_service(folder, cache, "audio: {enabled: true}\\n") as (serve, ready_s):
        ...   # serve is the tests' own driver (tests/test_service.py's Serve)
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from test_service import Serve  # noqa: E402  (the tests' own driver of the process)


def with_shipped_methods(folder: Path, cache: Path, config: str) -> Serve:
    """A service in ``folder`` with ``config``, the prompt cache ``cache``
    and every shipped method, not started yet."""
    serve = Serve(folder, config, cache=cache)
    for method in sorted((REPO / "methods").glob("*.yaml")):
        shutil.copy(method, serve.methods / method.name)
    return serve


@contextlib.contextmanager
def ready_service(folder: Path, cache: Path, config: str, timeout: float = 300) -> Iterator[tuple[Serve, float]]:
    """The service started and READY: ``(serve, seconds from start to READY=1)``;
    closed (killed if still running) on leaving."""
    serve = with_shipped_methods(folder, cache, config)
    try:
        began = time.monotonic()
        serve.start(wait_ready=False)
        serve.expect("READY=1", timeout=timeout)
        yield serve, time.monotonic() - began
    finally:
        serve.close()
