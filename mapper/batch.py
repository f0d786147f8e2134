"""Map many write-ups in one run: one output line per input line, in order, resumable."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mapper.errors import InputError
from mapper.inputs import iter_records
from mapper.rank import MIN_SUGGESTIONS, Mapper
from mapper.text import MAX_TEXT_CHARS


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


# JSON leaves these unescaped, yet many line readers (Python's str.splitlines among them) break lines at them
_LINE_BREAKS_JSON_KEEPS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def jsonl_line(row: dict) -> str:
    """One JSONL line that every line reader sees as one line."""
    text = json.dumps(row, ensure_ascii=False)
    for char, escaped in _LINE_BREAKS_JSON_KEEPS.items():
        text = text.replace(char, escaped)
    return text + "\n"


CHUNK = 64  # records whose sentences are encoded together


def _chunks(records, size: int):
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_batch(mapper: Mapper, source: Path, out: Path, top_k: int = 10, threshold: float | None = None,
              resume: bool = False, max_chars: int = MAX_TEXT_CHARS, progress: bool = False,
              platform: str | None = None, min_suggestions: int = MIN_SUGGESTIONS) -> dict:
    if platform:
        mapper.kb.platform_name(platform)  # a bad platform fails here, before the output is touched
    skip = _done_lines(out) if resume else 0
    stats = {"written": 0, "errors": 0, "skipped": skip}
    mode = "ab" if resume else "wb"
    records = (r for r in iter_records(Path(source), max_chars) if r.line > skip)
    with open(out, mode) as handle:
        for chunk in _chunks(records, CHUNK):
            # one encoding pass per chunk; input is streamed, so memory does not grow with the file
            mapper.prefetch([r.text for r in chunk if r.error is None], max_chars)
            for record in chunk:
                row = _row(mapper, record, top_k, threshold, max_chars, platform, min_suggestions)
                stats["errors"] += "error" in row
                # one write per record, flushed, so an interruption loses at most the line in flight
                handle.write(jsonl_line(row).encode("utf-8"))
                handle.flush()
                stats["written"] += 1
                if progress and stats["written"] % 10 == 0:
                    print(f"\r{stats['written'] + skip} done", end="", file=sys.stderr, flush=True)
        os.fsync(handle.fileno())
    if progress:
        print(file=sys.stderr)
    return stats


def _row(mapper: Mapper, record, top_k: int, threshold: float | None, max_chars: int,
         platform: str | None, min_suggestions: int) -> dict:
    if record.error is not None:
        return {"id": record.id, "line": record.line, "error": record.error}
    try:
        result = mapper.map(record.text, top_k=top_k, threshold=threshold, max_chars=max_chars, platform=platform,
                            min_suggestions=min_suggestions)
    except InputError as exc:  # this record is bad, not the run
        return {"id": record.id, "line": record.line, "error": str(exc)}
    return {"id": record.id, "line": record.line, **result.to_dict()}
