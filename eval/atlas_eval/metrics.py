"""Ranking metrics (ir-measures), set metrics (scikit-learn), breakdowns.

Metric names are ir-measures' own (AP, nDCG@10, R@10, Success@1 ...); the
mean of AP is reported as MAP alongside.
"""

from __future__ import annotations

from collections import defaultdict

import ir_measures
import numpy as np
from ir_measures import AP, RR, Success, nDCG, P, R
from sklearn.metrics import precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

RANKING_MEASURES = [AP, nDCG @ 10, R @ 5, R @ 10, P @ 5, RR, Success @ 1, Success @ 5, Success @ 10]
HEADLINE = {
    "steps": ["Success@1", "Success@5", "Success@10", "RR"],
    "default": ["MAP", "nDCG@10", "R@10", "Success@1", "F1-micro"],
}


def to_parent(technique_id: str) -> str:
    return ".".join(technique_id.split(".")[:2])


def parent_level_run(run: dict) -> dict:
    """A sub-technique counts as its parent: the parent keeps the best score of the family."""
    out = {}
    for qid, scores in run.items():
        merged: dict[str, float] = {}
        for t, s in scores.items():
            p = to_parent(t)
            merged[p] = max(merged.get(p, 0.0), s)
        out[qid] = merged
    return out


def parent_level_qrels(qrels: dict) -> dict:
    return {qid: {to_parent(t): 1 for t in rel} for qid, rel in qrels.items()}


def ranking_metrics(qrels: dict, run: dict) -> tuple[dict, dict]:
    """(aggregate {name: value}, per query {qid: {name: value}}) over queries with at least one label."""
    scored = {q: r for q, r in qrels.items() if r}
    run = {q: run.get(q, {}) for q in scored}
    per_query: dict[str, dict] = defaultdict(dict)
    for m in ir_measures.iter_calc(RANKING_MEASURES, scored, run):
        per_query[m.query_id][str(m.measure)] = float(m.value)
    # ir-measures leaves out queries that retrieved nothing; they score 0 on every measure
    names = [str(m) for m in RANKING_MEASURES]
    for q in scored:
        for n in names:
            per_query[q].setdefault(n, 0.0)
    agg = {n: float(np.mean([per_query[q][n] for q in scored])) if scored else float("nan") for n in names}
    agg["MAP"] = agg["AP"]
    return agg, dict(per_query)


def predicted_sets(run: dict, thresholds: dict) -> dict:
    return {q: {t for t, s in scores.items() if s >= thresholds[q]} for q, scores in run.items()}


def set_metrics(qrels: dict, predicted: dict) -> dict:
    ids = [q for q, r in qrels.items() if r]
    if not ids:
        return {}
    gold = [set(qrels[q]) for q in ids]
    pred = [predicted.get(q, set()) for q in ids]
    mlb = MultiLabelBinarizer().fit(gold + pred)
    Y, P_ = mlb.transform(gold), mlb.transform(pred)
    # share of write-ups that get at least one correct technique above the threshold
    out = {"covered": float(np.mean([bool(g & p) for g, p in zip(gold, pred)]))}
    for avg in ("micro", "macro"):
        # macro averages over techniques that occur in gold or predictions
        p, r, f, _ = precision_recall_fscore_support(Y, P_, average=avg, zero_division=0)
        out.update({f"P-{avg}": float(p), f"R-{avg}": float(r), f"F1-{avg}": float(f)})
    return out


def abstention(out_of_scope: set, predicted: dict) -> dict:
    if not out_of_scope:
        return {}
    silent = sum(1 for q in out_of_scope if not predicted.get(q))
    return {"abstention": silent / len(out_of_scope), "out_of_scope": len(out_of_scope)}


def per_tactic(qrels: dict, run: dict, predicted: dict, tactics_of: dict, tactic_names: dict) -> dict:
    """For each tactic (in matrix order): gold labels, share ranked in the top 10, set P/R/F1 at the threshold."""
    order = {t: i for i, t in enumerate(tactic_names)}
    stats = defaultdict(lambda: {"gold": 0, "top10": 0, "tp": 0, "fp": 0, "fn": 0})
    for q, rel in qrels.items():
        if not rel:
            continue
        top10 = set(sorted(run.get(q, {}), key=lambda t: (-run[q][t], t))[:10])
        pred = predicted.get(q, set())
        for t in rel:
            for ta in tactics_of.get(t, ()):
                s = stats[ta]
                s["gold"] += 1
                s["top10"] += t in top10
                s["tp"] += t in pred
                s["fn"] += t not in pred
        for t in pred - set(rel):
            for ta in tactics_of.get(t, ()):
                stats[ta]["fp"] += 1
    out = {}
    for ta, s in sorted(stats.items(), key=lambda kv: order.get(kv[0], len(order))):
        p = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 0.0
        r = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else 0.0
        out[ta] = {
            "name": tactic_names.get(ta, ta), "gold": s["gold"],
            "R@10": s["top10"] / s["gold"] if s["gold"] else 0.0,
            "P": p, "R": r, "F1": 2 * p * r / (p + r) if p + r else 0.0,
        }
    return out


def item_report(qid: str, rel: dict, scores: dict, predicted: set, threshold: float) -> dict:
    order = sorted(scores, key=lambda t: (-scores[t], t))
    rank = {t: i + 1 for i, t in enumerate(order)}
    return {
        "id": qid,
        "threshold": round(threshold, 4),
        "gold": {t: rank.get(t) for t in sorted(rel)},
        "missed": sorted(t for t in rel if t not in predicted),
        "top_wrong": [[t, round(scores[t], 4)] for t in order if t not in rel][:3],
        "predicted": sorted(predicted),
    }
