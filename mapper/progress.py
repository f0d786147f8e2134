"""Telling a person at a terminal what a slow first run is doing; silent for pipes and files."""

from __future__ import annotations

import sys


def announce(message: str, stream=None) -> None:
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        print(f"atlas-mapper: {message}", file=stream, flush=True)
