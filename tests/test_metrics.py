"""Evaluation metrics by hand: ranking, set, ties, bootstrap intervals, strict JSON, the headline summary."""

import json
from pathlib import Path

import pytest

from atlas_eval.datasets import Dataset
from atlas_eval.metrics import (
    RANKING_NAMES, SET_NAMES, canonical_ranking, confidence_intervals, item_report, parent_level_ranking, per_tactic, ranking_metrics,
    resample_weights, set_metrics,
)
from atlas_eval.report import render_markdown, write_outputs
from atlas_eval.runner import MethodRuns
from atlas_eval.scoring import build_report
from atlas_eval.summary import summarise

RESULTS = Path(__file__).resolve().parent.parent / "eval" / "results"


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as any strict JSON parser does."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_ranking_metrics_match_a_hand_computed_example():
    qrels = {"q1": {"a": 1, "c": 1}, "q2": {"b": 1}}
    run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.7}, "q2": {"a": 0.9, "b": 0.8, "c": 0.1}}
    agg, per_query = ranking_metrics(qrels, canonical_ranking(run))
    # q1: hits at ranks 1 and 3 -> AP = (1/1 + 2/3) / 2 = 0.8333; RR = 1; Success@1 = 1; R@5 = 1
    # q2: hit at rank 2 -> AP = 1/2; RR = 0.5; Success@1 = 0; P@5 = 1/5
    assert per_query["q1"]["AP"] == pytest.approx(5 / 6)
    assert per_query["q2"]["RR"] == pytest.approx(0.5)
    assert agg["MAP"] == pytest.approx((5 / 6 + 0.5) / 2)
    assert agg["Success@1"] == pytest.approx(0.5)
    assert agg["P@5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert agg["R@10"] == pytest.approx(1.0)


def test_a_query_that_retrieves_nothing_scores_zero():
    agg, _ = ranking_metrics({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": ["a"], "q2": []})
    assert agg["MAP"] == pytest.approx(0.5)


def test_no_labelled_query_gives_null_metrics_rather_than_nan():
    agg, per_query = ranking_metrics({"q1": {}}, {"q1": ["a"]})
    assert per_query == {} and agg["MAP"] is None and set(agg) == {*RANKING_NAMES, "MAP"}
    assert set_metrics({"q1": {}}, {"q1": {"a"}}) == dict.fromkeys(SET_NAMES)


def test_set_metrics_micro_and_macro():
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}}
    pred = {"q1": {"a"}, "q2": {"c", "d"}}
    m = set_metrics(qrels, pred)
    # micro: tp=2, fp=1 (d), fn=1 (b) -> P=R=F1=2/3
    assert m["P-micro"] == pytest.approx(2 / 3) and m["R-micro"] == pytest.approx(2 / 3)
    assert m["F1-micro"] == pytest.approx(2 / 3)
    # macro over the gold labels a, b, c only (d is no gold label): F1 = (1 + 0 + 1) / 3
    assert m["F1-macro"] == pytest.approx(2 / 3)
    assert m["covered"] == 1.0  # both queries have one correct prediction
    assert set_metrics(qrels, {"q1": {"b"}, "q2": set()})["covered"] == 0.5
    assert set_metrics(qrels, {"q1": {"zz"}, "q2": set()})["reported"] == 0.5  # a wrong technique is still reported


def test_macro_averages_over_one_label_set_for_every_method():
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}}
    exact = set_metrics(qrels, {"q1": {"a"}, "q2": {"c"}})
    extra = set_metrics(qrels, {"q1": {"a"}, "q2": {"c", "d"}})
    # per label F1: a = 1, b = 0, c = 1 for both methods. Fitting the label set on gold + predictions would
    # average the second over a, b, c, d (0.5) and the first over a, b, c (2/3).
    assert exact["F1-macro"] == pytest.approx(2 / 3) and extra["F1-macro"] == pytest.approx(2 / 3)
    assert exact["P-macro"] == pytest.approx(2 / 3) and exact["R-macro"] == pytest.approx(2 / 3)
    # d still costs the second method in micro: P = 2/3 against 1, F1 = 2/3 against 2*2 / (2*2 + 0 + 1) = 0.8
    assert extra["P-micro"] == pytest.approx(2 / 3) and exact["P-micro"] == pytest.approx(1.0)
    assert exact["F1-micro"] == pytest.approx(0.8)
    # an explicit label set (the dataset's) wins over the queries' own: e never occurs, so its F1 is 0
    assert set_metrics(qrels, {"q1": {"a"}, "q2": {"c"}}, labels={"a", "b", "c", "e"})["F1-macro"] == pytest.approx(0.5)


def test_parent_level_ranks_a_family_at_its_best_member():
    ranking = canonical_ranking({"q": {"AML.T0051": 0.2, "AML.T0051.000": 0.9, "AML.T0020": 0.5}})
    assert parent_level_ranking(ranking) == {"q": ["AML.T0051", "AML.T0020"]}
    # tied families keep the canonical (ID ascending) order of their best members
    tied = canonical_ranking({"q": {"AML.T0051.000": 0.0, "AML.T0020": 0.0, "AML.T0000.002": 0.0}})
    assert parent_level_ranking(tied) == {"q": ["AML.T0000", "AML.T0020", "AML.T0051"]}


def test_tied_scores_give_one_order_in_every_view():
    twelve = [f"AML.T00{i:02d}" for i in range(12)]
    run = {
        "q1": {t: 0.0 for t in twelve},  # all tied: AML.T0001 is 2nd (trec_eval's own tie-break: 11th)
        "q2": {"AML.T0005": 0.9, "AML.T0003": 0.9, "AML.T0004": 0.2},  # AML.T0003 1st (trec_eval: 2nd)
        "q3": {t: 0.0 for t in twelve},  # AML.T0011 is 12th, outside the top 10 (trec_eval: 1st)
    }
    qrels = {"q1": {"AML.T0001": 1}, "q2": {"AML.T0003": 1}, "q3": {"AML.T0011": 1}}
    ranking = canonical_ranking(run)
    assert ranking["q2"] == ["AML.T0003", "AML.T0005", "AML.T0004"]
    agg, per_query = ranking_metrics(qrels, ranking)
    ranks = {q: item_report(q, qrels[q], ranking[q], run[q], set(), 0.5)["gold"] for q in run}
    assert ranks == {"q1": {"AML.T0001": 2}, "q2": {"AML.T0003": 1}, "q3": {"AML.T0011": 12}}
    for q, gold in ranks.items():
        (rank,) = gold.values()
        assert per_query[q]["RR"] == pytest.approx(1 / rank)
        assert per_query[q]["R@10"] == (1.0 if rank <= 10 else 0.0)
    assert agg["Success@1"] == pytest.approx(1 / 3)
    tactics = per_tactic(qrels, ranking, {}, {t: ["AML.TA0001"] for t in twelve}, {"AML.TA0001": "Recon"})
    assert tactics["AML.TA0001"]["R@10"] == pytest.approx(2 / 3) == pytest.approx(agg["R@10"])


def test_build_report_views_agree_on_a_run_of_zero_scores(mini_kb):
    ids = list(mini_kb.techniques)  # 7 techniques, every one scored 0 (as popularity scores unseen ones)
    dataset = Dataset("ties", {"a": "x", "b": "y"}, {"a": {"AML.T0020": 1}, "b": {"AML.T0000": 1}},
                      {"a": "AML.CS0000", "b": "AML.CS0001"})
    run = {q: {t: 0.0 for t in ids} for q in dataset.queries}
    report = build_report(mini_kb, "enc", dataset, {"zeros": MethodRuns(run, {"a": 0.5, "b": 0.5}, 0.0, 0.0, 2)},
                          "loco", 2, {})
    m = report["methods"]["zeros"]
    # canonical order AML.T0000, AML.T0000.002, AML.T0020, ...: a's gold is 3rd, b's 1st
    items = {item["id"]: item for item in m["items"]}
    assert items["a"]["gold"] == {"AML.T0020": 3} and items["b"]["gold"] == {"AML.T0000": 1}
    assert items["a"]["metrics"]["RR"] == pytest.approx(1 / 3, abs=1e-4) and items["b"]["metrics"]["RR"] == 1.0
    assert m["metrics"]["MAP"] == pytest.approx((1 / 3 + 1) / 2, abs=1e-4)
    # parents AML.T0000, AML.T0020, AML.T0029, AML.T0040, AML.T0051: a's gold 2nd, b's 1st
    assert m["parent_metrics"]["MAP"] == pytest.approx(0.75)
    assert m["per_tactic"]["AML.TA0006"]["R@10"] == 1.0 and m["per_tactic"]["AML.TA0002"]["R@10"] == 1.0


def test_resampling_draws_whole_case_studies():
    qids = ["s1", "s2", "s3", "x"]
    w = resample_weights(qids, {"s1": "CS0", "s2": "CS0", "s3": "CS0", "x": None}, n=200)
    assert w.shape == (200, 4)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 1] == w[:, 2]).all()  # a study's queries come and go together
    assert (w[:, 0] + w[:, 3] == 2).all()  # two units (the study, the external item), two draws per resample
    assert (resample_weights(qids, {"x": None}, n=50) == resample_weights(qids, {"x": None}, n=50)).all()


def test_interval_resamples_studies_not_queries():
    # study A: three queries with AP 1; study B: one with AP 0. Drawing studies, a quarter of the resamples
    # are B twice (mean 0), so the 2.5th percentile is 0. Drawing queries, all-B would be 1 in 256.
    per_query = {q: dict.fromkeys(RANKING_NAMES, 1.0) for q in ("a1", "a2", "a3")} | {"b1": dict.fromkeys(RANKING_NAMES, 0.0)}
    groups = {"a1": "A", "a2": "A", "a3": "A", "b1": "B"}
    ci = confidence_intervals(groups, per_query, {}, {})
    assert ci == dict.fromkeys(RANKING_NAMES + ["MAP"], [0.0, 1.0])
    same = {q: dict.fromkeys(RANKING_NAMES, 0.5) for q in per_query}
    assert confidence_intervals(groups, same, {}, {})["MAP"] == [0.5, 0.5]


def test_micro_interval_pools_counts_of_each_resample():
    # one study, so every resample is the study itself: pooled tp=3, fp=1, fn=0 -> P = 0.75, R = 1,
    # F1 = 6/7 (0.8571), where averaging per-query F1 (1 and 0) would give 0.5
    counts = {"q1": (3, 0, 0), "q2": (0, 1, 0)}
    ci = confidence_intervals({"q1": "A", "q2": "A"}, {}, counts, {})
    assert ci == {"P-micro": [0.75, 0.75], "R-micro": [1.0, 1.0], "F1-micro": [0.8571, 0.8571], "covered": [0.5, 0.5],
                  "reported": [1.0, 1.0]}  # q2 got a (wrong) technique: reported, not covered
    # external items are their own units: abstention of two items (one silent) spans 0 to 1
    assert confidence_intervals({"x": None, "y": None}, {}, {}, {"x": True, "y": False}) == {"abstention": [0.0, 1.0]}


def _mixed_dataset():
    queries = {f"q{i}": "text" for i in range(6)} | {"n1": "phishing", "n2": "fraud"}
    qrels = {"q0": {"AML.T0020": 1}, "q1": {"AML.T0040": 1}, "q2": {"AML.T0051.000": 1}, "q3": {"AML.T0029": 1},
             "q4": {"AML.T0020": 1, "AML.T0029": 1}, "q5": {"AML.T0000": 1}, "n1": {}, "n2": {}}
    groups = {"q0": "CS0", "q1": "CS0", "q2": "CS1", "q3": "CS1", "q4": "CS2", "q5": "CS2", "n1": None, "n2": None}
    return Dataset("mixed", queries, qrels, groups, {"n1", "n2"})


def _mixed_runs(mini_kb):
    ids = sorted(mini_kb.techniques)
    run = {q: {t: ((i * 7 + n * 3) % 5) / 5 for i, t in enumerate(ids)} for n, q in enumerate(_mixed_dataset().queries)}
    return {"m": MethodRuns(run, {q: 0.6 for q in run}, 0.1, 0.1, len(run))}


def test_report_quotes_an_interval_for_every_headline_figure(mini_kb):
    report = build_report(mini_kb, "enc", _mixed_dataset(), _mixed_runs(mini_kb), "loco", 3, {})
    m = report["methods"]["m"]
    assert set(m["ci"]) == {"AP", "MAP", "nDCG@10", "R@5", "R@10", "P@5", "RR", "Success@1", "Success@5",
                            "Success@10", "P-micro", "R-micro", "F1-micro", "covered", "reported", "abstention"}
    assert "abstention" not in m["parent_ci"] and m["parent_ci"]["MAP"] == m["parent_ci"]["AP"]
    assert m["ci"]["MAP"] == m["ci"]["AP"] and all(len(v) == 2 for v in m["ci"].values())
    again = build_report(mini_kb, "enc", _mixed_dataset(), _mixed_runs(mini_kb), "loco", 3, {})
    assert again["methods"]["m"]["ci"] == m["ci"]  # same input, same intervals
    lo, hi = m["ci"]["MAP"]
    assert f"{m['metrics']['MAP']:.3f} [{lo:.3f}, {hi:.3f}]" in render_markdown(report)


def test_a_dataset_without_labels_writes_strict_json(mini_kb, tmp_path):
    dataset = Dataset("non_ai", {"n1": "a", "n2": "b"}, {"n1": {}, "n2": {}}, {"n1": None, "n2": None}, {"n1", "n2"})
    run = {"n1": {"AML.T0020": 0.9, "AML.T0040": 0.1}, "n2": {"AML.T0020": 0.2}}
    report = build_report(mini_kb, "enc", dataset, {"m": MethodRuns(run, {"n1": 0.5, "n2": 0.5}, 0.0, 0.0, 2)},
                          "loco", 1, {})
    m = report["methods"]["m"]
    # n2 silent, n1 not; nothing else is computable and is written as null
    assert {k: v for k, v in m["metrics"].items() if v is not None} == {"abstention": 0.5, "out_of_scope": 2}
    assert m["metrics"]["MAP"] is None and m["metrics"]["F1-micro"] is None
    assert all(v is None for v in m["parent_metrics"].values()) and m["ci"] == {"abstention": [0.0, 1.0]}
    json_path = write_outputs(report, tmp_path, "non_ai-external")[0]
    written = strict_json(json_path.read_text())["methods"]["m"]["metrics"]
    assert written["abstention"] == 0.5 and written["MAP"] is None
    assert "| m | - |" in render_markdown(report)


def _is_strict_json(path: Path) -> bool:
    try:
        strict_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return True


def test_every_committed_result_is_strict_json():
    # Fails on a result written before NaN was ruled out, until eval/results is regenerated.
    files = sorted(RESULTS.rglob("*.json"))
    assert any(p.parent.name == "v2026.05" for p in files)  # the results beside v5.6.1's are checked too
    assert [str(p.relative_to(RESULTS)) for p in files if not _is_strict_json(p)] == []


def test_markdown_lists_dataset_notes_it_does_not_know(mini_kb):
    dataset = _mixed_dataset()
    report = build_report(mini_kb, "enc", dataset, _mixed_runs(mini_kb), "loco", 3, {})
    report["dataset"]["unnameable_labels"] = ["AML.T0099"]
    assert "Unnameable labels: AML.T0099." in render_markdown(report)


def _result_file(directory: Path, stem: str, methods: dict) -> None:
    report = {"methods": {name: {"metrics": {"MAP": v}, "ci": {"MAP": ci}} for name, (v, ci) in methods.items()}}
    (directory / f"{stem}.json").write_text(json.dumps(report))


def test_summary_quotes_each_figure_with_its_interval(tmp_path):
    # an ablation of the default ("default:...") is not a baseline, even when it scores higher
    _result_file(tmp_path, "ai_incidents-external", {"default": (0.58, [0.521, 0.64]), "rcatt": (0.418, [0.36, 0.474]),
                                                     "tfidf": (0.3, [0.2, 0.4]), "default:writeups=false": (0.7, None)})
    summary, table = summarise(tmp_path)
    assert summary == {"ai_incidents-external": {"MAP": {"value": 0.58, "ci": [0.521, 0.64]},
                                                 "R@10": {"value": None, "ci": None},
                                                 "Success@1": {"value": None, "ci": None}}}
    assert ("| AI write-ups (ours) | case studies + other write-ups (5-fold CV over write-ups) | MAP | 0.580 [0.52, 0.64] | "
            "0.418 [0.36, 0.47] (rcatt) |") in table
    assert "| R@10 | - | - |" in table


def test_summary_names_the_release_its_figures_were_measured_on(tmp_path):
    atlas = {"release": "v5.6.1", "version": "5.6.0", "sha256": "x"}
    (tmp_path / "narrative-loco.json").write_text(json.dumps(
        {"atlas": atlas, "methods": {"default": {"metrics": {"MAP": 0.5}, "ci": {}}}}))
    summary, _ = summarise(tmp_path)
    assert summary["atlas"] == atlas and summary["narrative-loco"]["MAP"]["value"] == 0.5


def test_calibration_by_hand():
    from atlas_eval.metrics import calibration

    run = {"q1": {"A": 0.9, "B": 0.1}, "q2": {"A": 0.8, "B": 0.3}}
    got = calibration({"q1": {"A": 1}, "q2": {"B": 1}}, run)
    # four pairs, one per bin: |0.1-0| + |0.3-1| + |0.8-0| + |0.9-1| over 4
    assert got["ECE"] == pytest.approx(0.425) and got["pairs"] == 4
    assert got["bins"] == [[0.1, 0.2, 1, 0.1, 0.0], [0.3, 0.4, 1, 0.3, 1.0], [0.8, 0.9, 1, 0.8, 0.0], [0.9, 1.0, 1, 0.9, 1.0]]
    # two pairs at 0.5, one a hit: calibrated; an out-of-scope query's pairs are all misses
    assert calibration({"q": {"A": 1}}, {"q": {"A": 0.5, "B": 0.5}})["ECE"] == 0.0
    assert calibration({}, {"oos": {"A": 0.2}})["ECE"] == pytest.approx(0.2)
    assert calibration({}, {})["ECE"] is None
    # ECE@10 reads only each query's best-scored techniques: here the top 1
    top1 = calibration({"q1": {"A": 1}, "q2": {"B": 1}}, run, top=1)
    assert top1["ECE@1"] == pytest.approx((0.1 + 0.8) / 2) and top1["ECE"] == pytest.approx(0.425)  # A in both


def test_sub_technique_accuracy_is_asked_only_where_the_parent_is_found():
    from atlas_eval.metrics import sibling_accuracy, sibling_choices

    qrels = {"q1": {"AML.T1": 1, "AML.T1.001": 1}, "q2": {"AML.T1": 1, "AML.T1.000": 1}, "q3": {"AML.T2.001": 1}, "q4": {"AML.T3": 1}}
    ranking = {"q1": ["AML.T1", "AML.T1.000", "AML.T1.001"],  # the wrong sibling first
               "q2": ["AML.T1.000", "AML.T1", "AML.T1.001"],  # right
               "q3": [f"AML.X{i}" for i in range(10)] + ["AML.T2.001"],  # family not in the top 10: not asked
               "q4": ["AML.T3"]}  # no sub-technique in gold: not asked
    choices = sibling_choices(qrels, ranking)
    assert choices == {"q1": (0, 1), "q2": (1, 1)}
    agg, ci = sibling_accuracy(choices, {})
    assert agg == {"sub-technique": 0.5, "sub-technique pairs": 2} and 0.0 <= ci["sub-technique"][0] <= 0.5
    assert sibling_accuracy({}, {}) == ({}, {})
