"""A TF-IDF vectoriser whose state is plain data (JSON + arrays), never a pickle.

scikit-learn fits it (vocabulary, stop words, idf). Transforming is done here,
from that plain state, so that mapping text never imports scikit-learn (about
0.7 s of start-up on a laptop); a test checks the two agree on arbitrary text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

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
        """L2-normalised sublinear TF-IDF rows as a scipy CSR matrix (float32), for scikit-learn."""
        return self.rows(texts).csr()

    def rows(self, texts: list[str]) -> "Rows":
        """The same rows as plain arrays: mapping multiplies them by dense matrices and never imports scipy
        (whose import was a third of a cold ``atlas-mapper map``)."""
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
        return Rows(np.array(indptr, dtype=np.int64), cols, data, len(self.terms_))

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


@dataclass(frozen=True)
class Rows:
    """Sparse rows in CSR layout (row i's columns are ``indices[indptr[i]:indptr[i + 1]]``)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray  # float32
    width: int

    def dot(self, matrix: np.ndarray) -> np.ndarray:
        """``rows @ matrix`` for a dense ``matrix`` of shape (width, k): (rows, k), float32."""
        lengths = np.diff(self.indptr)
        out = np.zeros((len(lengths), matrix.shape[1]), dtype=np.float32)
        filled = lengths > 0
        if filled.any():  # each filled row's terms are one run; reduceat sums the runs
            terms = matrix[self.indices] * self.data[:, None]
            out[filled] = np.add.reduceat(terms, self.indptr[:-1][filled], axis=0)
        return out

    def csr(self):
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(len(self.indptr) - 1, self.width),
                             dtype=np.float32)

    def dense_columns(self) -> np.ndarray:
        """The rows as a dense (width, rows) matrix: the right operand of :meth:`dot` for scoring against them."""
        out = np.zeros((self.width, len(self.indptr) - 1), dtype=np.float32)
        out[self.indices, np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))] = self.data
        return out
