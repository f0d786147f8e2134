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
        files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        for n, file in enumerate(files, 1):
            try:
                text = decode_text(file.read_bytes(), str(file))
                error = None if len(text) <= max_chars else f"more than {max_chars:,} characters"
                yield Record(n, file.name, text if error is None else None, error)
            except (InputError, OSError) as exc:
                yield Record(n, file.name, None, str(exc))
        return
    if not source.is_file():
        raise InputError(f"{source} does not exist; give a JSONL file or a folder of .txt/.md files")
    seen: set[str] = set()
    with open(source, "rb") as handle:
        for n, raw in enumerate(handle, 1):
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
            rid = obj.get("id")
            rid = None if rid is None else str(rid)
            text = obj.get("text")
            if not isinstance(text, str):
                yield Record(n, rid, None, "missing 'text' (a string)")
            elif len(text) > max_chars:
                yield Record(n, rid, None, f"text has more than {max_chars:,} characters")
            elif rid is not None and rid in seen:
                yield Record(n, rid, None, f"duplicate id {rid!r}")
            else:
                if rid is not None:
                    seen.add(rid)
                yield Record(n, rid, text)
