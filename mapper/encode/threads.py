"""One BLAS thread for the small matrix products of records mapped side by side, safely across threads.

A record's scoring multiplies a few sentence vectors by a few thousand exemplar rows. OpenBLAS spreads even such
products over every core; when records are mapped on every core already (``batch``), each asking for all of
them costs more than it gains: one thread cut a record's scoring from 13.3 to 10.4 ms on a busy 2-core host
(``eval/bench/record_parts.py``). The thread count is a process-wide setting, so overlapping users share one
limit: the first in sets one thread, the last out restores what the first found. The libraries limited are those
loaded at the first limit (numpy's BLAS, which scoring uses); one loaded later, say by a library the caller
imports, is left alone.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from functools import lru_cache

_lock = threading.Lock()
_active = 0
_limiter = None  # threadpoolctl's record of the limit set, and of what it replaced
_original = 0  # BLAS threads before the limit


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _blas_now() -> int:
    counts = [lib["num_threads"] for lib in _controller().info() if lib["user_api"] == "blas"]
    return max(1, min(counts) if counts else (os.cpu_count() or 1))


@contextmanager
def one_blas_thread():
    """Run the block with BLAS on one thread (re-entrant and thread-safe; see the module docstring)."""
    global _active, _limiter, _original
    with _lock:
        if _active == 0:
            _original = _blas_now()
            _limiter = _controller().limit(limits=1, user_api="blas")
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _limiter.restore_original_limits()
                _limiter = None


def blas_threads() -> int:
    """The BLAS thread count this process was given (a Dask worker gets 1), whether or not a limit is active."""
    with _lock:
        return _original if _active else _blas_now()
