"""Reading write-ups from files, stdin and JSONL batches, with clear errors."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from mapper.errors import InputError
from mapper.text import MAX_TEXT_CHARS

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


def decode_text(raw: bytes, where: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where} is not UTF-8 text (bad byte at offset {exc.start}); convert it, "
            "for example with 'iconv -f latin1 -t utf-8'"
        ) from None
    return text.replace("\x00", " ")


def read_text(path: str | None, text: str | None, max_chars: int = MAX_TEXT_CHARS) -> tuple[str, str]:
    """(text, where it came from) from --text, a file, or '-' for standard input."""
    if text is not None and path is not None:
        raise InputError("give either FILE or --text, not both")
    if text is not None:
        source, content = "--text", text
    elif path is None or path == "-":
        if path is None and sys.stdin.isatty():
            raise InputError("no write-up given: pass FILE, '-' for standard input, or --text TEXT")
        raw = sys.stdin.buffer.read(max_chars * 4 + 4)
        source, content = "standard input", decode_text(raw, "standard input")
    else:
        file = Path(path)
        if not file.is_file():
            raise InputError(f"{file} does not exist or is not a file; check the path")
        try:
            with open(file, "rb") as handle:
                raw = handle.read(max_chars * 4 + 4)
        except OSError as exc:
            raise InputError(f"cannot read {file}: {exc.strerror}") from None
        source, content = str(file), decode_text(raw, str(file))
    if len(content) > max_chars:
        raise InputError(
            f"{source} has more than {max_chars:,} characters; split it or raise the limit with --max-chars"
        )
    return content, source


@dataclass
class Record:
    line: int  # 1-based input line (or file number for a folder)
    id: str | None
    text: str | None
    error: str | None = None


def iter_records(source: Path, max_chars: int = MAX_TEXT_CHARS):
    """Records of a JSONL file or a folder of text files, in input order; bad ones carry an error."""
    if source.is_dir():
        yield from folder_records(text_files(source), max_chars)
        return
    if not source.is_file():
        raise InputError(f"{source} does not exist; give a JSONL or Parquet file or a folder of .txt/.md files")
    if is_parquet(source):
        yield from parquet_records(source, 0, parquet_rows(source), max_chars)
        return
    with open(source, "rb") as handle:
        yield from jsonl_records(handle, max_chars)


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def parquet_rows(path: Path) -> int:
    """Rows of a Parquet file of write-ups, which must have 'id' and 'text' columns."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path} is Parquet, which needs pyarrow: pip install 'atlas-mapper[dask]'") from None
    try:
        names = set(pq.read_schema(path).names)
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises its own error types for a damaged file
        raise InputError(f"{path} is not a readable Parquet file ({exc})") from None
    if not {"id", "text"} <= names:
        raise InputError(f"{path} needs the columns 'id' and 'text' (it has: {', '.join(sorted(names))})")
    return rows


def parquet_records(path: Path, start: int, end: int, max_chars: int = MAX_TEXT_CHARS,
                    duplicates: frozenset = frozenset()):
    """Rows [start, end) of a Parquet file as records numbered from start + 1 (row ranges are partitions);
    ``duplicates`` as for :func:`jsonl_records`."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["id", "text"]).slice(start, end - start)
    seen: set[str] = set()
    for n, (rid, text) in enumerate(zip(table.column("id").to_pylist(), table.column("text").to_pylist()), start + 1):
        yield _checked(n, rid, text, max_chars, seen, duplicates)


def text_files(folder: Path) -> list[Path]:
    """The write-ups of a folder, in the order a batch numbers them."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)


def folder_records(files: list[Path], max_chars: int = MAX_TEXT_CHARS, first: int = 1):
    for n, file in enumerate(files, first):
        try:
            text = decode_text(file.read_bytes(), str(file))
            error = None if len(text) <= max_chars else f"more than {max_chars:,} characters"
            yield Record(n, file.name, text if error is None else None, error)
        except (InputError, OSError) as exc:
            yield Record(n, file.name, None, str(exc))


def jsonl_records(lines, max_chars: int = MAX_TEXT_CHARS, first: int = 1, duplicates: frozenset = frozenset()):
    """Records of JSONL lines (bytes) numbered from ``first``. An id already used by an earlier good record is
    an error; ``duplicates``: line numbers known to repeat an id seen before ``first`` (see mapper.io.cluster)."""
    seen: set[str] = set()
    for n, raw in enumerate(lines, first):
        if len(raw) > max_chars * 4 + 1024:
            yield Record(n, None, None, f"line is {len(raw):,} bytes, over the limit; split the record")
            continue
        if not raw.strip():
            yield Record(n, None, None, "empty line")
            continue
        try:
            obj = json.loads(decode_text(raw, f"line {n}"))
        except (InputError, ValueError) as exc:
            yield Record(n, None, None, f"not valid JSON ({str(exc).splitlines()[0][:80]})")
            continue
        if not isinstance(obj, dict):
            yield Record(n, None, None, "not a JSON object with 'id' and 'text'")
            continue
        yield _checked(n, obj.get("id"), obj.get("text"), max_chars, seen, duplicates)


def _checked(n: int, rid, text, max_chars: int, seen: set[str], duplicates: frozenset) -> Record:
    """One record of a JSONL line or a Parquet row: its text checked, its id checked against ``seen`` (the ids of
    earlier good records, which this adds to) and against ``duplicates`` (lines known to repeat one)."""
    rid = None if rid is None else str(rid)
    if not isinstance(text, str):
        return Record(n, rid, None, "missing 'text' (a string)")
    if len(text) > max_chars:
        return Record(n, rid, None, f"text has more than {max_chars:,} characters")
    if rid is not None and (rid in seen or n in duplicates):
        return Record(n, rid, None, f"duplicate id {rid!r}")
    if rid is not None:
        seen.add(rid)
    return Record(n, rid, text)
