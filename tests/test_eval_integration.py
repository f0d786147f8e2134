"""The harness on the real v5.6.1 release: a fast loco subset, and the committed results reproduced."""

import json

import pytest

from conftest import LATEST, ROOT, needs_shared

pytestmark = [pytest.mark.integration, pytest.mark.encoder, needs_shared()]
RESULTS = ROOT / "eval" / "results"


@pytest.fixture
def ctx():
    # A fresh context per test: embeddings depend (in the last float bits) on how texts were batched,
    # so a rerun must encode in the same order as the command that made the committed results. Those were
    # measured with the float32 numpy encoder (before issue 23's int8 default), so the rerun uses it too.
    from atlas_eval.harness import build_context

    return build_context(LATEST, backend="numpy")


def test_loco_subset_runs_every_method(ctx):
    from atlas_eval.harness import run_eval

    reports = run_eval(["steps", "narrative"], "loco", max_folds=3, ctx=ctx)
    steps = reports["steps"]
    assert steps["folds"] == 3 and steps["dataset"]["queries"] == 449
    assert set(steps["methods"]) == {"popularity", "tfidf", "rcatt", "dense", "default"}
    evaluated = steps["methods"]["default"]["queries"]
    assert 0 < evaluated < 449  # only the held-out studies' steps were scored
    held_out = {item["id"].split("#")[0] for item in steps["methods"]["default"]["items"]}
    assert held_out == {"AML.CS0000", "AML.CS0001", "AML.CS0002"}


@pytest.mark.skipif(not (RESULTS / "narrative-temporal-v5.0.0.json").is_file(), reason="no committed results yet")
def test_committed_temporal_results_match_a_rerun(ctx):
    from atlas_eval.harness import run_eval

    # same tasks in the same order as eval/reproduce.sh
    reports = run_eval(["narrative", "steps", "summary"], "temporal", train_release="v5.0.0", ctx=ctx)
    for name, report in reports.items():
        committed = json.loads((RESULTS / f"{name}-temporal-v5.0.0.json").read_text())
        assert report["dataset"] == committed["dataset"]
        for method, result in report["methods"].items():
            assert result["metrics"] == committed["methods"][method]["metrics"], (name, method)
