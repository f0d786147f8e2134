"""Choosing a score threshold: the package's one place for it.

- :func:`coverage_cut`: the operating point of the ranker, the highest cut (on a 0.01 grid) at which a
  share ``coverage`` of the texts still keep one correct technique;
- :func:`best_cut`: the candidate cut that maximises a quality measure (the AI-relevance decision's
  balanced accuracy; the harness's baselines' micro-F1), with a stated rule for ties.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def coverage_cut(best_true: np.ndarray, coverage: float) -> float:
    """``best_true``: per text, the score of its best correct technique. Floored to 0.01, at least 0.01."""
    cut = np.floor(np.quantile(best_true, 1.0 - coverage, method="lower") * 100) / 100
    return max(0.01, float(cut))


def midpoints(scores: np.ndarray) -> np.ndarray:
    """Candidate cuts for a set of scores: 0, 1, and midway between each pair of neighbouring values."""
    values = np.unique(scores)
    return np.r_[0.0, (values[1:] + values[:-1]) / 2, 1.0]


def best_cut(candidates: Iterable[float], quality: Callable[[float], float], ties: str = "lowest") -> float:
    """The candidate with the highest ``quality``; among equals the lowest one, or with ``ties="middle"``
    the middle one (so that a flat optimum does not push the cut to its edge)."""
    candidates = np.asarray(list(candidates), dtype=np.float64)
    scores = np.array([quality(float(c)) for c in candidates])
    best = candidates[scores == scores.max()]
    if ties == "middle":
        return float(best[len(best) // 2])
    if ties == "lowest":
        return float(best[0])
    raise ValueError(f"ties must be 'lowest' or 'middle', not {ties!r}")
