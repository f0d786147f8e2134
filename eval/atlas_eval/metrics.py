"""Ranking metrics (ir-measures), set metrics, bootstrap intervals, breakdowns.

Metric names are ir-measures' own (AP, nDCG@10, R@10, Success@1 ...); the
mean of AP is reported as MAP alongside.

Every view of a run (ir-measures, per item, per tactic, parent level) reads
one canonical order, made once by :func:`canonical_ranking`: trec_eval, behind
ir-measures, would otherwise break tied scores by technique ID descending while
a plain sort breaks them ascending, and methods with many ties (popularity,
zero scores) would get different ranks in different views.
"""

from __future__ import annotations

from collections import defaultdict

import ir_measures
import numpy as np
from ir_measures import AP, RR, P, R, Success, nDCG

RANKING_MEASURES = [AP, nDCG @ 10, R @ 5, R @ 10, P @ 5, RR, Success @ 1, Success @ 5, Success @ 10]
RANKING_NAMES = [str(m) for m in RANKING_MEASURES]
SET_NAMES = [f"{m}-{avg}" for avg in ("micro", "macro") for m in ("P", "R", "F1")] + ["covered", "reported"]
N_RESAMPLES = 1000
SEED = 0  # fixed, so the same results always give the same intervals


def to_parent(technique_id: str) -> str:
    return ".".join(technique_id.split(".")[:2])


def canonical_ranking(run: dict) -> dict[str, list[str]]:
    """{qid: technique IDs, best first}: score descending, ties by technique ID ascending."""
    return {q: sorted(scores, key=lambda t: (-scores[t], t)) for q, scores in run.items()}


def rank_encoded(ranking: dict) -> dict:
    """Distinct scores that follow the canonical order, so trec_eval has no ties left to break its own way."""
    return {q: {t: float(len(order) - i) for i, t in enumerate(order)} for q, order in ranking.items()}


def parent_level_ranking(ranking: dict) -> dict:
    """A sub-technique counts as its parent: a family is ranked where its first (best) member is."""
    return {q: list(dict.fromkeys(to_parent(t) for t in order)) for q, order in ranking.items()}


def parent_level_qrels(qrels: dict) -> dict:
    return {qid: {to_parent(t): 1 for t in rel} for qid, rel in qrels.items()}


def parent_level_sets(predicted: dict) -> dict:
    return {q: {to_parent(t) for t in s} for q, s in predicted.items()}


def sibling_choices(qrels: dict, ranking: dict, top: int = 10) -> dict[str, tuple[int, int]]:
    """{qid: (right, asked)}: the sub-technique given a correct parent. For each family whose gold labels hold a
    sub-technique (direct against indirect prompt injection, say), and which the ranking finds among its ``top``
    families, is the family's first-ranked sub-technique a gold one?"""
    out = {}
    for q, rel in qrels.items():
        families = {to_parent(t) for t in rel if to_parent(t) != t}
        if not families:
            continue
        order = ranking.get(q, [])
        found = set(parent_level_ranking({q: order})[q][:top])
        right = asked = 0
        for family in families & found:
            first = next((t for t in order if to_parent(t) == family and t != family), None)
            asked += 1
            right += first in rel
        if asked:
            out[q] = (right, asked)
    return out


def sibling_accuracy(choices: dict, groups: dict) -> tuple[dict, dict]:
    """({"sub-technique": accuracy, "sub-technique pairs": n}, {"sub-technique": 95% interval}) from
    :func:`sibling_choices`; an empty dict pair when no family was asked."""
    if not choices:
        return {}, {}
    qids = sorted(choices)
    right, asked = np.array([choices[q] for q in qids], dtype=float).T
    w = resample_weights(qids, groups)
    return ({"sub-technique": float(right.sum() / asked.sum()), "sub-technique pairs": int(asked.sum())},
            {"sub-technique": percentile_interval(_ratio(w @ right, w @ asked))})


def ranking_metrics(qrels: dict, ranking: dict) -> tuple[dict, dict]:
    """(aggregate {name: value}, per query {qid: {name: value}}) over queries with at least one label.

    No labelled query: every aggregate is None, written as JSON null (NaN is not valid JSON).
    """
    scored = {q: r for q, r in qrels.items() if r}
    if not scored:
        return dict.fromkeys([*RANKING_NAMES, "MAP"]), {}
    run = rank_encoded({q: ranking.get(q, []) for q in scored})
    measured: dict[str, dict] = defaultdict(dict)
    for m in ir_measures.iter_calc(RANKING_MEASURES, scored, run):
        measured[m.query_id][str(m.measure)] = float(m.value)
    # ir-measures leaves out queries that retrieved nothing; they score 0 on every measure
    per_query = {q: {n: measured[q].get(n, 0.0) for n in RANKING_NAMES} for q in scored}
    agg = {n: float(np.mean([per_query[q][n] for q in scored])) for n in RANKING_NAMES}
    agg["MAP"] = agg["AP"]
    return agg, per_query


def predicted_sets(run: dict, thresholds: dict) -> dict:
    return {q: {t for t, s in scores.items() if s >= thresholds[q]} for q, scores in run.items()}


def set_counts(qrels: dict, predicted: dict) -> dict[str, tuple[int, int, int]]:
    """{qid: (true positives, false positives, false negatives)} for every labelled query."""
    out = {}
    for q, rel in qrels.items():
        if rel:
            gold, pred = set(rel), predicted.get(q, set())
            out[q] = (len(gold & pred), len(pred - gold), len(gold - pred))
    return out


def _ratio(num, den):
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0); scalars or arrays."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def micro_prf(tp, fp, fn) -> tuple:
    """Micro P, R, F1 from pooled counts (F1 = 2tp / (2tp + fp + fn), the harmonic mean of P and R)."""
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def macro_prf(qrels: dict, predicted: dict, labels) -> tuple[float, float, float]:
    """Mean per-label P, R, F1 over ``labels`` only; a prediction outside them is left out here (not in micro)."""
    counts = {t: [0, 0, 0] for t in labels}
    for q, rel in qrels.items():
        if not rel:
            continue
        gold, pred = set(rel), predicted.get(q, set())
        for t in (gold | pred) & counts.keys():
            tp_fp_fn = counts[t]
            tp_fp_fn[0] += t in gold and t in pred
            tp_fp_fn[1] += t in pred and t not in gold
            tp_fp_fn[2] += t in gold and t not in pred
    if not counts:
        return 0.0, 0.0, 0.0
    tp, fp, fn = np.array(list(counts.values()), dtype=float).T
    return tuple(float(np.mean(v)) for v in micro_prf(tp, fp, fn))


def set_metrics(qrels: dict, predicted: dict, labels=None) -> dict:
    """Set metrics at the threshold over labelled queries.

    ``labels`` is the macro-average's label set, the same for every method of a dataset (default: the
    techniques in these queries' gold labels); building it from each method's own predictions would make
    methods incomparable.
    """
    counts = set_counts(qrels, predicted)
    if not counts:
        return dict.fromkeys(SET_NAMES)  # nothing labelled: JSON null
    if labels is None:
        labels = {t for q in counts for t in qrels[q]}
    tp, fp, fn = np.array(list(counts.values()), dtype=float).sum(axis=0)
    out = {}
    for avg, (p, r, f) in (("micro", micro_prf(tp, fp, fn)), ("macro", macro_prf(qrels, predicted, labels))):
        out.update({f"P-{avg}": float(p), f"R-{avg}": float(r), f"F1-{avg}": float(f)})
    # share of write-ups that get at least one correct technique above the threshold
    out["covered"] = float(np.mean([c[0] > 0 for c in counts.values()]))
    # share of write-ups that get any technique at all (right or wrong): "found nothing" is the complaint
    out["reported"] = float(np.mean([c[0] + c[1] > 0 for c in counts.values()]))
    return out


def silent(out_of_scope: set, predicted: dict) -> dict[str, bool]:
    """{qid: whether the method predicted nothing} for each out-of-scope write-up."""
    return {q: not predicted.get(q) for q in out_of_scope}


def abstention(out_of_scope: set, predicted: dict) -> dict:
    if not out_of_scope:
        return {}
    quiet = silent(out_of_scope, predicted)
    return {"abstention": sum(quiet.values()) / len(quiet), "out_of_scope": len(quiet)}


def resample_weights(qids: list[str], groups: dict, n: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(n, len(qids)): how often each query is drawn when whole case studies are drawn with replacement.

    The steps (or texts) of one case study are not independent of each other, so the study is the unit
    resampled; an external item (group None) is its own unit.
    """
    keys = [f"study {groups[q]}" if groups.get(q) is not None else f"item {q}" for q in qids]
    units = sorted(set(keys))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(units), size=(n, len(units)))
    counts = np.zeros((n, len(units)))
    np.add.at(counts, (np.arange(n)[:, None], draws), 1)
    index = {u: i for i, u in enumerate(units)}
    return counts[:, [index[k] for k in keys]]


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> list[float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return [round(float(lo), 4), round(float(hi), 4)]


def _resampled_means(weights: np.ndarray, values) -> np.ndarray:
    return weights @ np.asarray(values, dtype=float) / weights.sum(axis=1)


def confidence_intervals(groups: dict, per_query: dict, counts: dict, quiet: dict) -> dict[str, list[float]]:
    """95% percentile bootstrap interval of each aggregate that can be computed.

    per_query: ranking metrics per labelled query; counts: set_counts(); quiet: silent() per out-of-scope
    query. Micro P/R/F1 are recomputed from the pooled counts of each resample, not averaged per query.
    """
    ci = {}
    if per_query:
        qids = sorted(per_query)
        w = resample_weights(qids, groups)
        for name in RANKING_NAMES:
            ci[name] = percentile_interval(_resampled_means(w, [per_query[q][name] for q in qids]))
        ci["MAP"] = ci["AP"]
    if counts:
        qids = sorted(counts)
        w = resample_weights(qids, groups)
        tp, fp, fn = (w @ np.array([counts[q] for q in qids], dtype=float)).T
        for name, samples in zip(("P-micro", "R-micro", "F1-micro"), micro_prf(tp, fp, fn)):
            ci[name] = percentile_interval(samples)
        ci["covered"] = percentile_interval(_resampled_means(w, [counts[q][0] > 0 for q in qids]))
        ci["reported"] = percentile_interval(_resampled_means(w, [counts[q][0] + counts[q][1] > 0 for q in qids]))
    if quiet:
        qids = sorted(quiet)
        ci["abstention"] = percentile_interval(_resampled_means(resample_weights(qids, groups), [quiet[q] for q in qids]))
    return ci


def calibration(qrels: dict, run: dict, bins: int = 10, top: int = 10) -> dict:
    """How far scores are from the hit rates they claim: every (query, technique) pair of the run is one
    prediction, a hit when the technique is in the query's gold labels (out-of-scope queries have none).

    ECE is the bin-size-weighted mean gap between a bin's mean score and its hit rate (equal-width bins);
    ``bins`` lists [low, high, pairs, mean score, hit rate] for the reliability diagram. With all pairs, the
    many near-zero scores of techniques nobody would read dominate ECE, so ``ECE@10`` takes only each
    query's ``top`` pairs: the scores an analyst sees.
    """
    shown = {q: {t: run[q][t] for t in order[:top]} for q, order in canonical_ranking(run).items()}
    return {**_calibration(qrels, run, bins), f"ECE@{top}": _calibration(qrels, shown, bins)["ECE"]}


def _calibration(qrels: dict, run: dict, bins: int) -> dict:
    scores = np.array([s for q in run for s in run[q].values()], dtype=float)
    hits = np.array([t in qrels.get(q, {}) for q in run for t in run[q]], dtype=float)
    if not len(scores):
        return {"ECE": None, "pairs": 0, "bins": []}
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin b holds [b/bins, (b+1)/bins); the tiny slack keeps 0.3 out of the bin below (0.3 * 10 = 2.9999...)
    which = np.clip(np.floor(np.clip(scores, 0.0, 1.0) * bins + 1e-9).astype(int), 0, bins - 1)
    rows, gap = [], 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            mean, rate = float(scores[mask].mean()), float(hits[mask].mean())
            gap += mask.sum() / len(scores) * abs(mean - rate)
            rows.append([round(float(edges[b]), 2), round(float(edges[b + 1]), 2), int(mask.sum()),
                         round(mean, 4), round(rate, 4)])
    return {"ECE": round(float(gap), 4), "pairs": int(len(scores)), "bins": rows}


def per_tactic(qrels: dict, ranking: dict, predicted: dict, tactics_of: dict, tactic_names: dict) -> dict:
    """For each tactic (in matrix order): gold labels, share ranked in the top 10, set P/R/F1 at the threshold."""
    order = {t: i for i, t in enumerate(tactic_names)}
    stats = defaultdict(lambda: {"gold": 0, "top10": 0, "tp": 0, "fp": 0, "fn": 0})
    for q, rel in qrels.items():
        if not rel:
            continue
        top10 = set(ranking.get(q, [])[:10])
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
        p, r, f = (float(v) for v in micro_prf(s["tp"], s["fp"], s["fn"]))
        # a tactic seen only in false positives has no gold label: R@10 is 0 there, as its recall is
        out[ta] = {"name": tactic_names.get(ta, ta), "gold": s["gold"], "R@10": float(_ratio(s["top10"], s["gold"])),
                   "P": p, "R": r, "F1": f}
    return out


def item_report(qid: str, rel: dict, order: list[str], scores: dict, predicted: set, threshold: float) -> dict:
    """One query: rank of each gold technique in the canonical ``order``, misses, highest wrong, predictions."""
    rank = {t: i + 1 for i, t in enumerate(order)}
    return {
        "id": qid,
        "threshold": round(threshold, 4),
        "gold": {t: rank.get(t) for t in sorted(rel)},
        "missed": sorted(t for t in rel if t not in predicted),
        "top_wrong": [[t, round(scores[t], 4)] for t in order if t not in rel][:3],
        "predicted": sorted(predicted),
    }
