"""Map many write-ups in one run: one output line per input line, in order, resumable."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mapper.inputs import iter_records
from mapper.rank import Mapper


def _done_lines(out: Path) -> int:
    """Complete lines already in ``out``; a torn last line (crash mid-write) is cut off."""
    if not out.exists():
        return 0
    with open(out, "rb+") as handle:
        data = handle.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            handle.truncate(keep)
    return data[:keep].count(b"\n")


def run_batch(mapper: Mapper, source: Path, out: Path, top_k: int = 10, threshold: float | None = None,
              resume: bool = False, max_chars: int = 2_000_000, progress: bool = False) -> dict:
    skip = _done_lines(out) if resume else 0
    stats = {"written": 0, "errors": 0, "skipped": skip}
    mode = "ab" if resume else "wb"
    with open(out, mode) as handle:
        for record in iter_records(Path(source), max_chars):
            if record.line <= skip:
                continue
            if record.error is not None:
                row = {"id": record.id, "line": record.line, "error": record.error}
                stats["errors"] += 1
            else:
                result = mapper.map(record.text, top_k=top_k, threshold=threshold)
                row = {"id": record.id, "line": record.line, **result.to_dict()}
            # one write per record, flushed, so an interruption loses at most the line in flight
            handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            handle.flush()
            stats["written"] += 1
            if progress and stats["written"] % 10 == 0:
                print(f"\r{stats['written'] + skip} done", end="", file=sys.stderr, flush=True)
        os.fsync(handle.fileno())
    if progress:
        print(file=sys.stderr)
    return stats
