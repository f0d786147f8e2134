import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mapper.io.batch import run_batch
from mapper.errors import InputError


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_line_per_input_in_order_with_errors(mini_mapper, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": "a", "text": "poison the training data"}),
        "{not json",
        json.dumps({"id": "b"}),
        json.dumps({"id": "a", "text": "duplicate id"}),
        "",
        json.dumps(["a list"]),
        json.dumps({"id": 7, "text": "flood the service"}),
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    stats = run_batch(mini_mapper, src, out)
    rows = _lines(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert stats == {"written": 7, "errors": 5, "skipped": 0}
    assert "techniques" in rows[0] and rows[0]["id"] == "a"
    assert "not valid JSON" in rows[1]["error"]
    assert "missing 'text'" in rows[2]["error"]
    assert "duplicate id" in rows[3]["error"]
    assert rows[4]["error"] == "empty line"
    assert rows[6]["id"] == "7" and "techniques" in rows[6]


def test_folder_of_text_files(mini_mapper, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "b.md").write_text("flood the service")
    (folder / "a.txt").write_text("poison the data")
    (folder / "c.txt").write_bytes(b"\xff\xfe bad bytes")
    (folder / "ignored.pdf").write_bytes(b"%PDF")
    out = tmp_path / "out.jsonl"
    run_batch(mini_mapper, folder, out)
    rows = _lines(out)
    assert [r["id"] for r in rows] == ["a.txt", "b.md", "c.txt"]
    assert "not UTF-8" in rows[2]["error"]


def test_resume_neither_duplicates_nor_loses(mini_mapper, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"prompt injection number {i}"}) + "\n" for i in range(6)))
    full = tmp_path / "full.jsonl"
    run_batch(mini_mapper, src, full)
    # simulate a crash after three complete lines and half of the fourth
    lines = full.read_text().splitlines(keepends=True)
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(lines[:3]) + lines[3][:20])
    stats = run_batch(mini_mapper, src, partial, resume=True)
    assert stats["skipped"] == 3 and stats["written"] == 3
    assert partial.read_text() == full.read_text()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=80), st.none()), max_size=12))
def test_batch_property_one_output_per_input(mini_mapper, tmp_path_factory, texts):
    folder = tmp_path_factory.mktemp("prop")
    src = folder / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    out = folder / "out.jsonl"
    run_batch(mini_mapper, src, out)
    rows = _lines(out)
    assert [r["line"] for r in rows] == list(range(1, len(texts) + 1))
    for row, text in zip(rows, texts):
        assert ("error" in row) == (text is None)


def test_unicode_line_separators_in_text_stay_inside_their_output_line(mini_mapper, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "poison\u2028the training\x85data\u2029"}) + "\n")
    out = tmp_path / "out.jsonl"
    run_batch(mini_mapper, src, out)
    (row,) = _lines(out)  # str.splitlines breaks at U+0085, U+2028 and U+2029 unless they are escaped
    assert row["id"] == "a"


def test_parquet_in_and_out_match_jsonl(mini_mapper, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from mapper.io.batch import jsonl_to_parquet

    rows = [{"id": "a", "text": "The attackers evaded the malware classifier model."},
            {"id": "b", "text": None}, {"id": "a", "text": "a repeated id"}]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]}), parquet)
    run_batch(mini_mapper, jsonl, tmp_path / "a.jsonl")
    run_batch(mini_mapper, parquet, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    jsonl_to_parquet(tmp_path / "a.jsonl", tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["id"] for r in table] == ["a", "b", "a"] and [r["line"] for r in table] == [1, 2, 3]
    assert table[1]["error"] and table[2]["error"] == "duplicate id 'a'"
    assert [json.loads(r["result"]) for r in table] == [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]


def test_a_parquet_file_without_the_columns_is_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from mapper.io.inputs import iter_records

    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="columns 'id' and 'text'"):
        list(iter_records(tmp_path / "bad.parquet"))


def test_a_line_that_is_not_utf8_gets_one_complete_line_naming_the_encoding_and_the_fix(mini_mapper, tmp_path):
    src = tmp_path / "in.jsonl"
    good = [json.dumps({"id": str(i), "text": "poison the training data"}).encode() for i in range(9)]
    src.write_bytes(b"\n".join(good + ['{"id": "x", "text": "caf\xe9 mod\xe8le"}'.encode("latin-1")]) + b"\n")
    out = tmp_path / "out.jsonl"
    run_batch(mini_mapper, src, out)
    error = _lines(out)[9]["error"]
    assert error == ("line 10 is not UTF-8 (byte 0xE9 at offset 24 of the line); the file is not UTF-8 text: convert "
                     "the whole file, for example with iconv -f latin1 -t utf-8 in.jsonl > in.utf8.jsonl, and run the "
                     "batch on the converted file")
    assert "JSON" not in error


def test_malformed_json_names_where_in_the_line(mini_mapper, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "x"}) + "\n" + '{"id": "b", "text": \n' + '{"id": "c" "text": "x"}\n')
    out = tmp_path / "out.jsonl"
    run_batch(mini_mapper, src, out)
    assert _lines(out)[1]["error"] == "not valid JSON (Expecting value at the end of the line)"
    assert _lines(out)[2]["error"] == "not valid JSON (Expecting ',' delimiter at character 12 of the line)"


def test_a_missing_input_fails_before_the_output_is_created(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        run_batch(None, tmp_path / "missing.jsonl", tmp_path / "out.jsonl")  # refused before any mapping
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("content, message", [
    (b"%PDF-1.4\n", "is a PDF document, not JSON Lines; extract its text first"),
    (b"PK\x03\x04\x14\x00", "is a ZIP archive (or a DOCX, XLSX or ODT document), not JSON Lines"),
    (b"\x00\x01\x02binary", "is binary (it holds NUL bytes), not JSON Lines"),
    ("\ufeffline one".encode("utf-16"), "is UTF-16 text, not UTF-8 JSON Lines; convert it, for example with iconv -f utf-16"),
    (b"Incident report\n\nThe attackers poisoned the model.\n", "its first non-blank line (line 1) is not a JSON object; "
     "use `atlas-mapper map "),
    (b"  \n\t\n[1, 2, 3]\n", "its first non-blank line (line 3) is not a JSON object"),
])
def test_an_input_that_is_not_json_lines_is_refused_before_the_output_is_created(tmp_path, content, message):
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    with pytest.raises(InputError, match="JSON Lines") as caught:
        run_batch(None, src, tmp_path / "out.jsonl")  # refused before any mapping
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("content", [
    b"",  # nothing to map is not an error
    b"\n\n" + json.dumps({"id": "a", "text": "x"}).encode() + b"\n",  # blank lines first: their own error rows
    b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": "x"}).encode() + b"\n",  # a byte-order mark
    b'{"id": "a", "text": \n' + json.dumps({"id": "b", "text": "x"}).encode() + b"\n",  # a torn first record
    b'{"id": "a", "text": "caf\xe9"}\n',  # one record in Latin-1: its own error row names the encoding
])
def test_json_lines_with_bad_lines_are_accepted_and_get_error_rows(content, tmp_path):
    from mapper.io.inputs import check_source, iter_records

    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    check_source(src)
    records = list(iter_records(src))
    assert len(records) == content.count(b"\n")
