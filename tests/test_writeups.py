"""Labelled write-ups as training data, and the dev half the shipped model learns from."""

import json

import pytest
import yaml

from mapper.errors import InputError
from mapper.model.writeups import SPLIT_FILE, benchmark_writeups, bundled_writeups, load_writeups, record_digest, writeups_key

from conftest import ROOT


def test_bundled_writeups_are_the_dev_half_our_first_files_and_the_corpus_training_split(monkeypatch):
    monkeypatch.setenv("ATLAS_MAPPER_CORPUS", "on")
    from mapper.model.corpus import overlap_items, read_sample

    benchmark = benchmark_writeups()
    frozen = json.loads((ROOT / "data" / "eval" / "wild" / SPLIT_FILE).read_text())["test"]
    assert not {w.id for w in benchmark} & set(frozen)  # the frozen test half never trains the shipped model
    assert len({w.id for w in benchmark}) == len(benchmark) == 61 + 41 - len(frozen) + 8 + 22
    bundled = bundled_writeups()
    ids = [w.id for w in bundled]
    assert len(set(ids)) == len(ids) and ids[:len(benchmark)] == [w.id for w in benchmark]
    corpus = set(ids[len(benchmark):])
    test_split = {e["id"] for e in read_sample() if e["split"] == "test"}
    about_benchmarks = {r for records in overlap_items().values() for r in records}
    assert len(corpus) > 2900 and not corpus & test_split and not corpus & about_benchmarks
    assert any(w.ai and w.rationale for w in bundled) and any(not w.ai for w in bundled)


def test_a_write_up_file_reads_labels_scope_and_rationale(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump([
        {"id": "a", "text": "bot", "techniques": ["AML.T0051"], "rationale": {"AML.T0051": "typed it in"}},
        {"id": "b", "text": "phish", "scope": "non-ai", "techniques": []},
    ]))
    a, b = load_writeups(path)
    assert a.ai and a.techniques == ("AML.T0051",) and a.rationale == {"AML.T0051": "typed it in"}
    assert not b.ai
    assert writeups_key([a, b]) != writeups_key([a])


@pytest.mark.parametrize("records, message", [
    ({"incidents": "nope"}, "expected a list"),
    ([{"text": "no id"}], "needs an 'id'"),
    ([{"id": "x", "text": "t", "rationale": ["not", "a", "map"]}], "'rationale' must map"),
])
def test_bad_write_up_files_are_refused(tmp_path, records, message):
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(records))
    with pytest.raises(InputError, match=message):
        load_writeups(path)


def test_test_half_digest_is_checked(tmp_path):
    rec = {"id": "t1", "text": "x", "techniques": ["AML.T0051"]}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump([rec, {"id": "d1", "text": "y", "techniques": []}]))
    (tmp_path / SPLIT_FILE).write_text(json.dumps({"test": {"t1": record_digest({**rec, "text": "changed"})}}))
    assert [w.id for w in load_writeups(tmp_path / "w.yaml", "dev")] == ["d1"]
    with pytest.raises(InputError, match="changed after the split was frozen"):
        load_writeups(tmp_path / "w.yaml", "test")


def test_the_corpus_setting_changes_the_training_texts_and_the_model_key(monkeypatch):
    from mapper.errors import UsageError
    from mapper.model.writeups import bundled_key

    monkeypatch.setenv("ATLAS_MAPPER_CORPUS", "off")
    assert [w.id for w in bundled_writeups()] == [w.id for w in benchmark_writeups()]
    without = bundled_key()
    monkeypatch.setenv("ATLAS_MAPPER_CORPUS", "on")
    assert bundled_key() != without  # the two models never stand in for each other
    monkeypatch.setenv("ATLAS_MAPPER_CORPUS", "maybe")
    with pytest.raises(UsageError, match="ATLAS_MAPPER_CORPUS must be 'on' or 'off'"):
        bundled_writeups()
