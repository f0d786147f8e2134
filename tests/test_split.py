"""The frozen dev/test split of labelled write-up files."""

import json

import pytest
import yaml

from atlas_eval.datasets import load_labelled_file
from atlas_eval.split import SPLIT_FILE, choose_test, freeze, record_digest
from mapper.errors import InputError


def _records():
    return [{"id": f"w{n}", "form": ["news", "ticket"][n % 2], "text": f"text {n}",
             "techniques": ["AML.T0020"] if n < 8 else [], **({"scope": "non-ai"} if n >= 8 else {})}
            for n in range(12)]


@pytest.fixture
def frozen(tmp_path):
    path = tmp_path / "wild.yaml"
    path.write_text(yaml.safe_dump(_records()))
    freeze([path])
    return path


def test_half_of_each_form_goes_to_test_and_the_choice_is_reproducible():
    test = choose_test(_records())
    assert len(test) == 6 and sum(r["form"] == "news" for r in test) == 3
    # many one-record groups (a form and category each) still give half the file, not all of it
    singles = [{"id": f"s{n}", "form": "news", "category": f"c{n}", "text": "t"} for n in range(9)]
    assert len(choose_test(singles)) == 5
    assert [r["id"] for r in choose_test(list(reversed(_records())))] == [r["id"] for r in test]


def test_dev_and_test_halves_partition_the_file(frozen, mini_kb):
    dev, test = (load_labelled_file(frozen, mini_kb, s) for s in ("dev", "test"))
    assert set(dev.queries) | set(test.queries) == {f"w{n}" for n in range(12)}
    assert not set(dev.queries) & set(test.queries)
    assert (dev.name, test.name) == ("wild-dev", "wild-test")


def test_a_test_record_edited_after_the_freeze_is_refused(frozen, mini_kb):
    split = json.loads((frozen.parent / SPLIT_FILE).read_text())
    records = _records()
    victim = next(r for r in records if r["id"] in split["test"])
    victim["techniques"] = ["AML.T0040"]  # a label "fixed" after seeing a score
    frozen.write_text(yaml.safe_dump(records))
    with pytest.raises(InputError, match=f"test record '{victim['id']}'.*changed after the split was frozen"):
        load_labelled_file(frozen, mini_kb, "test")
    assert load_labelled_file(frozen, mini_kb, "dev").queries  # the dev half may still be edited


def test_freezing_twice_or_selecting_without_a_split_is_refused(frozen, tmp_path, mini_kb):
    with pytest.raises(InputError, match="frozen"):
        freeze([frozen])
    other = tmp_path / "other" / "x.yaml"
    other.parent.mkdir()
    other.write_text(yaml.safe_dump(_records()))
    with pytest.raises(InputError, match="no split.json"):
        load_labelled_file(other, mini_kb, "dev")


def test_the_digest_covers_text_labels_and_scope_only():
    rec = _records()[0]
    assert record_digest({**rec, "rationale": {"AML.T0020": "why"}, "form": "social"}) == record_digest(rec)
    assert record_digest({**rec, "text": rec["text"] + "!"}) != record_digest(rec)
    assert record_digest({**rec, "techniques": ["AML.T0020", "AML.T0040"]}) != record_digest(rec)


def test_the_committed_wild_benchmark_and_its_frozen_test_half_are_intact(mini_kb):
    """Fails if a test record of data/eval/wild is edited, dropped or renamed after the freeze."""
    from mapper.files import PROJECT_ROOT

    folder = PROJECT_ROOT / "data" / "eval" / "wild"
    frozen = json.loads((folder / SPLIT_FILE).read_text())["test"]
    seen = set()
    for name in ("ai.yaml", "non_ai.yaml"):
        test = load_labelled_file(folder / name, mini_kb, "test")
        dev = load_labelled_file(folder / name, mini_kb, "dev")
        assert abs(len(test.queries) - len(dev.queries)) <= 1  # half of each file
        seen |= set(test.queries)
    assert seen == set(frozen)
