"""A TF-IDF vectoriser whose state is plain data (JSON + arrays), never a pickle.

scikit-learn fits it (vocabulary, stop words, idf). Transforming is done here,
from that plain state, so that mapping text never imports scikit-learn (about
0.7 s of start-up on a laptop); a test checks the two agree on arbitrary text.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
PARAMS = dict(sublinear_tf=True, ngram_range=(1, 2), min_df=1, stop_words="english", lowercase=True,
              token_pattern=TOKEN_PATTERN, dtype=np.float32)


class SparseText:
    """TF-IDF over word unigrams and bigrams. Learned: ``terms_``, ``vocabulary_``, ``idf_``, ``stop_words_``."""

    def __init__(self, max_features: int | None = 50000):
        self.max_features = max_features

    def fit(self, texts: list[str]) -> "SparseText":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(max_features=self.max_features, **PARAMS).fit(texts)
        vocab = vectorizer.vocabulary_
        self._set(sorted(vocab, key=vocab.get), vectorizer.idf_, sorted(vectorizer.get_stop_words() or ()))
        return self

    def _set(self, terms: list[str], idf, stop_words: list[str]) -> None:
        self.terms_ = list(terms)
        self.vocabulary_ = {term: i for i, term in enumerate(self.terms_)}
        self.idf_ = np.asarray(idf, dtype=np.float64)
        self.stop_words_ = frozenset(stop_words)
        self._token = re.compile(TOKEN_PATTERN)

    def _terms(self, text: str) -> list[str]:
        """Unigrams, then bigrams of neighbouring tokens once stop words are gone (as scikit-learn does)."""
        tokens = [t for t in self._token.findall(text.lower()) if t not in self.stop_words_]
        return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]

    def transform(self, texts: list[str]):
        """L2-normalised sublinear TF-IDF rows as a scipy CSR matrix (float32)."""
        import scipy.sparse as sp

        indptr, indices, values = [0], [], []
        for text in texts:
            counts = Counter(self.vocabulary_[t] for t in self._terms(text) if t in self.vocabulary_)
            cols = np.array(sorted(counts), dtype=np.int64)
            if len(cols):
                tf = 1.0 + np.log(np.array([counts[c] for c in cols], dtype=np.float64))
                weights = tf * self.idf_[cols]
                weights /= np.sqrt((weights * weights).sum())
                indices.append(cols)
                values.append(weights)
            indptr.append(indptr[-1] + len(cols))
        data = np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32)
        cols = np.concatenate(indices) if indices else np.zeros(0, np.int64)
        return sp.csr_matrix((data, cols, np.array(indptr)), shape=(len(texts), len(self.terms_)), dtype=np.float32)

    # -- plain-data state ---------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {"terms": self.terms_, "stop_words": sorted(self.stop_words_), "max_features": self.max_features}
        return meta, {"idf": self.idf_}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> "SparseText":
        obj = cls(max_features=meta.get("max_features"))
        if "stop_words" not in meta:
            raise ValueError("TF-IDF state has no stop-word list (older format); rebuild it")
        obj._set(meta["terms"], arrays["idf"], meta["stop_words"])
        return obj
