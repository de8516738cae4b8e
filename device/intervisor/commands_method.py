"""Commands of the method library and the engine: check, methods, rehearse."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the method library (check, methods) and the engine (rehearse)."""
