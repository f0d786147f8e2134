"""Per-technique evidence features for a piece of text.

A query (one write-up) is a set of sentence units. Each unit is compared with
every technique in four ways: dense cosine to the technique document, TF-IDF
cosine to the technique document, the best cosine to labelled procedure steps
of training case studies (exemplars), and the margin of a linear classifier
trained on those steps (``mapper.model.head``). Sentence-level scores are pooled
into one row of features per technique; a learned model (``mapper.model.ranker``)
turns those rows into calibrated probabilities. Everything here is matrix
arithmetic: no Python loop runs over techniques x sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mapper.encode.index import TechniqueIndex

BASE_SCORERS = ("dense", "sparse", "knn", "head")
FEATURE_NAMES = (
    *(f"{b}_{pool}" for b in BASE_SCORERS for pool in ("max", "top2", "z", "rank")),
    "dense_doc", "knn_vote", "knn_vote_max", "head_vote", "head_vote_max", "head_top3_units", "prior", "has_exemplar",
    "child_knn", "parent_knn", "child_dense", "parent_dense", "child_head", "parent_head", "log_units",
)


@dataclass
class Exemplars:
    """Labelled procedure steps of the training case studies."""

    vectors: np.ndarray  # (n, dim) normalised embeddings
    labels: np.ndarray  # (n,) column index into the technique index
    groups: np.ndarray  # (n,) case-study index, for masking a study's own steps

    @cached_property
    def by_label(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vectors, labels, groups) ordered by label, computed once: each technique's exemplars are then one
        run of columns, which reduceat pools without a gather or a scatter per text."""
        order = np.argsort(self.labels, kind="stable")
        return np.ascontiguousarray(self.vectors[order]), self.labels[order], self.groups[order]


# Pooling works on a stack of queries: scores are (n_queries, n_units, n_techniques). A whole
# write-up is one query of all its units; evidence scores each unit as a query of its own,
# in the same single pass.
def _top2_mean(scores: np.ndarray) -> np.ndarray:
    if scores.shape[1] == 1:
        return scores[:, 0]
    part = np.partition(scores, scores.shape[1] - 2, axis=1)[:, -2:]
    return part.mean(axis=1)


def _zscore(rows: np.ndarray) -> np.ndarray:
    return (rows - rows.mean(axis=-1, keepdims=True)) / (rows.std(axis=-1, keepdims=True) + 1e-6)


def _unit_votes(scores: np.ndarray, temperature: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit spreads one vote over techniques (softmax of its scores): mean, max, and top-3 share.

    A write-up that describes several techniques has different sentences voting for
    each; max-pooling alone lets one strong sentence hide the others.
    """
    weights = np.exp((scores - scores.max(axis=-1, keepdims=True)) / temperature)
    weights /= weights.sum(axis=-1, keepdims=True)
    k = min(3, scores.shape[-1])
    top = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    in_top = np.zeros_like(scores)
    np.put_along_axis(in_top, top, 1.0, axis=-1)
    return weights.mean(axis=1), weights.max(axis=1), in_top.mean(axis=1)


def _reciprocal_rank(rows: np.ndarray) -> np.ndarray:
    order = np.argsort(-rows, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(rows.shape[-1]), rows.shape), axis=-1)
    return 1.0 / (1.0 + ranks)


class Hierarchy:
    """Parent/child columns of the technique index, for hierarchy features."""

    def __init__(self, ids: list[str], parents: dict[str, str | None]):
        pos = {t: i for i, t in enumerate(ids)}
        self.parent_col = np.array([pos.get(parents.get(t) or "", -1) for t in ids], dtype=np.int64)
        self.children = [[pos[c] for c in ids if parents.get(c) == t] for t in ids]
        self._child_cols = np.flatnonzero(self.parent_col >= 0)
        # every family's sub-techniques as one run of columns, for child_max's reduceat
        self._parents = np.array([t for t, kids in enumerate(self.children) if kids], dtype=np.int64)
        self._kids = np.array([c for kids in self.children for c in kids], dtype=np.int64)
        self._kid_starts = np.cumsum([0] + [len(kids) for kids in self.children if kids])[:-1]

    def parent_values(self, values: np.ndarray) -> np.ndarray:
        """Each technique's parent's value (0 for top-level techniques); works on (..., n) arrays."""
        out = np.zeros_like(values)
        out[..., self._child_cols] = values[..., self.parent_col[self._child_cols]]
        return out

    def child_max(self, values: np.ndarray) -> np.ndarray:
        """The best value among each technique's sub-techniques (0 when it has none); (..., n) arrays."""
        out = np.zeros_like(values)
        if len(self._parents):
            out[..., self._parents] = np.maximum.reduceat(values[..., self._kids], self._kid_starts, axis=-1)
        return out


def knn_scores(unit_vectors: np.ndarray, exemplars: Exemplars | None, n_techniques: int,
               exclude_group: int | None = None, temperature: float = 0.05):
    """(best exemplar cosine per technique, soft vote per technique), each (n_units, n_techniques)."""
    n_units = unit_vectors.shape[0]
    best = np.zeros((n_units, n_techniques), dtype=np.float32)
    vote = np.zeros((n_units, n_techniques), dtype=np.float32)
    if exemplars is None or len(exemplars.labels) == 0:
        return best, vote
    vectors, labels, groups = exemplars.by_label
    if exclude_group is not None:
        keep = groups != exclude_group
        vectors, labels = vectors[keep], labels[keep]  # still ordered by label
    if len(labels) == 0:
        return best, vote
    sims = unit_vectors @ vectors.T  # (n_units, n_exemplars)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # where each label's run begins
    present = labels[starts]
    best[:, present] = np.maximum.reduceat(sims, starts, axis=1)  # best similarity per label
    # soft vote: a softmax over exemplars, summed per label
    weights = np.exp((sims - sims.max(axis=1, keepdims=True)) / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    vote[:, present] = np.add.reduceat(weights, starts, axis=1)
    return best, vote


def base_scores(unit_vectors: np.ndarray, unit_texts: list[str], index: TechniqueIndex,
                exemplars: Exemplars | None, exclude_group: int | None = None,
                head_scores: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every unit against every technique, four ways: name -> (n_units, n_techniques)."""
    n_t = len(index.ids)
    dense = unit_vectors @ index.dense.T
    sparse = index.sparse.rows(unit_texts).dot(index.doc_terms)
    knn, vote = knn_scores(unit_vectors, exemplars, n_t, exclude_group)
    head = head_scores if head_scores is not None else np.zeros_like(dense)
    return {"dense": dense, "sparse": sparse, "knn": knn, "head": head, "knn_vote": vote}


def pool_features(per_unit: dict[str, np.ndarray], doc_vectors: np.ndarray, index: TechniqueIndex,
                  hierarchy: Hierarchy, has_exemplar: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Features (n_queries, n_techniques, n_features) from stacked scores (n_queries, n_units, n_techniques)."""
    n_q, n_u, n_t = per_unit["dense"].shape
    columns = []
    for name in BASE_SCORERS:
        scores = per_unit[name]
        best = scores.max(axis=1)
        columns += [best, _top2_mean(scores), _zscore(best), _reciprocal_rank(best)]
    knn_best = per_unit["knn"].max(axis=1)
    dense_best = per_unit["dense"].max(axis=1)
    head_best = per_unit["head"].max(axis=1)
    head_vote, head_vote_max, head_top3 = _unit_votes(per_unit["head"])
    vote = per_unit["knn_vote"]
    full = lambda row: np.broadcast_to(row, (n_q, n_t))  # noqa: E731 - same value for every query
    columns += [
        doc_vectors @ index.dense.T,
        vote.mean(axis=1),
        vote.max(axis=1),
        head_vote,
        head_vote_max,
        head_top3,
        full(prior),
        full(has_exemplar),
        hierarchy.child_max(knn_best),
        hierarchy.parent_values(knn_best),
        hierarchy.child_max(dense_best),
        hierarchy.parent_values(dense_best),
        hierarchy.child_max(head_best),
        hierarchy.parent_values(head_best),
        np.full((n_q, n_t), np.log1p(n_u), dtype=np.float32),
    ]
    return np.stack(columns, axis=-1).astype(np.float32)


def _has_exemplar(exemplars: Exemplars | None, n_t: int, exclude_group: int | None) -> np.ndarray:
    out = np.zeros(n_t, dtype=np.float32)
    if exemplars is not None and len(exemplars.labels):
        labels = exemplars.labels if exclude_group is None else exemplars.labels[exemplars.groups != exclude_group]
        out[np.unique(labels)] = 1.0
    return out


def query_features(
    unit_vectors: np.ndarray,
    unit_texts: list[str],
    index: TechniqueIndex,
    hierarchy: Hierarchy,
    exemplars: Exemplars | None,
    prior: np.ndarray,
    exclude_group: int | None = None,
    head_scores: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Feature matrix (n_techniques, n_features) for the whole text, and the per-unit score matrices."""
    per_unit = base_scores(unit_vectors, unit_texts, index, exemplars, exclude_group, head_scores)
    doc_vector = unit_vectors.mean(axis=0)
    doc_vector /= np.linalg.norm(doc_vector) + 1e-9
    has_exemplar = _has_exemplar(exemplars, len(index.ids), exclude_group)
    stacked = {name: scores[None] for name, scores in per_unit.items()}
    return pool_features(stacked, doc_vector[None], index, hierarchy, has_exemplar, prior)[0], per_unit


def unit_features(per_unit: dict[str, np.ndarray], unit_vectors: np.ndarray, index: TechniqueIndex,
                  hierarchy: Hierarchy, exemplars: Exemplars | None, prior: np.ndarray) -> np.ndarray:
    """Features (n_units, n_techniques, n_features) of each unit as if it were the whole text."""
    has_exemplar = _has_exemplar(exemplars, len(index.ids), None)
    stacked = {name: scores[:, None, :] for name, scores in per_unit.items()}
    norms = np.linalg.norm(unit_vectors, axis=1, keepdims=True) + 1e-9
    return pool_features(stacked, unit_vectors / norms, index, hierarchy, has_exemplar, prior)
