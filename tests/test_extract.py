"""Uploads to plain text: kinds judged by content, parsers time-limited in a child, clear refusals.

Every sample file is built here (a PDF by hand, a DOCX with python-docx), so no binary fixtures.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import pytest

from mapper.serve import extract
from mapper.errors import InputError
from mapper.serve.extract import Extracted, extract_text, sniff

from conftest import ROOT


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF: one Helvetica text line per page, a correct xref, an optional title."""
    def esc(s: str) -> bytes:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")

    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        stream = b"BT /F1 12 Tf 72 720 Td (" + esc(text) + b") Tj ET" if text else b""
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
                       "/Resources << /Font << /F1 3 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    if title is not None:
        objects.append(b"<< /Title (" + esc(title) + b") >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    info = b" /Info %d 0 R" % len(objects) if title is not None else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


def make_docx(title: str | None = "Quarterly incident") -> bytes:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_paragraph("The chatbot leaked its system prompt.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Vector", "Prompt injection"
    table.cell(1, 0).text, table.cell(1, 1).text = "Impact", "Data exposure"
    document.add_paragraph("Closing note after the table.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def encrypt(pdf: bytes, user_password: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def refused(data: bytes, filename: str | None = None, **kwargs) -> str:
    """The InputError message for an upload, checked to be one line."""
    with pytest.raises(InputError) as info:
        extract_text(data, filename, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message
    return message


# --- documents that parse ------------------------------------------------------------------------

def test_a_pdf_gives_its_pages_joined_by_blank_lines_and_its_title():
    got = extract_text(make_pdf(["Model weights were stolen.", "The API was abused."], title="Incident 7"))
    assert got == Extracted("Model weights were stolen.\n\nThe API was abused.", "pdf", "Incident 7")


def test_a_pdf_named_txt_is_judged_by_its_content():
    pdf = make_pdf(["Poisoned training data."])
    assert sniff(pdf, "notes.txt") == "pdf"
    got = extract_text(pdf, "notes.txt")
    assert got.kind == "pdf" and got.text == "Poisoned training data." and got.title is None


def test_a_docx_gives_paragraphs_and_table_cells_in_order_and_its_title():
    got = extract_text(make_docx(), "report.docx")
    assert got.kind == "docx" and got.title == "Quarterly incident"
    assert got.text.split("\n") == ["The chatbot leaked its system prompt.", "Vector", "Prompt injection",
                                    "Impact", "Data exposure", "Closing note after the table."]


def test_a_docx_without_a_title_has_none():
    assert extract_text(make_docx(title=None)).title is None


def test_html_drops_script_and_style_and_keeps_the_title():
    page = (b"<!DOCTYPE html><html><head><title>Bot &amp; abuse</title><style>p{color:red}</style></head>"
            b"<body><p>The model was jailbroken.</p><script>alert(1)</script></body></html>")
    got = extract_text(page, "page.txt")
    assert got.kind == "html" and got.title == "Bot & abuse"
    assert "The model was jailbroken." in got.text
    assert "alert" not in got.text and "color" not in got.text


@pytest.mark.parametrize("text, kind", [
    ("<!doctype html><p>hi</p>", "html"),
    ("\n  <!-- saved page --><html><p>hi</p></html>", "html"),
    ("<?xml version='1.0'?>\n<HTML><body>hi</body></HTML>", "html"),
    ("<head><title>t</title></head>hi", "html"),
    ("Some preamble\n" + "x" * 500 + "\n<body>hi</body>", "html"),  # <body> within the first 2 KB
    ("Some preamble\n" + "x" * 3000 + "\n<body>hi</body>", "text"),  # ... but not past it
    ("<header>not a page</header> just text", "text"),
    ("<p>a fragment of markup is still text</p>", "text"),
])
def test_html_is_recognised_by_its_first_tags(text, kind):
    assert sniff(text.encode(), "upload.txt") == kind


def test_markdown_is_told_by_the_name_only_when_the_content_is_text():
    assert sniff(b"# Incident\n\nText.", "notes.md") == "markdown"
    assert sniff(b"# Incident\n\nText.", "NOTES.Markdown") == "markdown"
    assert sniff(b"# Incident\n\nText.", "notes.txt") == "text"
    assert sniff(b"# Incident\n\nText.", None) == "text"
    assert sniff(b"plain words", "page.html") == "text"  # the name does not make it HTML
    got = extract_text(b"# Incident\n\nText.", "notes.md")
    assert got == Extracted("# Incident\n\nText.", "markdown", None)


def test_utf8_with_bom_and_crlf_becomes_clean_text():
    got = extract_text(b"\xef\xbb\xbfFirst line\r\nSecond line\r\n", "a.txt")
    assert got == Extracted("First line\nSecond line\n", "text", None)


def test_utf16_with_bom_is_text():
    got = extract_text("Caf\u00e9 bot\r\nleaked".encode("utf-16"))
    assert got.kind == "text" and got.text == "Caf\u00e9 bot\nleaked"


def test_a_pdf_with_only_an_owner_password_opens_like_in_any_viewer():
    got = extract_text(encrypt(make_pdf(["Permissions only."]), user_password=""))
    assert got.text == "Permissions only."


# --- refusals ------------------------------------------------------------------------------------

def test_an_encrypted_pdf_is_refused():
    message = refused(encrypt(make_pdf(["Secret."]), user_password="open-sesame"))
    assert "encrypted" in message and "remove the password" in message


def test_a_zip_that_is_not_a_docx_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    message = refused(buffer.getvalue(), "report.docx")
    assert "not a supported document" in message and "ZIP archive" in message and ".docx" in message


@pytest.mark.parametrize("data, detected", [
    (b"abc\x00\x01\x02def" * 10, "binary data"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
    (b"\x7fELF\x02\x01\x01\x00" + bytes(64), "executable"),
    (bytes(range(256)) * 4, "binary data"),
])
def test_binary_uploads_are_refused_naming_what_was_sent(data, detected):
    message = refused(data, "notes.txt")
    assert "not a supported document" in message and detected in message and "upload .txt" in message


def test_text_that_is_not_utf8_is_refused_with_the_fix():
    message = refused("Caf\u00e9 incident r\u00e9sum\u00e9".encode("latin-1"))
    assert "not UTF-8" in message and "save it as UTF-8" in message


def test_an_empty_upload_and_whitespace_only_text_are_refused():
    assert "empty" in refused(b"")
    assert "no text found" in refused(b" \r\n\t\n", "a.md")


def test_an_upload_over_the_limit_is_refused_naming_size_and_limit():
    message = refused(b"x" * 101, max_bytes=100)
    assert "101 bytes" in message and "100 bytes limit" in message
    assert extract_text(b"x" * 100, max_bytes=100).text == "x" * 100


def test_a_pdf_without_text_is_refused():
    assert "no text found in the PDF" in refused(make_pdf([""]))


def test_a_page_with_only_a_script_is_refused():
    assert "no text found in the HTML page" in refused(b"<html><body><script>var x = 1;</script></body></html>")


@pytest.mark.parametrize("data", [
    make_pdf(["Half a file."])[:40],
    b"%PDF-1.7\n" + b"not really a pdf at all " * 20,
])
def test_a_damaged_pdf_is_refused_clearly(data):
    message = refused(data, "report.pdf")
    assert "the PDF cannot be read" in message


def test_a_truncated_docx_is_refused_clearly():
    docx = make_docx()
    assert "the DOCX cannot be read" in refused(docx[: len(docx) // 2])


def test_a_docx_with_a_broken_document_part_is_refused_clearly():
    source, buffer = zipfile.ZipFile(io.BytesIO(make_docx())), io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            data = b"<w:document><unclosed" if item.filename == "word/document.xml" else source.read(item)
            archive.writestr(item, data)
    assert sniff(buffer.getvalue()) == "docx"
    assert "the DOCX cannot be read" in refused(buffer.getvalue())


# --- the child process ---------------------------------------------------------------------------

@pytest.fixture
def children(monkeypatch):
    """Every parser process started, kept so a test can check it was reaped."""
    started = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(extract.subprocess, "Popen", Recorded)
    return started


def test_a_parse_past_the_time_limit_is_killed_and_refused(children):
    message = refused(make_pdf(["Slow."]), timeout_s=0.001)
    assert "parsing the PDF took longer than 0.001 s" in message
    (child,) = children
    assert child.returncode is not None and child.returncode < 0  # killed by a signal, and reaped


def test_a_finished_parse_leaves_no_child_behind(children):
    extract_text(make_docx())
    (child,) = children
    assert child.returncode == 0 and child.stdout.closed and child.stdin.closed


def test_parsers_load_lazily_and_the_child_imports_nothing_heavy():
    heavy = ["pypdf", "docx", "inscriptis", "lxml", "numpy", "torch"]
    probe = (
        "import json, sys\n"
        "import mapper.serve.extract as m\n"
        "before = [n for n in %r if n in sys.modules]\n"
        "m._parse('pdf', sys.stdin.buffer.read())\n"
        "m._parse('docx', %r)\n"
        "print(json.dumps([before, sorted(sys.modules)]))\n"
    ) % (heavy, make_docx())
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + probe],
                         input=make_pdf(["x"]), capture_output=True, timeout=60, check=True)
    before, after = json.loads(run.stdout)
    assert before == []  # importing the module (as the CLI does) loads no parser
    assert "pypdf" in after and "docx" in after
    assert "numpy" not in after and "torch" not in after and "mapper.pipeline" not in after
