"""From the runs of every method on one dataset to its report (metrics, intervals, breakdowns, per item)."""

from __future__ import annotations

from atlas_eval.datasets import Dataset
from atlas_eval.metrics import (
    abstention,
    calibration,
    canonical_ranking,
    confidence_intervals,
    item_report,
    parent_level_qrels,
    parent_level_ranking,
    parent_level_sets,
    per_tactic,
    predicted_sets,
    ranking_metrics,
    set_counts,
    set_metrics,
    sibling_accuracy,
    sibling_choices,
    silent,
    to_parent,
)
from mapper.kb import KnowledgeBase


def _rounded(values: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


def macro_labels(dataset: Dataset, runs: dict) -> set[str]:
    """The techniques in the gold labels of every query some method scored: one label set for all methods."""
    scored = {q for mr in runs.values() for q in mr.run}
    return {t for q in scored for t in dataset.qrels.get(q, {})}


def _level_metrics(qrels: dict, ranking: dict, predicted: dict, labels: set, groups: dict,
                   quiet: dict) -> tuple[dict, dict, dict]:
    """(aggregates, their intervals, ranking metrics per query) at one level (technique or parent)."""
    agg, per_query = ranking_metrics(qrels, ranking)
    agg.update(set_metrics(qrels, predicted, labels))
    ci = confidence_intervals(groups, per_query, set_counts(qrels, predicted), quiet)
    return agg, ci, per_query


def method_report(dataset: Dataset, mr, labels: set, tactics_of: dict, tactic_names: dict, n_folds: int) -> dict:
    """One method's entry of the report, every view reading the same canonical ranking."""
    evaluated = set(mr.run)
    qrels = {q: r for q, r in dataset.qrels.items() if q in evaluated}
    ranking = canonical_ranking(mr.run)
    predicted = predicted_sets(mr.run, mr.thresholds)
    out_of_scope = dataset.out_of_scope & evaluated
    agg, ci, per_query = _level_metrics(qrels, ranking, predicted, labels, dataset.groups, silent(out_of_scope, predicted))
    agg.update(abstention(out_of_scope, predicted))
    p_agg, p_ci, _ = _level_metrics(parent_level_qrels(qrels), parent_level_ranking(ranking), parent_level_sets(predicted),
                                    {to_parent(t) for t in labels}, dataset.groups, {})
    sub_agg, sub_ci = sibling_accuracy(sibling_choices(qrels, ranking), dataset.groups)
    p_agg.update(sub_agg)
    p_ci.update(sub_ci)
    items = [item_report(q, qrels.get(q, {}), ranking[q], mr.run[q], predicted[q], mr.thresholds[q]) for q in sorted(mr.run)]
    for item in items:
        item["metrics"] = _rounded(per_query.get(item["id"], {}))
    return {
        "metrics": _rounded(agg),
        "ci": ci,
        "parent_metrics": _rounded(p_agg),
        "parent_ci": p_ci,
        "per_tactic": {k: _rounded(v) for k, v in per_tactic(qrels, ranking, predicted, tactics_of, tactic_names).items()},
        "calibration": calibration(qrels, mr.run),
        "seconds_per_query": round(mr.rank_seconds / max(mr.n_queries, 1), 5),
        "fit_seconds_per_fold": round(mr.fit_seconds / max(n_folds, 1), 3),
        "queries": mr.n_queries,
        "items": items,
    }


def build_report(kb: KnowledgeBase, encoder_name: str, dataset: Dataset, runs: dict, protocol: str, n_folds: int,
                 skipped: dict, tactics_kb: KnowledgeBase | None = None) -> dict:
    """One dataset's report: every method's metrics and intervals, parent-level metrics, per tactic, per item.

    ``tactics_kb``: the release whose tactics place the run's techniques, when not ``kb`` (a time split).
    """
    tactics_kb = tactics_kb or kb
    tactics_of = {t.id: t.tactics for t in tactics_kb.techniques.values()}
    tactic_names = {t.id: t.name for t in tactics_kb.tactics}  # matrix order
    labels = macro_labels(dataset, runs)
    methods = {spec: method_report(dataset, mr, labels, tactics_of, tactic_names, n_folds)
               for spec, mr in runs.items() if mr.run}
    return {
        "dataset": dataset.describe(),
        "protocol": protocol,
        "folds": n_folds,
        "atlas": kb.atlas_info(),
        "encoder": encoder_name,
        "skipped": skipped,
        "methods": methods,
    }
