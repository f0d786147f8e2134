"""A linear classifier from sentence to technique, learned from procedure steps.

Input features are the sentence embedding next to its TF-IDF vector (both
L2-normalised); one linear SVM per technique (one-vs-rest). Technique names,
documents and description sentences are added as training examples, so every
technique of the release has at least one example, including those no
training case study uses (the zero-shot fallback). Its decision margins are
one of the base scores that ``mapper.model.features`` pools per technique.
"""

from __future__ import annotations

import numpy as np

from mapper.encode.tfidf import SparseText

MISSING_CLASS_MARGIN = -2.0


class LinearHead:
    """Learned: ``sparse_`` (its own TF-IDF), ``coef_``, ``intercept_``, ``classes_`` (the columns seen), ``n_classes_``."""

    def __init__(self, C: float = 0.5, max_features: int | None = 30000):
        self.C = C
        self.max_features = max_features

    def _features(self, vectors: np.ndarray, texts: list[str]):
        import scipy.sparse as sp  # training only: decision() does without scipy

        return sp.hstack([sp.csr_matrix(vectors), self.sparse_.transform(texts)]).tocsr()

    def fit(self, vectors: np.ndarray, texts: list[str], labels: np.ndarray, n_classes: int) -> "LinearHead":
        from sklearn.svm import LinearSVC

        self.n_classes_ = n_classes
        self.sparse_ = SparseText(max_features=self.max_features).fit(texts)
        model = LinearSVC(C=self.C, random_state=0, max_iter=5000).fit(self._features(vectors, texts), labels)
        present = np.asarray(model.classes_, dtype=np.int64)
        coef = np.atleast_2d(model.coef_)
        intercept = np.atleast_1d(model.intercept_)
        if len(present) == 2 and coef.shape[0] == 1:  # binary case: one row for the positive class
            coef = np.vstack([-coef, coef])
            intercept = np.r_[-intercept, intercept]
        self.classes_ = present
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        return self

    def decision(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        """Margins (n_texts, n_classes); techniques never seen in training get a fixed low margin."""
        out = np.full((len(texts), self.n_classes_), MISSING_CLASS_MARGIN, dtype=np.float32)
        if len(texts) == 0:
            return out
        # [vectors, TF-IDF] @ coef.T, in two parts: the dense columns of coef, then the terms' columns
        dim = vectors.shape[1]
        margins = vectors @ self.coef_[:, :dim].T + self.sparse_.rows(texts).dot(self.coef_[:, dim:].T)
        out[:, self.classes_] = margins + self.intercept_
        return out

    # -- plain-data state ---------------------------------------------------
    def state(self, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
        sparse_meta, sparse_arrays = self.sparse_.state()
        meta = {"C": self.C, "max_features": self.max_features, "n_classes": self.n_classes_, "sparse": sparse_meta}
        arrays = {f"{prefix}coef": self.coef_, f"{prefix}intercept": self.intercept_, f"{prefix}classes": self.classes_,
                  f"{prefix}idf": sparse_arrays["idf"]}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], prefix: str) -> "LinearHead":
        obj = cls(C=meta["C"], max_features=meta["max_features"])
        obj.n_classes_ = meta["n_classes"]
        obj.sparse_ = SparseText.from_state(meta["sparse"], {"idf": arrays[f"{prefix}idf"]})
        obj.coef_ = arrays[f"{prefix}coef"]
        obj.intercept_ = arrays[f"{prefix}intercept"]
        obj.classes_ = arrays[f"{prefix}classes"]
        return obj
