"""Saying what a slow first run is doing (building the index, training the ranker).

Always on standard error, never standard output (JSON on stdout stays parseable), and as plain lines with no
terminal control codes, so that a pipe, a log file or a service journal records them as a terminal shows them.
``--quiet`` on the command line, or ``ATLAS_MAPPER_QUIET=1`` in the environment (worker processes inherit it),
silences them.
"""

from __future__ import annotations

import os
import sys

QUIET_ENV = "ATLAS_MAPPER_QUIET"
_silenced = {"flag": False}  # set by the command line's --quiet for the command being run


def silence(flag: bool) -> None:
    """Silence (or not) progress messages in this process: the command line's --quiet."""
    _silenced["flag"] = bool(flag)


def quiet() -> bool:
    """True when progress messages are silenced (--quiet, or ATLAS_MAPPER_QUIET set to anything but 0/false/no/off)."""
    if _silenced["flag"]:
        return True
    return os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def announce(message: str, stream=None) -> None:
    """One progress line on standard error (or ``stream``), unless silenced."""
    if quiet():
        return
    print(f"atlas-mapper: {message}", file=stream or sys.stderr, flush=True)
