"""Which techniques tend to appear together in one incident.

From the techniques of training case studies (a studies x techniques 0/1 matrix):
the smoothed log-lift of every pair, and for a text the support each technique
gets from the others in proportion to their first-stage probabilities.
:class:`CooccurrenceStage` weighs that support against the technique's own evidence.
"""

from __future__ import annotations

import numpy as np

from mapper.model.logistic import Logistic


def lift_matrix(counts: np.ndarray) -> np.ndarray:
    """Smoothed log-lift of two techniques appearing in one case study (0 on the diagonal and
    for techniques no study uses)."""
    n = max(len(counts), 1)
    single = (counts.sum(axis=0) + 0.5) / (n + 1)
    joint = (counts.T @ counts + 0.1) / (n + 1)
    lift = np.log(joint / np.outer(single, single))
    np.fill_diagonal(lift, 0.0)
    unseen = counts.sum(axis=0) == 0
    lift[unseen, :] = 0.0
    lift[:, unseen] = 0.0
    return lift.astype(np.float32)


def stack_inputs(p1: np.ndarray, lift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logit of the first-stage probability, co-occurrence support from the other techniques);
    works on (..., n_techniques) arrays."""
    p1 = np.clip(p1, 1e-6, 1 - 1e-6)
    support = (p1 @ lift.T) / (p1.sum(axis=-1, keepdims=True) + 1e-9)
    return np.log(p1 / (1 - p1)), support


class CooccurrenceStage:
    """A logistic model over [first-stage logit, co-occurrence support].

    ``fit`` takes first-stage probabilities that are out-of-fold for the query's own study, and
    each query's support comes from counts without its own study: its inputs look like those of
    a write-up the model has not seen. Learned: ``lift_`` and ``logistic_``.
    """

    def __init__(self, C: float = 1.0, random_state: int = 0):
        self.C = C
        self.random_state = random_state

    def _inputs(self, p1: np.ndarray, query_groups: np.ndarray, study_counts: np.ndarray) -> np.ndarray:
        logit, support = np.zeros_like(p1), np.zeros_like(p1)
        for g in np.unique(query_groups):
            rows = query_groups == g
            own_study_left_out = np.delete(study_counts, g, axis=0) if 0 <= g < len(study_counts) else study_counts
            logit[rows], support[rows] = stack_inputs(p1[rows], lift_matrix(own_study_left_out))
        return np.column_stack([logit.ravel(), support.ravel()])

    def fit(self, p1: np.ndarray, y: np.ndarray, query_groups: np.ndarray, study_counts: np.ndarray,
            cv=None) -> "CooccurrenceStage":
        """``p1`` and ``y`` are (queries, techniques); with ``cv`` (a grouped splitter) ``oof_proba_``
        holds out-of-fold outputs for choosing an operating point, else in-sample ones."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_predict

        self.lift_ = lift_matrix(study_counts)
        Z, target = self._inputs(p1, query_groups, study_counts), y.ravel()
        model = LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state).fit(Z, target)
        self.logistic_ = Logistic.from_fitted(model)
        if cv is not None:
            row_groups = np.repeat(query_groups, p1.shape[1])
            oof = cross_val_predict(LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state),
                                    Z, target, groups=row_groups, cv=cv, method="predict_proba")[:, 1]
        else:
            oof = model.predict_proba(Z)[:, 1]
        self.oof_proba_ = oof.reshape(p1.shape)
        return self

    def predict_proba(self, p1: np.ndarray) -> np.ndarray:
        return self.logistic_.predict_proba(np.stack(stack_inputs(p1, self.lift_), axis=-1))
