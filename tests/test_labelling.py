"""The labelling procedure's tools: the catalogue, annotation checks and annotator agreement."""

import json

import pytest

from atlas_eval.labelling import agreement, catalogue, read_annotation, write_batches
from mapper.errors import InputError


def annotation(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_catalogue_lists_every_technique_with_its_tactics(mini_kb):
    text = catalogue(mini_kb)
    assert all(f"## {tid} " in text for tid in mini_kb.techniques)
    assert "Tactics: " in text


def test_batches_keep_order_and_size(tmp_path):
    paths = write_batches({f"t{i}": f"text {i}" for i in range(5)}, tmp_path, 2)
    assert [p.name for p in paths] == ["batch-001.jsonl", "batch-002.jsonl", "batch-003.jsonl"]
    assert [json.loads(line)["id"] for line in paths[0].read_text().splitlines()] == ["t0", "t1"]


def test_annotations_are_checked(tmp_path, mini_kb):
    tid = sorted(mini_kb.techniques)[0]
    good = annotation(tmp_path, "good.jsonl", [{"id": "x", "scope": "attack", "techniques": [{"id": tid, "evidence": "e"}]},
                                               {"id": "y", "scope": "not_ai", "techniques": []}])
    assert read_annotation(good, mini_kb)["x"]["techniques"] == [tid]
    for bad, words in (({"id": "x", "scope": "maybe", "techniques": []}, "scope"),
                       ({"id": "x", "scope": "attack", "techniques": [{"id": "AML.T9999"}]}, "unknown technique"),
                       ({"id": "x", "scope": "not_ai", "techniques": [{"id": tid}]}, "outside an attack"),
                       ({"scope": "attack"}, "not an annotation")):
        with pytest.raises(InputError, match=words):
            read_annotation(annotation(tmp_path, "bad.jsonl", [bad]), mini_kb)


def test_agreement_scores_the_second_against_the_first():
    first = {"a": {"scope": "attack", "techniques": ["T1", "T2"]}, "b": {"scope": "not_ai", "techniques": []},
             "c": {"scope": "attack", "techniques": ["T3"]}}
    same = agreement(first, first)["all"]
    assert same["scope_agreement"] == 1.0 and same["MAP"] == 1.0 and same["set_F1"] == 1.0
    second = {"a": {"scope": "attack", "techniques": ["T2", "T9"]}, "b": {"scope": "attack", "techniques": ["T1"]},
              "c": {"scope": "attack", "techniques": ["T3"]}}
    scored = agreement(first, second, {"a": "nvd", "b": "oecd", "c": "nvd"})
    assert scored["all"]["scope_agreement"] == pytest.approx(2 / 3, abs=1e-4) and scored["all"]["both_attack"] == 2
    assert scored["all"]["MAP"] == pytest.approx((0.5 + 1.0) / 2, abs=1e-4)  # a: T2 found first of two; c: exact
    assert scored["all"]["set_F1"] == pytest.approx(2 * 2 / (3 + 3), abs=1e-4)
    assert scored["nvd"]["texts"] == 2 and scored["oecd"]["both_attack"] == 0


def test_stored_annotations_hold_offsets_not_text():
    from atlas_eval.labelling import read_stored, stored

    text = "A bot was told to ignore its rules. It leaked the prompt."
    ann = {"x": {"scope": "attack", "techniques": ["T1", "T2"], "evidence": {"T1": "told to ignore its rules", "T2": "nowhere"}}}
    [row] = stored(ann, {"x": text})
    assert row["evidence"][0] == [text.index("told"), text.index("told") + len("told to ignore its rules")]
    assert row["evidence"][1] is None and "text" not in row and len(row["sha256"]) == 64


def test_gold_takes_agreement_as_is_and_disputes_from_the_adjudicator():
    from atlas_eval.labelling import disputed, gold

    a = {"x": {"scope": "attack", "techniques": ["T1", "T2"], "evidence": {}},
         "y": {"scope": "attack", "techniques": ["T1"], "evidence": {}},
         "z": {"scope": "not_ai", "techniques": [], "evidence": {}}}
    b = {"x": {"scope": "attack", "techniques": ["T2", "T1"], "evidence": {}},  # same set, other order: agreed
         "y": {"scope": "attack", "techniques": ["T3"], "evidence": {}},
         "z": {"scope": "ai_no_adversary", "techniques": [], "evidence": {}}}
    assert disputed(a, b) == ["y", "z"]
    settled = gold(a, b, {"y": {"scope": "attack", "techniques": ["T3", "T1"], "evidence": {}}})
    assert settled["x"]["techniques"] == ["T1", "T2"] and not settled["x"]["adjudicated"]
    assert settled["y"]["techniques"] == ["T3", "T1"] and settled["y"]["adjudicated"]
    assert "z" not in settled  # disputed and not yet adjudicated
