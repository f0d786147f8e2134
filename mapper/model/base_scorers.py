"""What the ranker learns from case studies before any weighting: its per-technique scorers.

From the training case studies (and training write-ups, each counted as one more study) only:

- exemplars: every procedure step (and write-up rationale line), embedded and labelled with its technique;
- the popularity prior: how many studies use each technique;
- the linear head (``mapper.model.head``) over steps plus technique names, documents and
  description sentences, and out-of-fold copies of it, each fitted without one block of
  studies, so that a training study's rows are scored by a head that never saw it.

:meth:`CaseStudyScorers.features` turns a text's sentence vectors into the per-technique
feature rows of ``mapper.model.features``. Called with ``exclude_group=g``, it masks study ``g``'s own
steps and its share of the prior and uses the head that never saw ``g``: training rows then look
like rows of a text the model has not seen.
"""

from __future__ import annotations

import numpy as np

from mapper.encode.index import TechniqueIndex
from mapper.kb import CaseStudy, KnowledgeBase
from mapper.model.features import Exemplars, Hierarchy, query_features, unit_features
from mapper.model.head import LinearHead
from mapper.model.labels import LabelColumns
from mapper.model.writeups import WriteUp
from mapper.text import text_units


def technique_examples(kb: KnowledgeBase, index: TechniqueIndex) -> tuple[list[str], np.ndarray]:
    """Technique names, documents and description sentences as labelled examples (column indices),
    so that techniques no training study uses can still be found."""
    texts, labels = [], []
    for col, (tid, doc) in enumerate(zip(index.ids, index.documents)):
        tech = kb.techniques[tid]
        for text in [tech.name, doc, *text_units(tech.description)[0]]:
            texts.append(text)
            labels.append(col)
    return texts, np.array(labels, dtype=np.int64)


class CaseStudyScorers:
    """Learned: ``exemplars_``, ``study_counts_`` and ``prior_``, ``head_`` and ``oof_heads_``, ``hierarchy_``."""

    def __init__(self, head_C: float = 0.5, inner_folds: int = 3):
        self.head_C = head_C
        self.inner_folds = inner_folds

    def fit(self, studies: list[CaseStudy], kb: KnowledgeBase, index: TechniqueIndex, encoder,
            writeups: list[WriteUp] = ()) -> "CaseStudyScorers":
        """``writeups``: AI write-ups, groups ``len(studies)`` onwards; their rationale lines are exemplars."""
        self.classes_ = list(index.ids)
        self.index_ = index
        labels = LabelColumns(self.classes_, kb.resolve_id)
        self.hierarchy_ = Hierarchy(self.classes_, {t: kb.techniques[t].parent for t in self.classes_})
        sources = [(study.techniques, [(s.technique, s.description) for s in study.steps]) for study in studies]
        sources += [(w.techniques, list(w.rationale.items())) for w in writeups]
        steps = [(g, labels.column(t), text or "-") for g, (_, pairs) in enumerate(sources) for t, text in pairs]
        steps = [(g, col, text) for g, col, text in steps if col is not None]
        texts = [text for _, _, text in steps]
        vectors = encoder.encode(texts) if steps else np.zeros((0, 1), np.float32)
        self.exemplars_ = Exemplars(
            vectors=vectors.astype(np.float32),
            labels=np.array([col for _, col, _ in steps], dtype=np.int64),
            groups=np.array([g for g, _, _ in steps], dtype=np.int64),
        )
        self.study_counts_ = labels.matrix([techniques for techniques, _ in sources], dtype=np.float32)
        self.prior_ = self.prior(None)
        self._fit_heads(kb, index, encoder, texts)
        return self

    def _fit_heads(self, kb, index, encoder, step_texts: list[str]) -> None:
        """The production head on every training step, and one head per block of held-out studies."""
        doc_texts, doc_labels = technique_examples(kb, index)
        doc_vectors = encoder.encode(doc_texts)
        n = len(self.classes_)

        def fit(mask: np.ndarray) -> LinearHead:
            texts = [t for t, keep in zip(step_texts, mask) if keep] + doc_texts
            vectors = np.vstack([self.exemplars_.vectors[mask], doc_vectors]) if mask.any() else doc_vectors
            labels = np.r_[self.exemplars_.labels[mask], doc_labels]
            return LinearHead(C=self.head_C).fit(vectors, texts, labels, n)

        self.head_ = fit(np.ones(len(step_texts), dtype=bool))
        self.oof_heads_: dict[int, LinearHead] = {}
        groups = np.unique(self.exemplars_.groups)
        if len(groups) >= 2:
            for held in np.array_split(groups, min(self.inner_folds, len(groups))):
                head = fit(~np.isin(self.exemplars_.groups, held))
                self.oof_heads_.update({int(g): head for g in held})

    def prior(self, exclude_group: int | None) -> np.ndarray:
        """log(1 + studies using the technique), scaled to [0, 1]; without one study's share if asked."""
        counts = self.study_counts_.sum(axis=0)
        n = len(self.study_counts_)
        if exclude_group is not None and 0 <= exclude_group < n:
            counts = counts - self.study_counts_[exclude_group]
            n -= 1
        return (np.log1p(counts) / np.log1p(max(n, 1))).astype(np.float32)

    def features(self, unit_vectors: np.ndarray, unit_texts: list[str], exclude_group: int | None = None):
        """(features per technique, per-unit score matrices); see the module docstring for ``exclude_group``."""
        head = self.oof_heads_.get(exclude_group, self.head_) if exclude_group is not None else self.head_
        head_scores = head.decision(unit_vectors, unit_texts) if head is not None else None
        return query_features(unit_vectors, unit_texts, self.index_, self.hierarchy_, self.exemplars_,
                              self.prior(exclude_group), exclude_group, head_scores)

    def unit_features(self, per_unit: dict[str, np.ndarray], unit_vectors: np.ndarray) -> np.ndarray:
        """Features of each unit as if it were the whole text (for evidence)."""
        return unit_features(per_unit, unit_vectors, self.index_, self.hierarchy_, self.exemplars_, self.prior_)

    # -- plain-data state ------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {"head_C": self.head_C, "inner_folds": self.inner_folds,
                "parents": {t: self.classes_[p] for t, p in zip(self.classes_, self.hierarchy_.parent_col) if p >= 0}}
        arrays = {"study_counts": self.study_counts_, "ex_vectors": self.exemplars_.vectors,
                  "ex_labels": self.exemplars_.labels, "ex_groups": self.exemplars_.groups}
        if self.head_ is not None:
            meta["head"], head_arrays = self.head_.state("head_")
            arrays.update(head_arrays)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], index: TechniqueIndex) -> "CaseStudyScorers":
        obj = cls(head_C=meta["head_C"], inner_folds=meta["inner_folds"])
        obj.classes_ = list(index.ids)
        obj.index_ = index
        obj.hierarchy_ = Hierarchy(obj.classes_, meta["parents"])
        obj.study_counts_ = arrays["study_counts"]
        obj.exemplars_ = Exemplars(arrays["ex_vectors"], arrays["ex_labels"], arrays["ex_groups"])
        obj.head_ = LinearHead.from_state(meta["head"], arrays, "head_") if "head" in meta else None
        obj.oof_heads_ = {}  # only needed while fitting
        obj.prior_ = obj.prior(None)
        return obj
