"""Reading write-ups from files, stdin and JSONL batches, with clear errors."""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from mapper.errors import InputError
from mapper.text import MAX_TEXT_CHARS

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


def _bad_byte(raw: bytes) -> tuple[int, int]:
    """(offset, value) of the first byte of ``raw`` that is not valid UTF-8 (offsets count from 0); call it only
    for bytes that failed to decode."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start, raw[exc.start]
    raise ValueError("the bytes are valid UTF-8")


def iconv_command(file: Path) -> str:
    """The command that converts ``file`` from Latin-1 (the usual culprit) to UTF-8, beside it."""
    converted = file.with_name(f"{file.stem}.utf8{file.suffix}")
    return f"iconv -f latin1 -t utf-8 {shlex.quote(str(file))} > {shlex.quote(str(converted))}"


def decode_text(raw: bytes, where: str, fix: str | None = None) -> str:
    """``raw`` as text (a UTF-8 byte-order mark dropped, NUL bytes made spaces), or a one-line InputError that
    names the first bad byte and how to convert the file (``fix``: the command to suggest)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        offset, value = _bad_byte(raw)
        raise InputError(
            f"{where} is not UTF-8 text (byte 0x{value:02X} at offset {offset} is not valid UTF-8); convert it, "
            f"for example with {fix or 'iconv -f latin1 -t utf-8'}"
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
        source, content = str(file), decode_text(raw, str(file), iconv_command(file))
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


def check_source(source: Path) -> None:
    """Refuse, with one line naming the problem and the fix, a batch input that cannot be read as one: a path
    that does not exist, a Parquet file without the columns, or a file that is not JSON Lines at all (binary, or
    text whose first non-blank line does not start a JSON object). Reads only the start of a JSONL file; the
    bad lines of a real JSONL file are left to their own error rows."""
    source = Path(source)
    if source.is_dir():
        return
    if not source.is_file():
        raise InputError(f"{source} does not exist; give a JSONL or Parquet file or a folder of .txt/.md files")
    if is_parquet(source):
        parquet_rows(source)
        return
    try:
        with open(source, "rb") as handle:
            _check_jsonl_start(source, handle)
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror}") from None


# the start of files that are certainly not JSON Lines, and what to call them
_BINARY_STARTS = (
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (or a DOCX, XLSX or ODT document)"),
    (b"\x1f\x8b", "a gzip-compressed file"), (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"SQLite format 3\x00", "an SQLite database"),
)
_NOT_JSONL_FIX = ("batch reads JSON Lines, one {\"id\": ..., \"text\": ...} object per line (or a Parquet file, or "
                  "a folder of .txt/.md files)")
_SNIFF_BYTES = 1 << 16


def _check_jsonl_start(source: Path, handle) -> None:
    head = handle.read(_SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{source} is UTF-16 text, not UTF-8 JSON Lines; convert it, for example with "
                         + iconv_command(source).replace("-f latin1", "-f utf-16", 1))
    for start, what in _BINARY_STARTS:
        if head.startswith(start):
            raise InputError(f"{source} is {what}, not JSON Lines; extract its text first: {_NOT_JSONL_FIX}")
    if b"\x00" in head:
        raise InputError(f"{source} is binary (it holds NUL bytes), not JSON Lines; {_NOT_JSONL_FIX}")
    line, data = 1, head.removeprefix(b"\xef\xbb\xbf")
    while data:  # the first byte that is not blank: a JSON Lines file starts its first record there
        stripped = data.lstrip(b" \t\r\n\x0b\x0c")
        line += data[:len(data) - len(stripped)].count(b"\n")
        if stripped:
            if not stripped.startswith(b"{"):
                raise InputError(
                    f"{source} is not JSON Lines: its first non-blank line (line {line}) is not a JSON object; use "
                    f"`atlas-mapper map {shlex.quote(str(source))}` for one write-up, or give JSON Lines with a "
                    "\"text\" field (and an \"id\") on every line")
            return
        data = handle.read(_SNIFF_BYTES)  # an empty file, or only blank lines so far


def iter_records(source: Path, max_chars: int = MAX_TEXT_CHARS):
    """Records of a JSONL file or a folder of text files, in input order; bad ones carry an error.
    An input that is not one at all is refused first (:func:`check_source`)."""
    source = Path(source)
    check_source(source)
    if source.is_dir():
        yield from folder_records(text_files(source), max_chars)
        return
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
    import pyarrow.parquet as pq  # the [dask] extra: the command line names it when pyarrow is missing

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
            text = decode_text(file.read_bytes(), str(file), iconv_command(file))
            error = None if len(text) <= max_chars else f"more than {max_chars:,} characters"
            yield Record(n, file.name, text if error is None else None, error)
        except (InputError, OSError) as exc:
            yield Record(n, file.name, None, str(exc))


# The same words whichever process reads the line (one process or a cluster worker), so they name no file.
NOT_UTF8_FIX = ("the file is not UTF-8 text: convert the whole file, for example with "
                "iconv -f latin1 -t utf-8 in.jsonl > in.utf8.jsonl, and run the batch on the converted file")


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
            line = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            offset, value = _bad_byte(raw)
            yield Record(n, None, None, f"line {n} is not UTF-8 (byte 0x{value:02X} at offset {offset} of the line); "
                                        f"{NOT_UTF8_FIX}")
            continue
        try:
            obj = json.loads(line.replace("\x00", " "))
        except json.JSONDecodeError as exc:
            where = "the end of the line" if exc.pos >= len(line.rstrip()) else f"character {exc.pos + 1} of the line"
            yield Record(n, None, None, f"not valid JSON ({exc.msg} at {where})")
            continue
        except ValueError as exc:  # json's other refusals, e.g. a number too long to convert
            yield Record(n, None, None, f"not valid JSON ({' '.join(str(exc).split())})")
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
