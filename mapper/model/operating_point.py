"""The operating point: the score threshold and the confidence bands.

Threshold: the highest cut at which at least ``coverage`` of the training write-ups still get
one correct technique above it. It is chosen on out-of-fold scores (``Stacker.oof_proba_``), so
it is set on scores like those of unseen text.

Bands: ``high`` from 0.5 up (more likely right than wrong, the scores being calibrated
probabilities), ``medium`` from the threshold, ``low`` below it (shown only as suggestions for
a write-up that is about AI, see :mod:`mapper.model.relevance`).
"""

from __future__ import annotations

import numpy as np

from mapper.model.threshold import coverage_cut

HIGH = 0.5


def band(score: float, threshold: float) -> str:
    if score >= max(HIGH, threshold):
        return "high"
    return "medium" if score >= threshold else "low"


class OperatingPoint:
    """Learned: ``threshold_``."""

    def __init__(self, coverage: float = 0.9):
        self.coverage = coverage

    def fit(self, proba: np.ndarray, truth: np.ndarray) -> "OperatingPoint":
        """``proba`` and boolean ``truth``: (training write-ups, techniques)."""
        has_truth = truth.any(axis=1)
        if not has_truth.any():
            self.threshold_ = 0.5
            return self
        self.threshold_ = coverage_cut(np.where(truth, proba, 0.0).max(axis=1)[has_truth], self.coverage)
        return self

    @classmethod
    def fixed(cls, threshold: float) -> "OperatingPoint":
        """An operating point at a given threshold (the zero-shot fallback)."""
        obj = cls()
        obj.threshold_ = float(threshold)
        return obj
