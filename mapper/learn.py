"""The technique ranker learned from case-study procedure steps.

Training has two levels, both fit on the training case studies only:

1. Exemplars: every procedure step, embedded and labelled with its technique.
2. A logistic model over the per-technique features of ``mapper.features``.
   Its training rows come from the training case studies themselves (their
   steps, summaries and narratives), with each study's own exemplars and its
   own share of the popularity prior masked out, so the model learns how
   features behave on text it has *not* seen. Its regularisation strength is
   chosen by an inner grouped cross-validation, and the decision threshold on
   the training rows; nothing is tuned on held-out text.

Follows scikit-learn's conventions: ``__init__`` stores parameters, ``fit``
returns self, learned attributes end in ``_``, ``classes_`` is the column order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapper.cooccurrence import lift_matrix, stack_inputs
from mapper.features import FEATURE_NAMES, Exemplars, Hierarchy, query_features, unit_features
from mapper.head import LinearHead
from mapper.index import TechniqueIndex
from mapper.kb import CaseStudy, KnowledgeBase
from mapper.text import split_sentences


@dataclass
class Query:
    """A labelled training or evaluation text, split into units."""

    units: list[str]
    gold: set[str]
    group: int  # index of the case study it came from (-1: none)
    kind: str = "narrative"


def text_units(text: str) -> tuple[list[str], list]:
    """Cleaned unit texts and their Sentence spans; the whole text if nothing splits."""
    spans = [s for s in split_sentences(text) if s.clean]
    return [s.clean for s in spans], spans


def training_queries(studies: list[CaseStudy], kinds=("steps", "summary", "narrative")) -> list[Query]:
    queries = []
    for group, study in enumerate(studies):
        gold = set(study.techniques)
        if "steps" in kinds:
            for step in study.steps:
                units = text_units(step.description)[0] or [step.description or "-"]
                queries.append(Query(units, {step.technique}, group, "steps"))
        if "summary" in kinds and study.summary:
            queries.append(Query(text_units(study.summary)[0] or [study.summary], gold, group, "summary"))
        if "narrative" in kinds:
            queries.append(Query(text_units(study.narrative())[0] or ["-"], gold, group, "narrative"))
    return queries


def _ai_specific(kb: KnowledgeBase, technique_id: str) -> bool:
    """ATLAS's own techniques: no ATT&CK reference on the technique or its parent."""
    tech = kb.techniques.get(technique_id)
    if tech is None or tech.attack_id:
        return False
    parent = kb.techniques.get(tech.parent) if tech.parent else None
    return parent is None or not parent.attack_id


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


class TechniqueRanker:
    """Scores every technique of the index for a text; probabilities in [0, 1]."""

    def __init__(self, C_grid=(0.3, 3.0), inner_folds: int = 3, head_C: float = 0.5,
                 training_kinds=("steps", "summary", "narrative"), parent_support: float = 0.0,
                 drop_features=(), threshold_rule: str = "coverage", coverage: float = 0.9,
                 ai_gate: bool = True, cooccurrence: bool = True, random_state: int = 0):
        self.C_grid = C_grid
        self.cooccurrence = cooccurrence
        self.ai_gate = ai_gate
        self.threshold_rule = threshold_rule
        self.coverage = coverage
        self.drop_features = drop_features
        self.inner_folds = inner_folds
        self.head_C = head_C
        self.training_kinds = training_kinds
        self.parent_support = parent_support
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------
    def fit(self, studies: list[CaseStudy], kb: KnowledgeBase, index: TechniqueIndex, encoder) -> "TechniqueRanker":
        self.classes_ = list(index.ids)
        self.index_ = index
        col = {t: i for i, t in enumerate(self.classes_)}
        self.hierarchy_ = Hierarchy(self.classes_, {t: kb.techniques[t].parent for t in self.classes_ if t in kb.techniques})
        self.ai_specific_ = np.array([_ai_specific(kb, t) for t in self.classes_], dtype=bool)
        self.gated_ = False
        steps = [(g, s) for g, study in enumerate(studies) for s in study.steps if kb.resolve_id(s.technique)]
        vectors = encoder.encode([s.description or "-" for _, s in steps]) if steps else np.zeros((0, 1), np.float32)
        self.exemplars_ = Exemplars(
            vectors=vectors.astype(np.float32),
            labels=np.array([col[kb.resolve_id(s.technique)] for _, s in steps], dtype=np.int64),
            groups=np.array([g for g, _ in steps], dtype=np.int64),
        )
        self.study_counts_ = np.zeros((len(studies), len(self.classes_)), dtype=np.float32)
        for g, study in enumerate(studies):
            for t in study.techniques:
                if kb.resolve_id(t):
                    self.study_counts_[g, col[kb.resolve_id(t)]] = 1.0
        self.n_studies_ = len(studies)
        self.prior_ = self._prior(None)
        oof_heads = self._fit_heads(kb, steps, encoder, col)

        queries = training_queries(studies, self.training_kinds)
        self.n_features_in_ = len(FEATURE_NAMES)
        self.feature_names_in_ = np.array(FEATURE_NAMES)
        if not queries:
            return self._zero_shot()
        X, y, groups, kinds = self._design(queries, encoder, col, kb, oof_heads)
        if y.min() == y.max():
            return self._zero_shot()
        # ablations: a dropped feature is standardised to a constant and gets no weight
        keep = np.array([name not in self.drop_features for name in FEATURE_NAMES])
        X = X * keep
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0) + 1e-6
        Xs = (X - self.mean_) / self.scale_
        self.C_ = self._choose_C(Xs, y, groups)
        model = self._logistic(self.C_).fit(Xs, y)
        self.coef_ = model.coef_[0].astype(np.float64) * keep
        self.intercept_ = float(model.intercept_[0])
        self._fit_cooccurrence(Xs, y, groups)
        self.threshold_, self.gated_ = self._choose_threshold(Xs, y, kinds, groups)
        return self

    def _technique_examples(self, kb: KnowledgeBase, col):
        """Technique names, documents and description sentences as labelled examples."""
        texts, labels = [], []
        for t, doc in zip(self.index_.ids, self.index_.documents):
            tech = kb.techniques[t]
            sentences = text_units(tech.description)[0]
            for text in [tech.name, doc, *sentences]:
                texts.append(text)
                labels.append(col[t])
        return texts, np.array(labels, dtype=np.int64)

    def _fit_heads(self, kb, steps, encoder, col) -> dict:
        """Fit the production head on all training steps; return out-of-fold heads for the training rows."""
        doc_texts, doc_labels = self._technique_examples(kb, col)
        doc_vectors = encoder.encode(doc_texts)
        step_texts = [s.description or "-" for _, s in steps]
        n = len(self.classes_)

        def fit(mask):
            texts = [t for t, keep in zip(step_texts, mask) if keep] + doc_texts
            vectors = np.vstack([self.exemplars_.vectors[mask], doc_vectors]) if mask.any() else doc_vectors
            labels = np.r_[self.exemplars_.labels[mask], doc_labels]
            return LinearHead(C=self.head_C).fit(vectors, texts, labels, n)

        everything = np.ones(len(step_texts), dtype=bool)
        self.head_ = fit(everything)
        # Each training study is scored by a head that never saw it (grouped inner folds).
        oof_heads = {}
        groups = np.unique(self.exemplars_.groups)
        if len(groups) >= 2:
            for held in np.array_split(groups, min(self.inner_folds, len(groups))):
                head = fit(~np.isin(self.exemplars_.groups, held))
                oof_heads.update({int(g): head for g in held})
        return oof_heads

    # -- co-occurrence: techniques that tend to appear together in one incident ----------
    def _lift(self, exclude_group: int | None = None) -> np.ndarray:
        counts = self.study_counts_
        if exclude_group is not None and 0 <= exclude_group < len(counts):
            counts = np.delete(counts, exclude_group, axis=0)
        return lift_matrix(counts)

    def _fit_cooccurrence(self, Xs, y, groups) -> None:
        """A second logistic stage over [first-stage logit, co-occurrence support], on the same
        training rows, each query's own case study left out of the co-occurrence counts."""
        self.lift_ = self._lift(None)
        self.stack_ = None
        if not self.cooccurrence:
            return
        logit, support = self._training_stack_inputs(Xs, groups)
        model = self._logistic(1.0).fit(np.column_stack([logit.ravel(), support.ravel()]), y)
        self.stack_ = (float(model.coef_[0][0]), float(model.coef_[0][1]), float(model.intercept_[0]))

    def _training_stack_inputs(self, Xs, groups):
        n_t = len(self.classes_)
        p1 = _sigmoid(Xs @ self.coef_ + self.intercept_).reshape(-1, n_t)
        query_groups = groups.reshape(-1, n_t)[:, 0]
        logit, support = np.zeros_like(p1), np.zeros_like(p1)
        for g in np.unique(query_groups):
            rows = query_groups == g
            logit[rows], support[rows] = stack_inputs(p1[rows], self._lift(int(g)))
        return logit, support

    def _training_proba(self, Xs, groups) -> np.ndarray:
        n_t = len(self.classes_)
        if self.stack_ is None:
            return _sigmoid(Xs @ self.coef_ + self.intercept_).reshape(-1, n_t)
        logit, support = self._training_stack_inputs(Xs, groups)
        a, b, c = self.stack_
        return _sigmoid(a * logit + b * support + c)

    def _zero_shot(self) -> "TechniqueRanker":
        """No labelled steps to learn from: a fixed blend of document similarities.

        Scores are then a monotone squashing of similarity, not calibrated probabilities.
        """
        names = list(FEATURE_NAMES)
        self.mean_ = np.zeros(len(names))
        self.scale_ = np.ones(len(names))
        self.coef_ = np.zeros(len(names))
        self.coef_[names.index("dense_max")] = 12.0
        self.coef_[names.index("sparse_max")] = 6.0
        self.intercept_ = -7.0
        self.C_ = None
        self.stack_ = None
        self.threshold_ = 0.5
        self.gated_ = False
        return self

    def _prior(self, exclude_group: int | None) -> np.ndarray:
        counts = self.study_counts_.sum(axis=0)
        n = self.n_studies_
        if exclude_group is not None and 0 <= exclude_group < n:
            counts = counts - self.study_counts_[exclude_group]
            n -= 1
        return (np.log1p(counts) / np.log1p(max(n, 1))).astype(np.float32)

    def _design(self, queries: list[Query], encoder, col, kb, oof_heads: dict):
        rows, labels, groups, kinds = [], [], [], []
        all_units = [u for q in queries for u in q.units]
        encoder.encode(all_units)  # one batched pass; the cache serves the rest
        for q in queries:
            vectors = encoder.encode(q.units)
            head = oof_heads.get(q.group, self.head_)
            feats = self.features(vectors, q.units, exclude_group=q.group, head=head)[0]
            target = np.zeros(len(self.classes_), dtype=np.int8)
            for t in q.gold:
                if kb.resolve_id(t):
                    target[col[kb.resolve_id(t)]] = 1
            rows.append(feats)
            labels.append(target)
            groups.append(np.full(len(target), q.group))
            kinds += [q.kind] * len(target)
        return np.vstack(rows), np.concatenate(labels), np.concatenate(groups), np.array(kinds)

    def _logistic(self, C: float):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, max_iter=2000, random_state=self.random_state)

    def _choose_C(self, X, y, groups) -> float:
        """Inner grouped cross-validation over case studies (log-loss)."""
        grid = list(self.C_grid)
        if len(grid) == 1 or len(np.unique(groups)) < self.inner_folds:
            return float(grid[0])
        from sklearn.metrics import log_loss
        from sklearn.model_selection import GroupKFold

        losses = []
        for C in grid:
            total = 0.0
            for train, test in GroupKFold(n_splits=self.inner_folds).split(X, y, groups):
                if y[train].min() == y[train].max():
                    continue
                p = self._logistic(C).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
                total += log_loss(y[test], p, labels=[0, 1]) * len(test)
            losses.append(total)
        return float(grid[int(np.argmin(losses))])

    def _choose_threshold(self, Xs, y, kinds, groups) -> tuple[float, bool]:
        """The operating point (threshold, AI-relevance gate), from training write-ups only.

        Gate (``ai_gate``): a write-up is recognised only if one of ATLAS's own techniques (no
        ATT&CK reference on itself or its parent) reaches the threshold; the techniques ATLAS
        shares with ATT&CK (valid accounts, phishing...) are then reported beside it, but never
        on their own, so ordinary intrusions are not mistaken for attacks on AI.

        ``coverage`` (default): the highest threshold at which at least ``coverage`` of the
        training write-ups still get one correct technique above it (and pass the gate);
        everything weaker is left out. Summaries count because real write-ups are often that
        short. ``f1``: the cut with the best micro-F1 on them (no gate).
        """
        mask = np.isin(kinds, ("narrative", "summary"))
        if not mask.any() or y[mask].sum() == 0:
            return 0.5, False
        n_t = len(self.classes_)
        p = self._training_proba(Xs[mask], groups[mask])
        truth = y[mask].astype(bool).reshape(-1, n_t)
        if self.threshold_rule == "coverage":
            has_truth = truth.any(axis=1)
            needed = np.where(truth, p, 0.0).max(axis=1)[has_truth]
            gated = self.ai_gate and self.ai_specific_.any()
            if gated:
                needed = np.minimum(needed, p[:, self.ai_specific_].max(axis=1)[has_truth])
            cut = float(np.floor(np.quantile(needed, 1.0 - self.coverage, method="lower") * 100) / 100)
            cut = max(0.01, cut)
            return cut, bool(gated)
        best, best_f1 = 0.5, -1.0
        for cut in np.linspace(0.05, 0.95, 91):
            pred = p >= cut
            tp = (pred & truth).sum()
            f1 = 2 * tp / (pred.sum() + truth.sum()) if (pred.sum() + truth.sum()) else 0.0
            if f1 > best_f1 + 1e-9:
                best, best_f1 = float(cut), f1
        return round(best, 2), False

    # -- scoring -------------------------------------------------------------
    def features(self, unit_vectors, unit_texts, exclude_group: int | None = None, head: LinearHead | None = None):
        prior = self._prior(exclude_group)
        head = head or getattr(self, "head_", None)
        head_scores = head.decision(unit_vectors, unit_texts) if head is not None else None
        return query_features(unit_vectors, unit_texts, self.index_, self.hierarchy_, self.exemplars_, prior,
                              exclude_group, head_scores)

    def _proba(self, feats: np.ndarray) -> np.ndarray:
        proba = _sigmoid(((feats - self.mean_) / self.scale_) @ self.coef_ + self.intercept_)
        if getattr(self, "stack_", None) is not None:
            logit, support = stack_inputs(proba, self.lift_)
            a, b, c = self.stack_
            proba = _sigmoid(a * logit + b * support + c)
        if self.parent_support > 0:
            proba = np.maximum(proba, self.parent_support * self.hierarchy_.child_max(proba))
        return proba

    def recognises(self, proba: np.ndarray, threshold: float | None = None) -> bool:
        """Whether one of ATLAS's own techniques reaches the threshold (always true without the gate)."""
        if not self.gated_ or not self.ai_specific_.any():
            return True
        cut = self.threshold_ if threshold is None else threshold
        return bool(proba[self.ai_specific_].max() >= cut)

    def score(self, unit_vectors: np.ndarray, unit_texts: list[str]):
        """(probability per class, per-unit score matrices)."""
        feats, per_unit = self.features(unit_vectors, unit_texts)
        return self._proba(feats), per_unit

    def unit_scores(self, per_unit: dict[str, np.ndarray], unit_vectors: np.ndarray, columns: list[int]) -> np.ndarray:
        """Probability of each chosen technique if each unit stood alone: (n_units, len(columns)).

        Reuses the per-unit scores of :meth:`score`, so evidence costs one more pooling pass, not
        one more scoring pass per sentence.
        """
        feats = unit_features(per_unit, unit_vectors, self.index_, self.hierarchy_, self.exemplars_, self.prior_)
        return self._proba(feats)[:, columns].astype(np.float32)

    # -- plain-data state ------------------------------------------------------
    PARAMS = ("C_grid", "inner_folds", "head_C", "training_kinds", "parent_support", "drop_features",
              "threshold_rule", "coverage", "ai_gate", "cooccurrence", "random_state")

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {
            "params": {p: getattr(self, p) for p in self.PARAMS},
            "classes": self.classes_, "C": self.C_, "intercept": self.intercept_,
            "threshold": self.threshold_, "gated": self.gated_, "stack": self.stack_, "n_studies": self.n_studies_,
            "ai_specific": [t for t, a in zip(self.classes_, self.ai_specific_) if a],
            "feature_names": list(FEATURE_NAMES),
            "parents": {t: self.classes_[p] for t, p in zip(self.classes_, self.hierarchy_.parent_col) if p >= 0},
        }
        if getattr(self, "head_", None) is not None:
            meta["head"], head_arrays = self.head_.state("head_")
        else:
            head_arrays = {}
        arrays = {
            "coef": self.coef_, "mean": self.mean_, "scale": self.scale_, "study_counts": self.study_counts_,
            "lift": getattr(self, "lift_", np.zeros((0, 0), np.float32)),
            "ex_vectors": self.exemplars_.vectors, "ex_labels": self.exemplars_.labels, "ex_groups": self.exemplars_.groups,
            **head_arrays,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], index: TechniqueIndex) -> "TechniqueRanker":
        params = dict(meta["params"])
        params["C_grid"] = tuple(params["C_grid"])
        params["training_kinds"] = tuple(params["training_kinds"])
        params["drop_features"] = tuple(params.get("drop_features", ()))
        obj = cls(**params)
        if list(meta["feature_names"]) != list(FEATURE_NAMES):
            raise ValueError("model was trained with different features; retrain it")
        obj.classes_ = list(meta["classes"])
        if obj.classes_ != list(index.ids):
            raise ValueError("model and technique index disagree on techniques; retrain it")
        obj.index_ = index
        obj.C_, obj.intercept_, obj.threshold_ = meta["C"], meta["intercept"], meta["threshold"]
        obj.gated_ = bool(meta["gated"])
        obj.stack_ = tuple(meta["stack"]) if meta.get("stack") else None
        obj.lift_ = arrays["lift"]
        obj.ai_specific_ = np.isin(obj.classes_, meta["ai_specific"])
        obj.n_studies_ = meta["n_studies"]
        obj.coef_, obj.mean_, obj.scale_ = arrays["coef"], arrays["mean"], arrays["scale"]
        obj.study_counts_ = arrays["study_counts"]
        obj.exemplars_ = Exemplars(arrays["ex_vectors"], arrays["ex_labels"], arrays["ex_groups"])
        obj.hierarchy_ = Hierarchy(obj.classes_, meta["parents"])
        obj.head_ = LinearHead.from_state(meta["head"], arrays, "head_") if "head" in meta else None
        obj.prior_ = obj._prior(None)
        return obj
