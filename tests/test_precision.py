"""The int8 accuracy gate (eval/atlas_eval/precision.py): paired on the harness, run here on the fixture model."""

from __future__ import annotations

import copy

import pytest

from atlas_eval.precision import compare, paired, render, run_checks
from conftest import FIXTURE_ATLAS
from fixture_bert import make_tiny_bert

# the case studies alone (no write-ups) keep each fold a few seconds
FIXTURE_CHECKS = {"loco narrative MAP": (dict(tasks=["narrative"], protocol="loco", writeups=[]), "narrative",
                                         "narrative-loco")}


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory):
    """The fixture ATLAS's narratives, leave-one-study-out, with a tiny BERT encoder in float32 and in int8."""
    tiny = make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
    out = tmp_path_factory.mktemp("precision")
    return {backend: run_checks(str(FIXTURE_ATLAS), backend, out, max_folds=None, checks=FIXTURE_CHECKS,
                                model=str(tiny))
            for backend in ("onnx", "onnx-int8")}, out


def test_int8_passes_the_gate_on_the_fixture_model(fixture_runs):
    runs, out = fixture_runs
    result = compare(runs["onnx"], runs["onnx-int8"])
    check = result["checks"]["loco narrative MAP"]
    assert check["queries"] == 3  # every case study of the fixture, paired
    assert abs(check["candidate_map"] - check["reference_map"]) <= 0.01
    assert result["adopt"] is True
    assert (out / "onnx-int8" / "narrative-loco.json").is_file()  # each run's report, as `eval -o` writes it
    assert "| loco narrative MAP | 3 |" in render(result, "command")


def test_the_gate_fails_a_precision_that_loses_accuracy(fixture_runs):
    runs, _ = fixture_runs
    worse = copy.deepcopy(runs["onnx-int8"])
    for item in worse["loco narrative MAP"]["methods"]["default"]["items"]:
        item["metrics"]["AP"] = max(0.0, item["metrics"]["AP"] - 0.05)
    result = compare(runs["onnx"], worse)
    assert result["adopt"] is False
    assert result["checks"]["loco narrative MAP"]["difference"] < -0.01
    assert "float32 stays the default" in render(result, "command")


def test_runs_on_different_queries_are_not_compared(fixture_runs):
    runs, _ = fixture_runs
    fewer = copy.deepcopy(runs["onnx-int8"]["loco narrative MAP"])
    fewer["methods"]["default"]["items"] = fewer["methods"]["default"]["items"][:-1]
    with pytest.raises(ValueError, match="same queries"):
        paired(runs["onnx"]["loco narrative MAP"], fewer)
