"""The operating point: the score threshold, and the AI-relevance gate.

Gate: a write-up is recognised only if one of ATLAS's own techniques (no ATT&CK reference on
itself or its parent) reaches the threshold. The techniques ATLAS shares with ATT&CK (valid
accounts, phishing...) are then reported beside it, never on their own, so ordinary intrusions
are not mistaken for attacks on AI.

Threshold: the highest cut at which at least ``coverage`` of the training write-ups still get
one correct technique above it (and pass the gate). It is chosen on out-of-fold scores
(``Stacker.oof_proba_``), so it is set on scores like those of unseen text.
"""

from __future__ import annotations

import numpy as np

from mapper.kb import KnowledgeBase


def ai_specific(kb: KnowledgeBase, technique_id: str) -> bool:
    """ATLAS's own techniques: no ATT&CK reference on the technique or its parent."""
    tech = kb.techniques.get(technique_id)
    if tech is None or tech.attack_id:
        return False
    parent = kb.techniques.get(tech.parent) if tech.parent else None
    return parent is None or not parent.attack_id


class OperatingPoint:
    """scikit-learn conventions: ``fit`` returns self, learned attributes end in ``_``."""

    def __init__(self, coverage: float = 0.9, ai_gate: bool = True):
        self.coverage = coverage
        self.ai_gate = ai_gate

    def fit(self, proba: np.ndarray, truth: np.ndarray, ai_specific_mask: np.ndarray) -> "OperatingPoint":
        """``proba`` and boolean ``truth``: (training write-ups, techniques)."""
        self.ai_specific_ = np.asarray(ai_specific_mask, dtype=bool)
        self.gated_ = bool(self.ai_gate and self.ai_specific_.any())
        has_truth = truth.any(axis=1)
        if not has_truth.any():
            self.threshold_ = 0.5
            return self
        needed = np.where(truth, proba, 0.0).max(axis=1)[has_truth]
        if self.gated_:
            needed = np.minimum(needed, proba[:, self.ai_specific_].max(axis=1)[has_truth])
        cut = np.floor(np.quantile(needed, 1.0 - self.coverage, method="lower") * 100) / 100
        self.threshold_ = max(0.01, float(cut))
        return self

    @classmethod
    def fixed(cls, threshold: float, ai_specific_mask: np.ndarray) -> "OperatingPoint":
        """An ungated operating point at a given threshold (the zero-shot fallback)."""
        obj = cls(ai_gate=False)
        obj.ai_specific_ = np.asarray(ai_specific_mask, dtype=bool)
        obj.gated_, obj.threshold_ = False, float(threshold)
        return obj

    def recognises(self, proba: np.ndarray, threshold: float | None = None) -> bool:
        """Whether one of ATLAS's own techniques reaches the threshold (always true without the gate)."""
        if not self.gated_:
            return True
        cut = self.threshold_ if threshold is None else threshold
        return bool(proba[self.ai_specific_].max() >= cut)
