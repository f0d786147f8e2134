"""Replay case studies through mapping methods under an honest protocol.

Protocols:
- ``loco``: leave one case study out. Each fold trains every method on the
  other case studies only and scores the held-out study's queries.
- ``temporal``: a time split. Train on an older release as it was (its case
  studies, labels, technique documents and index), test on the case studies
  added since, scored against the labels the old release can name (how many it
  cannot is reported).
- ``temporal-studies``: train on the older release's case studies only, but with
  the evaluated release's knowledge base (documents, labels, index): it isolates
  the effect of the newer studies from that of the newer technique catalogue.
- ``zero-shot``: nothing is learned from case studies.
External labelled files are not split by case study or by time, whatever the protocol: their items are scored
with methods trained on all case studies (nothing under zero-shot), in one fold named ``external``, or in the
write-up folds below where some of them are training write-ups.

Training write-ups (default: those the shipped model learns from, :func:`mapper.model.writeups.bundled_writeups`)
go to the methods that learn from them (``learns_writeups``: the default pipeline) in every fold but
the time split's own (they were written after the older release) and the zero-shot protocol's. Where labelled files being scored are among them,
those items are scored by cross-validation over write-ups: ``WRITEUP_FOLDS`` folds, each
trained without the write-ups it scores.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field

from atlas_eval.datasets import Dataset
from atlas_eval.methods import Context, parse_method
from atlas_eval.scoring import build_report
from mapper.errors import UsageError
from mapper.kb import KnowledgeBase

PROTOCOLS = ("loco", "temporal", "temporal-studies", "zero-shot")
WRITEUP_FOLDS = 5


@dataclass
class Fold:
    name: str
    train: list  # CaseStudy objects
    test_ids: dict[str, list[str]]  # dataset name -> query ids
    ctx: Context | None = None  # what the methods are built on, when not the evaluated release
    writeups: list = field(default_factory=list)  # training write-ups (WriteUp objects)


@dataclass
class MethodRuns:
    run: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    rank_seconds: float = 0.0
    fit_seconds: float = 0.0
    n_queries: int = 0


def _writeup_folds(ids: list[str], n_splits: int) -> list[list[str]]:
    """Items dealt round-robin in a fixed pseudo-random order (a hash of the id), so folds are reproducible."""
    order = sorted(ids, key=lambda q: hashlib.sha256(f"atlas-mapper-cv:{q}".encode()).hexdigest())
    return [order[k::n_splits] for k in range(min(n_splits, len(order)))]


def make_folds(kb: KnowledgeBase, datasets: list[Dataset], protocol: str, older: Context | None = None,
               max_folds: int | None = None, writeups: list | None = None) -> list[Fold]:
    """The folds of a protocol; ``older`` is the older release's context (temporal protocols)."""
    writeups = list(writeups or [])
    external = {d.name: [q for q, g in d.groups.items() if g is None] for d in datasets}
    internal = {d.name: [q for q, g in d.groups.items() if g is not None] for d in datasets}
    studies = kb.case_studies
    folds: list[Fold] = []
    if protocol == "loco":
        for study in studies:
            ids = {d.name: [q for q in internal[d.name] if d.groups[q] == study.id] for d in datasets}
            if any(ids.values()):
                folds.append(Fold(study.id, [s for s in studies if s.id != study.id], ids, writeups=writeups))
        if max_folds:
            folds = folds[:max_folds]
    elif protocol in ("temporal", "temporal-studies"):
        if older is None:
            raise UsageError(f"the {protocol} protocol needs --train-release TAG")
        seen = {s.id for s in older.kb.case_studies}
        ids = {d.name: [q for q in internal[d.name] if d.groups[q] not in seen] for d in datasets}
        if protocol == "temporal":
            folds.append(Fold("temporal", list(older.kb.case_studies), ids, older))
        else:
            folds.append(Fold("temporal-studies", [s for s in studies if s.id in seen], ids))
    elif protocol == "zero-shot":
        folds.append(Fold("zero-shot", [], {d.name: internal[d.name] for d in datasets}))
    else:
        raise UsageError(f"unknown protocol {protocol!r}; choose {', '.join(PROTOCOLS)}")
    if any(external.values()):
        train = [] if protocol == "zero-shot" else studies
        if protocol == "zero-shot":
            writeups = []
        trained_on = {w.id for w in writeups}
        overlap = [q for ids in external.values() for q in ids if q in trained_on]
        if not overlap:
            folds.append(Fold("external", train, external, writeups=writeups))
        for k, held in enumerate(_writeup_folds(overlap, WRITEUP_FOLDS) if overlap else []):
            held = set(held)
            # the other external items (not training write-ups) are scored once, in the first fold
            ids = {name: [q for q in qs if q in held or (k == 0 and q not in trained_on)] for name, qs in external.items()}
            folds.append(Fold(f"external-cv{k + 1}", train, ids, writeups=[w for w in writeups if w.id not in held]))
    return folds


def _refuse_saved_models_on_training_data(methods, folds: list[Fold], writeups: list) -> None:
    """A saved model was trained on every case study and the shipped write-ups: scoring any of them would leak."""
    saved = [spec for spec, _, params in methods if "model_dir" in params]
    if not saved:
        return
    if any(any(f.test_ids.values()) for f in folds if not f.name.startswith("external")):
        raise UsageError(f"{saved[0]} scores a saved model, which saw every case study; use it only on labelled "
                         "files (--task FILE), not on the steps/summary/narrative tasks")
    trained_on = {w.id for w in writeups}
    if any(q in trained_on for f in folds for ids in f.test_ids.values() for q in ids):
        raise UsageError(f"{saved[0]} scores a saved model, which learned from the shipped write-ups; use it on "
                         "labelled files it did not train on (not the dev half of data/eval/wild or our first files)")


def evaluate(ctx: Context, datasets: list[Dataset], protocol: str, method_specs: list[str],
             older: Context | None = None, max_folds: int | None = None, progress: bool = False,
             writeups: list | None = None) -> dict:
    """Scores every method on every dataset under one protocol; returns the report dict per dataset.

    ``writeups``: training write-ups for the methods that learn from them (see the module docstring)."""
    folds = make_folds(ctx.kb, datasets, protocol, older, max_folds, writeups)
    methods = [parse_method(spec) for spec in method_specs]
    _refuse_saved_models_on_training_data(methods, folds, writeups or [])
    if protocol == "temporal":
        # the old model can only name what the old release had: score it on those labels, report the rest
        tested = {name: set(ids) for f in folds if f.name == "temporal" for name, ids in f.test_ids.items()}
        datasets = [d.nameable_by(older.kb, tested[d.name]) if tested.get(d.name) else d for d in datasets]
    runs = {d.name: {spec: MethodRuns() for spec, _, _ in methods} for d in datasets}
    skipped: dict[str, str] = {}
    fitted: dict[tuple, object] = {}
    for n, fold in enumerate(folds, 1):
        for spec, cls, params in methods:
            if protocol == "zero-shot" and cls.learns and cls.__name__ != "Pipeline":
                skipped[spec] = "learns from case studies; not applicable to the zero-shot protocol"
                continue
            if cls.learns and not fold.train and cls.__name__ != "Pipeline":
                skipped[spec] = "no training case studies in this protocol"
                continue
            start = time.perf_counter()
            if getattr(cls, "learns_writeups", False):
                method = cls(fold.ctx or ctx, **params).fit(fold.train, fold.writeups)
            else:  # the write-up folds of one protocol share their training studies: fit once
                key = (spec, id(fold.ctx), tuple(s.id for s in fold.train))
                if key not in fitted:
                    fitted[key] = cls(fold.ctx or ctx, **params).fit(fold.train)
                method = fitted[key]
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
            what = "labelled files, trained on all case studies" if fold.name == "external" else fold.name
            print(f"\rfold {n} of {len(folds)} ({what})", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    # a time split's runs and labels are in the training release's IDs: its tactics place them
    return {d.name: build_report(ctx.kb, ctx.encoder.name, d, runs[d.name], protocol, len(folds), skipped,
                                 tactics_kb=older.kb if d.unnameable is not None else None)
            for d in datasets}
