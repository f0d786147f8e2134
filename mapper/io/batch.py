"""Map many write-ups in one run: one output line per input line, in order, resumable."""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from mapper.errors import InputError, OutputError
from mapper.io.inputs import check_source, iter_records
from mapper.pipeline import MIN_SUGGESTIONS, Mapper
from mapper.text import MAX_TEXT_CHARS


def unfinished_path(out: Path) -> Path:
    """Where a batch writing ``out`` keeps its lines until it has finished: beside ``out`` (so the final rename is
    atomic, and ``out`` never exists half-written), under a fixed name (so --resume finds it after a crash)."""
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


@contextmanager
def batch_output(source: Path, out: Path, resume: bool = False, force: bool = False):
    """The file a batch writing ``out`` writes its lines to (:func:`unfinished_path`), checked and prepared before
    anything is created; on success it becomes ``out`` (a rename, or the conversion to Parquet), on failure it is
    dropped if it holds no complete line and kept for ``--resume`` (and named on stderr) if it does."""
    out, source = Path(out), Path(source)
    parquet = out.suffix.lower() == ".parquet"
    work = unfinished_path(out)
    if out.is_dir():
        raise OutputError(f"{out} is a folder; give the path of the output file")
    if out.exists() and not force and not (resume and not parquet):
        raise OutputError(f"{out} exists; pass --force to start over" + ("" if parquet else " or --resume to continue it"))
    if work.exists() and not resume and not force:
        raise OutputError(f"{work} holds the lines of an unfinished run; pass --resume to continue it or --force "
                          "to start over")
    if resume and parquet and not work.exists():
        raise OutputError(f"nothing to resume: {work} (the unfinished run's lines) does not exist; run without --resume")
    check_source(source)  # a missing or unreadable input fails before anything is created
    if parquet:
        import pyarrow.parquet  # noqa: F401  (the [dask] extra: missing, it is named now, not after the run)
    if resume and not parquet and not work.exists() and out.exists():
        shutil.copyfile(out, work)  # a finished output (or one an older version tore) is continued in a copy
    try:
        yield work
    except BaseException:
        _left_unfinished(work)
        raise
    if parquet:
        jsonl_to_parquet(work, out)
        work.unlink()
    else:
        os.replace(work, out)


def _left_unfinished(work: Path) -> None:
    """After a failed run: drop an unfinished file with no complete line; keep one with lines, and say so."""
    try:
        with open(work, "rb") as handle:
            lines = handle.read().count(b"\n")
    except OSError:
        return
    if not lines:
        work.unlink(missing_ok=True)
        return
    print(f"atlas-mapper: the {lines} lines written so far are kept in {work}; rerun with --resume to finish "
          "the run, or --force to start over", file=sys.stderr)


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


# Records whose sentences are encoded together. Chunks are fixed by line number (lines 1-64, 65-128, ...) and
# the encoder's cache is emptied between them, so a record's embeddings depend only on its own chunk: a resumed
# run, or a cluster whose partitions are whole chunks (mapper.io.cluster), writes the same bytes as one pass.
CHUNK = 64


def chunk_of(line: int) -> int:
    return (line - 1) // CHUNK


def output_lines(mapper: Mapper, records, skip: int = 0, top_k: int = 10, threshold: float | None = None,
                 max_chars: int = MAX_TEXT_CHARS, platform: str | None = None,
                 min_suggestions: int = MIN_SUGGESTIONS):
    """(its output line as bytes, whether it is an error line) for every record after line ``skip``, chunk by chunk."""
    chunk: list = []
    for record in records:
        if chunk and chunk_of(record.line) != chunk_of(chunk[0].line):
            yield from _map_chunk(mapper, chunk, skip, top_k, threshold, max_chars, platform, min_suggestions)
            chunk = []
        if chunk_of(record.line) >= chunk_of(skip + 1):  # chunks wholly done are not mapped again
            chunk.append(record)
    if chunk:
        yield from _map_chunk(mapper, chunk, skip, top_k, threshold, max_chars, platform, min_suggestions)


def _map_chunk(mapper: Mapper, chunk: list, skip: int, *options):
    from concurrent.futures import ThreadPoolExecutor

    from mapper.encode.threads import blas_threads, one_blas_thread

    mapper.encoder.clear()  # nothing carried over from another chunk
    mapper.prefetch([r.text for r in chunk if r.error is None], options[2])
    # The chunk's sentences are encoded; what is left per record is small products, so the records share the
    # cores, each on one BLAS thread (a Dask worker, given one thread, maps them in turn). Rows come in order.
    records = [r for r in chunk if r.line > skip]
    with one_blas_thread(), ThreadPoolExecutor(blas_threads()) as pool:
        for row in pool.map(lambda record: _row(mapper, record, *options), records):
            yield jsonl_line(row).encode("utf-8"), "error" in row


def run_batch(mapper: Mapper, source: Path, out: Path, top_k: int = 10, threshold: float | None = None,
              resume: bool = False, max_chars: int = MAX_TEXT_CHARS, progress: bool = False,
              platform: str | None = None, min_suggestions: int = MIN_SUGGESTIONS) -> dict:
    if platform:
        mapper.kb.platform_name(platform)  # a bad platform fails here, before the output is touched
    check_source(Path(source))  # so does an input that is missing or not one at all
    skip = _done_lines(out) if resume else 0
    stats = {"written": 0, "errors": 0, "skipped": skip}
    mode = "ab" if resume else "wb"
    with open(out, mode) as handle:
        # input is streamed, so memory does not grow with the file
        for line, error in output_lines(mapper, iter_records(Path(source), max_chars), skip, top_k, threshold,
                                        max_chars, platform, min_suggestions):
            stats["errors"] += error
            # one write per record, flushed, so an interruption loses at most the line in flight
            handle.write(line)
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


def jsonl_to_parquet(jsonl: Path, parquet: Path) -> None:
    """A batch's JSONL output as Parquet: one row per line, with ``line``, ``id``, ``error`` and ``result``
    (the whole JSON line, so nothing is lost in translation). Written atomically (a temporary file, then renamed)."""
    import pyarrow as pa  # the [dask] extra: the command line names it when pyarrow is missing
    import pyarrow.parquet as pq

    from mapper.files import atomic_write_bytes

    columns: dict[str, list] = {"line": [], "id": [], "error": [], "result": []}
    with open(jsonl, "rb") as handle:
        for raw in handle:
            row = json.loads(raw)
            columns["line"].append(row.get("line"))
            columns["id"].append(row.get("id"))
            columns["error"].append(row.get("error"))
            columns["result"].append(raw.decode("utf-8").rstrip("\n"))
    sink = pa.BufferOutputStream()  # the columns are in memory already; the file is about their size
    pq.write_table(pa.table(columns), sink)
    atomic_write_bytes(parquet, sink.getvalue().to_pybytes())
