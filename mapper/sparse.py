"""A TF-IDF vectoriser whose state is plain data (JSON + arrays), never a pickle."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

PARAMS = dict(sublinear_tf=True, ngram_range=(1, 2), min_df=1, stop_words="english", lowercase=True, dtype=np.float32)


class SparseText:
    """TF-IDF over word unigrams and bigrams (scikit-learn estimator conventions)."""

    def __init__(self, max_features: int | None = 50000):
        self.max_features = max_features

    def fit(self, texts: list[str]) -> "SparseText":
        self.vectorizer_ = TfidfVectorizer(max_features=self.max_features, **PARAMS).fit(texts)
        return self

    def transform(self, texts: list[str]):
        return self.vectorizer_.transform(texts)

    # -- plain-data state ---------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        vocab = self.vectorizer_.vocabulary_
        terms = sorted(vocab, key=vocab.get)
        return {"terms": terms, "max_features": self.max_features}, {"idf": self.vectorizer_.idf_.astype(np.float64)}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> "SparseText":
        obj = cls(max_features=meta.get("max_features"))
        vocabulary = {term: i for i, term in enumerate(meta["terms"])}
        vec = TfidfVectorizer(vocabulary=vocabulary, **PARAMS)
        vec.fit(meta["terms"][:1] or ["x"])  # sets up the fitted machinery; idf_ is replaced next
        vec.idf_ = np.asarray(arrays["idf"], dtype=np.float64)
        obj.vectorizer_ = vec
        return obj
