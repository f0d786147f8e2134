"""From per-technique feature rows to probabilities: two stacked logistic stages.

1. ``Pipeline(StandardScaler, LogisticRegression)`` over the feature rows; its C is the one whose
   out-of-fold probabilities (grouped folds over case studies) have the lowest log-loss.
2. :class:`~mapper.model.cooccurrence.CooccurrenceStage`, fitted on the first stage's *out-of-fold*
   probabilities (same grouped folds), so it learns how much to trust first-stage scores of text
   the first stage did not train on, which is what it meets at test time.

``oof_proba_`` is the stack's out-of-fold output on the training rows, from which the operating
point is chosen. At map time only the plain arrays are used: no scikit-learn import.
"""

from __future__ import annotations

import numpy as np

from mapper.model.cooccurrence import CooccurrenceStage
from mapper.model.features import FEATURE_NAMES
from mapper.model.logistic import Logistic
from mapper.model.rows import TrainingRows


def grouped_folds(groups: np.ndarray, n_splits: int):
    """A GroupKFold over case studies, or None when there are too few studies to hold one out."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(groups))
    return GroupKFold(n_splits=min(n_splits, n_groups)) if n_groups >= 2 else None


def first_stage(C: float, random_state: int = 0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=random_state))


class Stacker:
    """Learned: ``C_``, ``first_`` (a :class:`~mapper.model.logistic.Logistic`), ``cooccurrence_``, ``oof_proba_``.

    ``drop_features`` (an ablation) zeroes those feature columns, so they get no weight.
    """

    def __init__(self, C_grid=(0.3, 3.0), inner_folds: int = 3, cooccurrence: bool = True, drop_features=(),
                 random_state: int = 0):
        self.C_grid = C_grid
        self.inner_folds = inner_folds
        self.cooccurrence = cooccurrence
        self.drop_features = drop_features
        self.random_state = random_state

    def _keep(self) -> np.ndarray:
        return np.array([name not in self.drop_features for name in FEATURE_NAMES])

    def fit(self, rows: TrainingRows, study_counts: np.ndarray, query_weight: np.ndarray | None = None) -> "Stacker":
        """``query_weight``: a weight per training query (every technique row of it), or per query and
        technique (shape of ``rows.y``); default 1."""
        from sklearn.metrics import log_loss
        from sklearn.model_selection import cross_val_predict

        X, y, row_groups = rows.flat()
        X = X * self._keep()
        weight = np.ones(rows.y.shape) if query_weight is None else np.asarray(query_weight, dtype=np.float64)
        weight = np.broadcast_to(weight.reshape(len(rows.groups), -1), rows.y.shape).reshape(-1)
        fit_weight = {"logisticregression__sample_weight": weight}
        cv = grouped_folds(rows.groups, self.inner_folds)
        grid = [float(c) for c in self.C_grid]
        if cv is not None:
            # out-of-fold probabilities for every C: they choose C, and those of the chosen C feed stage 2
            oof = {C: cross_val_predict(first_stage(C, self.random_state), X, y, groups=row_groups, cv=cv,
                                        method="predict_proba", params=fit_weight)[:, 1] for C in grid}
            self.C_ = min(grid, key=lambda C: log_loss(y, oof[C], labels=[0, 1], sample_weight=weight))
        else:
            self.C_ = grid[0]
        model = first_stage(self.C_, self.random_state).fit(X, y, **fit_weight)
        self.first_ = Logistic.from_fitted(model, keep=self._keep())
        # a single training study leaves nothing to hold out: in-sample scores are all there is
        p1 = (oof[self.C_] if cv is not None else model.predict_proba(X)[:, 1]).reshape(rows.y.shape)
        self.cooccurrence_ = None
        self.oof_proba_ = p1
        if self.cooccurrence:
            self.cooccurrence_ = CooccurrenceStage(random_state=self.random_state).fit(
                p1, rows.y, rows.groups, study_counts, cv)
            self.oof_proba_ = self.cooccurrence_.oof_proba_
        return self

    @classmethod
    def zero_shot(cls) -> "Stacker":
        """No labelled rows to learn from: a fixed blend of document similarities.

        Its scores are a monotone squashing of similarity, not calibrated probabilities.
        """
        obj = cls(C_grid=(), cooccurrence=False)
        names = list(FEATURE_NAMES)
        coef = np.zeros(len(names))
        coef[names.index("dense_max")] = 12.0
        coef[names.index("sparse_max")] = 6.0
        obj.first_ = Logistic(np.zeros(len(names)), np.ones(len(names)), coef, -7.0)
        obj.C_ = None
        obj.cooccurrence_ = None
        return obj

    def predict_proba(self, feats: np.ndarray) -> np.ndarray:
        """Probabilities (..., n_techniques) from features (..., n_techniques, n_features)."""
        proba = self.first_.predict_proba(feats)
        if self.cooccurrence_ is not None:
            proba = self.cooccurrence_.predict_proba(proba)
        return proba

    # -- plain-data state ------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        cooc = self.cooccurrence_
        meta = {"C": self.C_, "first": self.first_.state(),
                "cooccurrence": None if cooc is None else cooc.logistic_.state()}
        return meta, {"lift": cooc.lift_ if cooc is not None else np.zeros((0, 0), np.float32)}

    def restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> "Stacker":
        self.C_, self.first_ = meta["C"], Logistic.from_state(meta["first"])
        self.cooccurrence_ = None
        if meta["cooccurrence"] is not None:
            stage = CooccurrenceStage()
            stage.logistic_ = Logistic.from_state(meta["cooccurrence"])
            stage.lift_ = arrays["lift"]
            self.cooccurrence_ = stage
        return self
