"""How much a text's words read like an attack on or through an AI system: a TF-IDF text classifier.

It learns from the same texts as the AI-relevance decision (:mod:`mapper.model.relevance`): case studies
and AI write-ups against non-AI incidents and AI incidents without an adversary. Its score is one of that
decision's features. Words carry what the fixed cue list cannot: "a research agent read a page that told it
to send our keys" has no cue word, and "the assistant deleted the files by mistake" has AI words but no
attacker. Measured by cross-validation on the corpus's training split, it is what lifts the decision (see
the README's accuracy section).

The training texts' scores are out of fold (:attr:`AttackText.oof_score_`), so the decision learns how far
to trust the score on texts it has not seen. State is plain data: the vocabulary, idf and one weight per term.
"""

from __future__ import annotations

import numpy as np

from mapper.encode.tfidf import PARAMS, SparseText
from mapper.model.logistic import sigmoid


class AttackText:
    """Learned: ``sparse_`` (its TF-IDF), ``coef_`` (one weight per term), ``intercept_``, ``oof_score_``, ``classes_``."""

    def __init__(self, C: float = 10.0, max_features: int | None = 50000, inner_folds: int = 5, random_state: int = 0):
        self.C = C
        self.max_features = max_features
        self.inner_folds = inner_folds
        self.random_state = random_state

    def _model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000, random_state=self.random_state)

    def fit(self, texts: list[str], y, groups=None) -> "AttackText":
        """``y`` 1 for a text about an attack on or through AI; ``groups`` keep one event's texts in one fold."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline

        y = np.asarray(y, dtype=int)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        self.classes_ = np.array([0, 1])
        self.sparse_ = SparseText(self.max_features).fit(texts)
        model = self._model().fit(self.sparse_.transform(texts), y)
        self.coef_ = model.coef_[0].astype(np.float32)
        self.intercept_ = float(model.intercept_[0])
        n_splits = min(self.inner_folds, int(np.bincount(y, minlength=2).min()))
        if n_splits >= 2:
            # SparseText's own vectoriser, fitted per fold: each fold's vocabulary from its own training texts
            fold_model = make_pipeline(TfidfVectorizer(max_features=self.max_features, **PARAMS), self._model())
            cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            self.oof_score_ = cross_val_predict(fold_model, list(texts), y, groups=groups, cv=cv,
                                                method="predict_proba")[:, 1]
        else:
            self.oof_score_ = self.score(texts)
        return self

    def score(self, texts: list[str]) -> np.ndarray:
        """The probability that each text is about an attack on or through AI."""
        margins = self.sparse_.rows(texts).dot(self.coef_[:, None])[:, 0]
        return sigmoid(margins.astype(np.float64) + self.intercept_)

    # -- plain-data state ------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        sparse_meta, sparse_arrays = self.sparse_.state()
        meta = {"C": self.C, "max_features": self.max_features, "inner_folds": self.inner_folds,
                "random_state": self.random_state, "intercept": self.intercept_, "sparse": sparse_meta}
        return meta, {"idf": sparse_arrays["idf"], "coef": self.coef_}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> "AttackText":
        obj = cls(meta["C"], meta["max_features"], meta["inner_folds"], meta["random_state"])
        obj.sparse_ = SparseText.from_state(meta["sparse"], {"idf": arrays["idf"]})
        obj.coef_, obj.intercept_ = np.asarray(arrays["coef"], dtype=np.float32), float(meta["intercept"])
        obj.classes_ = np.array([0, 1])
        return obj

