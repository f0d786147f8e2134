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
