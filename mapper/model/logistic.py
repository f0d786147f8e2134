"""The package's one logistic predictor, as plain arrays: mapping never imports scikit-learn.

scikit-learn fits the model (a ``StandardScaler`` then ``LogisticRegression`` pipeline, or a bare
``LogisticRegression``); :meth:`Logistic.from_fitted` keeps its numbers, and :meth:`Logistic.predict_proba`
computes ``sigmoid(((X - mean) / scale) @ coef + intercept)`` over the last axis of ``X``. The stacker's
first stage, its co-occurrence stage and the AI-relevance decision all predict through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def logit(p, eps: float = 1e-4):
    """The log-odds of probabilities, clipped to [eps, 1 - eps] so that 0 and 1 stay finite."""
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


@dataclass
class Logistic:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_fitted(cls, model, keep: np.ndarray | None = None) -> "Logistic":
        """From a fitted binary ``LogisticRegression``, alone or after a ``StandardScaler`` in a pipeline;
        ``keep`` (booleans per feature) zeroes the weights of the features left out."""
        steps = getattr(model, "steps", None)
        logistic = steps[-1][1] if steps else model
        coef = logistic.coef_[0].astype(np.float64)
        if steps and len(steps) > 1:
            mean, scale = steps[0][1].mean_.astype(np.float64), steps[0][1].scale_.astype(np.float64)
        else:
            mean, scale = np.zeros(len(coef)), np.ones(len(coef))
        return cls(mean, scale, coef * keep if keep is not None else coef, float(logistic.intercept_[0]))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The probability of the positive class, one per row of the last axis."""
        return sigmoid(((X - self.mean) / self.scale) @ self.coef + self.intercept)

    # -- plain-data state ------------------------------------------------------
    def state(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale],
                "coef": [float(v) for v in self.coef], "intercept": self.intercept}

    @classmethod
    def from_state(cls, meta: dict) -> "Logistic":
        return cls(*(np.array(meta[k], dtype=np.float64) for k in ("mean", "scale", "coef")), float(meta["intercept"]))
