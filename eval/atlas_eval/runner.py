"""Replay case studies through mapping methods under an honest protocol.

Protocols:
- ``loco``: leave one case study out. Each fold trains every method on the
  other case studies only and scores the held-out study's queries.
- ``temporal``: train on the case studies an older release already had, test
  on those added since (labels from the evaluated release).
- ``zero-shot``: nothing is learned from case studies.
External labelled files are scored with methods trained on all case studies.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from mapper.errors import UsageError
from mapper.kb import KnowledgeBase

from atlas_eval.datasets import Dataset
from atlas_eval.methods import Context, parse_method
from atlas_eval.metrics import (
    abstention, item_report, parent_level_qrels, parent_level_run, per_tactic, predicted_sets,
    ranking_metrics, set_metrics,
)

PROTOCOLS = ("loco", "temporal", "zero-shot")


@dataclass
class Fold:
    name: str
    train: list  # CaseStudy objects
    test_ids: dict[str, list[str]]  # dataset name -> query ids


@dataclass
class MethodRuns:
    run: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    rank_seconds: float = 0.0
    fit_seconds: float = 0.0
    n_queries: int = 0


def make_folds(kb: KnowledgeBase, datasets: list[Dataset], protocol: str, train_ids: set[str] | None = None,
               max_folds: int | None = None) -> list[Fold]:
    external = {d.name: [q for q, g in d.groups.items() if g is None] for d in datasets}
    internal = {d.name: [q for q, g in d.groups.items() if g is not None] for d in datasets}
    studies = kb.case_studies
    folds: list[Fold] = []
    if protocol == "loco":
        for study in studies:
            ids = {d.name: [q for q in internal[d.name] if d.groups[q] == study.id] for d in datasets}
            if any(ids.values()):
                folds.append(Fold(study.id, [s for s in studies if s.id != study.id], ids))
        if max_folds:
            folds = folds[:max_folds]
    elif protocol == "temporal":
        if not train_ids:
            raise UsageError("the temporal protocol needs --train-release TAG")
        train = [s for s in studies if s.id in train_ids]
        ids = {d.name: [q for q in internal[d.name] if d.groups[q] not in train_ids] for d in datasets}
        folds.append(Fold("temporal", train, ids))
    elif protocol == "zero-shot":
        folds.append(Fold("zero-shot", [], {d.name: internal[d.name] for d in datasets}))
    else:
        raise UsageError(f"unknown protocol {protocol!r}; choose {', '.join(PROTOCOLS)}")
    if any(external.values()):
        train = [] if protocol == "zero-shot" else studies
        folds.append(Fold("external", train, external))
    return folds


def evaluate(ctx: Context, datasets: list[Dataset], protocol: str, method_specs: list[str],
             train_ids: set[str] | None = None, max_folds: int | None = None, progress: bool = False) -> dict:
    """Scores every method on every dataset under one protocol; returns the report dict per dataset."""
    folds = make_folds(ctx.kb, datasets, protocol, train_ids, max_folds)
    methods = [parse_method(spec) for spec in method_specs]
    runs = {d.name: {spec: MethodRuns() for spec, _, _ in methods} for d in datasets}
    skipped: dict[str, str] = {}
    for n, fold in enumerate(folds, 1):
        for spec, cls, params in methods:
            if protocol == "zero-shot" and cls.learns and cls.__name__ != "Pipeline":
                skipped[spec] = "learns from case studies; not applicable to the zero-shot protocol"
                continue
            if cls.learns and not fold.train and cls.__name__ != "Pipeline":
                skipped[spec] = "no training case studies in this protocol"
                continue
            start = time.perf_counter()
            method = cls(ctx, **params).fit(fold.train)
            fit_seconds = time.perf_counter() - start
            for d in datasets:
                ids = fold.test_ids.get(d.name) or []
                if not ids:
                    continue
                bucket = runs[d.name][spec]
                start = time.perf_counter()
                result = method.rank({q: d.queries[q] for q in ids})
                bucket.rank_seconds += time.perf_counter() - start
                bucket.fit_seconds += fit_seconds
                bucket.n_queries += len(ids)
                bucket.run.update(result)
                # a method may abstain on a whole write-up (its own per-query operating point)
                per_query = getattr(method, "query_thresholds", None)
                bucket.thresholds.update(per_query(result) if per_query else {q: method.threshold_ for q in ids})
        if progress:
            print(f"\rfold {n}/{len(folds)} ({fold.name})", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return {d.name: _report(ctx, d, runs[d.name], protocol, len(folds), skipped) for d in datasets}


def _report(ctx: Context, dataset: Dataset, runs: dict, protocol: str, n_folds: int, skipped: dict) -> dict:
    kb = ctx.kb
    tactics_of = {t.id: t.tactics for t in kb.techniques.values()}
    tactic_names = {t.id: t.name for t in kb.tactics}  # matrix order
    methods = {}
    for spec, mr in runs.items():
        if not mr.run:
            continue
        evaluated = set(mr.run)
        qrels = {q: r for q, r in dataset.qrels.items() if q in evaluated}
        predicted = predicted_sets(mr.run, mr.thresholds)
        agg, per_query = ranking_metrics(qrels, mr.run)
        agg.update(set_metrics(qrels, predicted))
        p_agg, _ = ranking_metrics(parent_level_qrels(qrels), parent_level_run(mr.run))
        parent_pred = {q: {".".join(t.split(".")[:2]) for t in s} for q, s in predicted.items()}
        p_agg.update(set_metrics(parent_level_qrels(qrels), parent_pred))
        agg.update(abstention(dataset.out_of_scope & evaluated, predicted))
        items = [item_report(q, qrels.get(q, {}), mr.run[q], predicted[q], mr.thresholds[q]) for q in sorted(mr.run)]
        for item in items:
            item["metrics"] = {k: round(v, 4) for k, v in per_query.get(item["id"], {}).items()}
        methods[spec] = {
            "metrics": {k: round(v, 4) for k, v in agg.items()},
            "parent_metrics": {k: round(v, 4) for k, v in p_agg.items()},
            "per_tactic": {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                           for k, v in per_tactic(qrels, mr.run, predicted, tactics_of, tactic_names).items()},
            "seconds_per_query": round(mr.rank_seconds / max(mr.n_queries, 1), 5),
            "fit_seconds_per_fold": round(mr.fit_seconds / max(n_folds, 1), 3),
            "queries": mr.n_queries,
            "items": items,
        }
    return {
        "dataset": dataset.describe(),
        "protocol": protocol,
        "folds": n_folds,
        "atlas": kb.atlas_info(),
        "encoder": ctx.encoder.name,
        "skipped": skipped,
        "methods": methods,
    }
