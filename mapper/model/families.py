"""Sub-techniques by the chain rule: P(sub-technique) = P(its family) x P(this one | the family).

The stacker scores every technique alone, and a sub-technique, with fewer examples than its family,
scores low even when its family is certain: "ignore your previous instructions" puts LLM Prompt Injection
first and its Direct sub-technique far below. Here a sub-technique's probability becomes its family's (the
best of the family's members) times the probability that the family's presence means this sub-technique,
learned by one logistic regression shared by every family from the stacker's out-of-fold probabilities on
the training rows where the family is present. Its features: the sub-technique's share of its siblings'
probability (which one), and its own and its family's log-odds (how sure). A technique without a parent in
the release is left as it is.
"""

from __future__ import annotations

import numpy as np

from mapper.model.features import Hierarchy
from mapper.model.logistic import Logistic, logit

FEATURES = ("share", "own", "family")
EPS = 1e-4


class SubtechniqueChain:
    """Learned: ``families_`` (parent column -> sub-technique columns), ``logistic_``."""

    def __init__(self, C: float = 1.0, random_state: int = 0):
        self.C = C
        self.random_state = random_state

    def _features(self, proba: np.ndarray):
        """(family probability, sub-technique columns, features) over the last axis of ``proba``.

        Every family at once: its members (parent, then sub-techniques) and its sub-techniques are runs of
        columns, pooled by reduceat, rather than a loop of small array operations per family."""
        members, member_starts, cols, kid_starts, family_of = self._layout()
        family = np.maximum.reduceat(proba[..., members], member_starts, axis=-1)[..., family_of]
        kids = proba[..., cols]
        share = kids / np.maximum(np.add.reduceat(kids, kid_starts, axis=-1)[..., family_of], EPS)
        return family, cols, np.stack([logit(share), logit(kids), logit(family)], axis=-1)

    def _layout(self):
        """Column runs of the families: (members, where each family's members start, sub-technique columns,
        where each family's sub-techniques start, each sub-technique's family)."""
        members, member_starts, cols, kid_starts, family_of = [], [], [], [], []
        for f, (parent, children) in enumerate(self.families_.items()):
            member_starts.append(len(members))
            members += [parent, *children]
            kid_starts.append(len(cols))
            cols += children
            family_of += [f] * len(children)
        return members, member_starts, cols, kid_starts, family_of

    def fit(self, oof_proba: np.ndarray, y: np.ndarray, hierarchy: Hierarchy) -> "SubtechniqueChain":
        """``oof_proba`` and ``y``: (training queries, techniques), the stacker's out-of-fold output and the labels;
        ``hierarchy``: the release's parents and sub-techniques over the same columns."""
        from sklearn.linear_model import LogisticRegression

        self.families_ = {parent: list(children) for parent, children in enumerate(hierarchy.children) if children}
        self.logistic_ = None
        if not self.families_:
            return self
        _, cols, feats = self._features(oof_proba)
        present = np.concatenate([np.repeat(y[:, [p, *kids]].max(axis=1, keepdims=True) > 0, len(kids), axis=1)
                                  for p, kids in self.families_.items()], axis=1)
        target = y[:, cols] > 0
        X, t = feats[present], target[present]
        if len(t) == 0 or t.min() == t.max():  # nothing to learn which sub-technique a family means
            return self
        model = LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state).fit(X, t)
        self.logistic_ = Logistic.from_fitted(model)
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """``proba`` (..., techniques) with each sub-technique's probability replaced by the chain rule's."""
        if self.logistic_ is None:
            return proba
        family, cols, feats = self._features(proba)
        out = np.array(proba, copy=True)
        out[..., cols] = (family * self.logistic_.predict_proba(feats)).astype(out.dtype)
        return out

    # -- plain-data state ------------------------------------------------------
    def state(self) -> dict:
        return {"C": self.C, "random_state": self.random_state,
                "families": {str(p): kids for p, kids in self.families_.items()},
                "logistic": None if self.logistic_ is None else self.logistic_.state()}

    @classmethod
    def from_state(cls, meta: dict) -> "SubtechniqueChain":
        obj = cls(meta["C"], meta["random_state"])
        obj.families_ = {int(p): list(kids) for p, kids in meta["families"].items()}
        obj.logistic_ = Logistic.from_state(meta["logistic"]) if meta["logistic"] else None
        return obj
