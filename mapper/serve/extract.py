"""Plain text from an uploaded file, for the web app's upload form.

An upload is untrusted bytes with an untrusted name, so the kind is decided by the content
(:func:`sniff`): a PDF named ``notes.txt`` is read as a PDF, and anything that is not text, HTML,
PDF or DOCX is refused with a message that says what to upload instead.

Parsing a PDF, a DOCX or an HTML page runs in a short-lived child process
(``python -I -c ...`` importing only this module and the one parser it needs), fed the bytes on
stdin and answering JSON on stdout, because:

* a hostile or just unlucky file can make a parser spin or swell (pypdf on a crafted xref, a zip
  bomb inside a DOCX, 20 MB of HTML takes inscriptis 10 s or more of pure Python); the child is
  killed when ``timeout_s`` passes, capped in memory, and never holds the server's GIL;
* the server runs torch threads, so forking it is unsafe; ``subprocess`` execs a fresh
  interpreter at once, and JSON back means nothing is ever unpickled;
* the upload stays in memory and pipes: nothing is written to disk, so nothing can land outside
  the data folder.

Plain text and Markdown need no parser and are decoded here. Parsing libraries are imported
inside functions so that the CLI, which imports this module, starts fast.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mapper.errors import InputError, MapperError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
PARSE_TIMEOUT_S = 20.0
CHILD_MEMORY_BYTES = 2 * 1024**3  # address space for the parser child: room for a big PDF, not for a bomb

KINDS = ("text", "markdown", "html", "pdf", "docx")
_LABEL = {"text": "text file", "markdown": "Markdown file", "html": "HTML page", "pdf": "PDF", "docx": "DOCX"}
_SUPPORTED = "upload .txt, .md, .html, .pdf or .docx"
_PARSED = ("html", "pdf", "docx")  # the kinds parsed in the child process

# Formats people upload by mistake, named in the refusal so they know what they sent.
_MAGIC = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an executable"), (b"MZ", "a Windows executable"), (b"\x1f\x8b", "gzip data"),
    (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7z archive"),
    (b"\xd0\xcf\x11\xe0", "an old Word or Excel file (.doc/.xls)"),
)

# "Looks like HTML": after whitespace, comments and an XML declaration, the first tag is a doctype
# or <html>/<head>/<body>. Single-character \s keeps the star linear (no backtracking blow-up).
_HTML_START = re.compile(r"(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_ANYWHERE = re.compile(r"<(?:html|body)\b", re.I)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_CONTROLS = tuple(chr(c) for c in range(32) if chr(c) not in "\t\n\r\f\v")


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: str  # 'text' | 'markdown' | 'html' | 'pdf' | 'docx'
    title: str | None  # HTML <title>, PDF metadata title, DOCX core-properties title; else None


def sniff(data: bytes, filename: str | None = None) -> str:
    """The kind of an upload, judged by its content; the name only tells Markdown from text."""
    return _sniff(data, filename)[0]


def extract_text(data: bytes, filename: str | None = None, max_bytes: int = MAX_UPLOAD_BYTES,
                 timeout_s: float = PARSE_TIMEOUT_S) -> Extracted:
    """The plain text of an upload; every problem with the file is an :class:`InputError`."""
    if max_bytes <= 0 or not timeout_s > 0:
        raise MapperError(f"max_bytes ({max_bytes}) and timeout_s ({timeout_s}) must be positive")
    if len(data) > max_bytes:
        raise InputError(f"upload is {_size(len(data))}, over the {_size(max_bytes)} limit; "
                         "upload a smaller file or paste the text instead")
    kind, text = _sniff(data, filename)
    title = None
    if kind in _PARSED:
        # HTML goes to the child as the UTF-8 we already decoded (BOM and UTF-16 handled here).
        payload = text.encode("utf-8") if kind == "html" else data
        text, title = _parse_in_child(kind, payload, timeout_s)
    else:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        hint = " (a scanned image?)" if kind == "pdf" else ""
        raise InputError(f"no text found in the {_LABEL[kind]}{hint}; paste the text instead")
    return Extracted(text=text, kind=kind, title=title)


# --- sniffing ------------------------------------------------------------------------------------

def _sniff(data: bytes, filename: str | None) -> tuple[str, str | None]:
    """(kind, decoded text or None): extract_text reuses the text so it is decoded once."""
    if not data:
        raise InputError("upload is empty; choose a file with text in it")
    if data.startswith(b"%PDF-"):
        return "pdf", None
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data), None
    text = _decode(data)
    if text is None:
        raise InputError(_not_supported(data))
    if _HTML_START.match(text) or _HTML_ANYWHERE.search(text, 0, 2048):
        return "html", text
    if filename and filename.lower().endswith((".md", ".markdown")):
        return "markdown", text
    return "text", text


def _sniff_zip(data: bytes) -> str:
    # A DOCX is a zip with word/document.xml; other Office files and plain archives are refused.
    # Reading the member list touches only the central directory, so it is cheap and bomb-safe.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        if b"word/" in data:  # local headers survive truncation: it was meant to be a DOCX
            raise InputError(_unreadable("docx")) from None
        raise InputError(f"upload is not a supported document (detected: a damaged ZIP archive); {_SUPPORTED}") from None
    if "word/document.xml" in names:
        return "docx"
    what = ("an Excel workbook" if any(n.startswith("xl/") for n in names)
            else "a PowerPoint file" if any(n.startswith("ppt/") for n in names)
            else "a ZIP archive")
    raise InputError(f"upload is not a supported document (detected: {what}); {_SUPPORTED}")


def _decode(data: bytes) -> str | None:
    """The upload as text (UTF-8, with or without BOM; UTF-16 with BOM), or None if it is not text."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")  # the BOM picks the byte order and is dropped
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return text if _texty(text) else None


def _texty(text: str) -> bool:
    # Random bytes can decode as UTF-8; real text has no NULs and almost no control characters.
    if "\x00" in text:
        return False
    controls = sum(map(text.count, _CONTROLS))  # a few C-speed passes, fine for 20 MB
    return controls <= len(text) // 100


def _not_supported(data: bytes) -> str:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"upload is not a supported document (detected: {what}); {_SUPPORTED}"
    if b"\x00" not in data and _texty(data.decode("latin-1")):
        return "upload is text but not UTF-8; save it as UTF-8 and upload it again"
    return f"upload is not a supported document (detected: binary data); {_SUPPORTED}"


def _unreadable(kind: str) -> str:
    return f"the {_LABEL[kind]} cannot be read (it is damaged or not a real {_LABEL[kind]}); save it again or paste the text instead"


def _size(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n} bytes"
    return f"{n / (1024 * 1024):.1f} MB"


# --- the parser child ----------------------------------------------------------------------------

# The child imports this module from the same folder as the parent (not whatever -I finds), and
# -I keeps PYTHON* variables, the user site and the working directory out of its imports.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from mapper.serve.extract import _child_main; _child_main(sys.argv[2:])"


def _parse_in_child(kind: str, payload: bytes, timeout_s: float) -> tuple[str, str | None]:
    command = [sys.executable, "-I", "-c", _BOOT, _PACKAGE_ROOT, kind, repr(float(timeout_s))]
    try:
        with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) as child:
            try:
                out, _ = child.communicate(payload, timeout=timeout_s)
            except BaseException:
                child.kill()  # the time limit, or the server stopping: never leave a parser running
                raise
            # leaving the with-block closes the pipes and reaps the child
    except subprocess.TimeoutExpired:
        raise InputError(f"parsing the {_LABEL[kind]} took longer than {timeout_s:g} s; "
                         "upload a smaller file or paste the text instead") from None
    except OSError as exc:
        raise MapperError(f"could not start the document parser ({exc.strerror or exc}); try again") from None
    try:
        answer = json.loads(out) if child.returncode == 0 else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if answer.get("error") == "encrypted":
        raise InputError(f"the {_LABEL[kind]} is encrypted; remove the password and upload it again")
    if answer.get("error") == "memory":
        raise InputError(f"the {_LABEL[kind]} needs too much memory to read; upload a smaller file or paste the text instead")
    text, title = answer.get("text"), answer.get("title")
    if not isinstance(text, str) or not (title is None or isinstance(title, str)):
        raise InputError(_unreadable(kind))  # a parser error, a crash, or output we do not trust
    return text, title


def _child_main(argv: list[str]) -> None:
    """The child's whole life: limit itself, read stdin, parse, print one JSON object."""
    kind, timeout_s = argv[0], float(argv[1])
    _limit_self(timeout_s)
    data = sys.stdin.buffer.read()
    try:
        answer = _parse(kind, data)
    except MemoryError:
        answer = {"error": "memory"}
    except Exception:  # any parser failure is "cannot be read"; the parent words the message
        answer = {"error": "unreadable"}
    sys.stdout.write(json.dumps(answer))  # ASCII only, so the child's locale cannot matter
    sys.stdout.flush()


def _limit_self(timeout_s: float) -> None:
    # Backstops should the parent die before it can kill us: a CPU limit just past the wall-clock
    # one (CPU time never runs ahead of wall time, so the parent's kill always comes first), and a
    # memory cap so that a zip or stream bomb fails with MemoryError instead of swapping the host.
    try:
        import resource
    except ImportError:  # not on POSIX: the parent's kill is the only limit
        return
    cpu = math.ceil(timeout_s) + 2
    for limit, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, CHILD_MEMORY_BYTES)):
        try:
            _, hard = resource.getrlimit(limit)
            if hard == resource.RLIM_INFINITY or value <= hard:
                resource.setrlimit(limit, (value, hard))
        except (ValueError, OSError):
            pass


def _parse(kind: str, data: bytes) -> dict:
    if kind == "pdf":
        return _parse_pdf(data)
    if kind == "docx":
        return _parse_docx(data)
    if kind == "html":
        return _parse_html(data.decode("utf-8"))
    raise ValueError(f"no parser for {kind!r}")


def _parse_pdf(data: bytes) -> dict:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # warnings about sloppy files are noise here
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        # Many PDFs are "encrypted" only to set permissions, with an empty open password; any viewer
        # opens those, so we do too. A real password (or a cipher we cannot do) is refused.
        try:
            opened = reader.decrypt("")
        except Exception:
            opened = 0
        if not opened:
            return {"error": "encrypted"}
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    title = reader.metadata.title if reader.metadata else None
    return {"text": _clean("\n\n".join(p for p in pages if p)), "title": _title(title)}


def _parse_docx(data: bytes) -> dict:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    _docx_lines(document, lines)
    return {"text": _clean("\n".join(lines).strip()), "title": _title(document.core_properties.title)}


def _docx_lines(container, lines: list[str]) -> None:
    """Paragraphs and table cells in document order (a write-up's table sits where it was written)."""
    from docx.table import Table

    for block in container.iter_inner_content():
        if not isinstance(block, Table):
            lines.append(block.text)
            continue
        for row in block.rows:
            seen = set()
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell is listed once for each column it spans
                    continue
                seen.add(id(cell._tc))
                _docx_lines(cell, lines)  # a cell holds paragraphs and, sometimes, nested tables


def _parse_html(html: str) -> dict:
    import html as entities

    import inscriptis

    match = _TITLE.search(html)
    title = entities.unescape(match.group(1)) if match else None
    return {"text": _clean(inscriptis.get_text(html).strip()), "title": _title(title)}


def _title(value) -> str | None:
    title = " ".join(str(value).split()) if value is not None else ""
    return _clean(title) or None


def _clean(text: str) -> str:
    # Parsers can emit NULs and lone surrogates; neither belongs in text we store or send back.
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


if __name__ == "__main__":  # python -m mapper.serve.extract KIND TIMEOUT_S < upload: the child, run by hand
    _child_main(sys.argv[1:])
