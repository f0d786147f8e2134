"""Which techniques tend to appear together in one incident.

From the techniques of training case studies (a studies x techniques 0/1 matrix):
the smoothed log-lift of every pair, and for a text the support each technique
gets from the others in proportion to their first-stage probabilities. The
ranker's second stage (``mapper.learn``) weighs that support against the
technique's own evidence.
"""

from __future__ import annotations

import numpy as np


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
