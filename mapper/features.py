"""Per-technique evidence features for a piece of text.

A query (one write-up) is a set of sentence units. Each unit is compared with
every technique in four ways: dense cosine to the technique document, TF-IDF
cosine to the technique document, the best cosine to labelled procedure steps
of training case studies (exemplars), and the margin of a linear classifier
trained on those steps (``mapper.head``). Sentence-level scores are pooled
into one row of features per technique; a learned model (``mapper.learn``)
turns those rows into calibrated probabilities. Everything here is matrix
arithmetic: no Python loop runs over techniques x sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapper.index import TechniqueIndex

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


def _top2_mean(scores: np.ndarray) -> np.ndarray:
    if scores.shape[0] == 1:
        return scores[0]
    part = np.partition(scores, scores.shape[0] - 2, axis=0)[-2:]
    return part.mean(axis=0)


def _zscore(row: np.ndarray) -> np.ndarray:
    return (row - row.mean()) / (row.std() + 1e-6)


def _unit_votes(scores: np.ndarray, temperature: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit spreads one vote over techniques (softmax of its scores): mean, max, and top-3 share.

    A write-up that describes several techniques has different sentences voting for
    each; max-pooling alone lets one strong sentence hide the others.
    """
    weights = np.exp((scores - scores.max(axis=1, keepdims=True)) / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    k = min(3, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    in_top = np.zeros_like(scores)
    np.put_along_axis(in_top, top, 1.0, axis=1)
    return weights.mean(axis=0), weights.max(axis=0), in_top.mean(axis=0)


def _reciprocal_rank(row: np.ndarray) -> np.ndarray:
    order = np.argsort(-row, kind="stable")
    ranks = np.empty_like(order)
    ranks[order] = np.arange(len(row))
    return 1.0 / (1.0 + ranks)


class Hierarchy:
    """Parent/child columns of the technique index, for hierarchy features."""

    def __init__(self, ids: list[str], parents: dict[str, str | None]):
        pos = {t: i for i, t in enumerate(ids)}
        self.parent_col = np.array([pos.get(parents.get(t) or "", -1) for t in ids])
        self.children = [[pos[c] for c in ids if parents.get(c) == t] for t in ids]

    def parent_values(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros_like(values)
        has = self.parent_col >= 0
        out[has] = values[self.parent_col[has]]
        return out

    def child_max(self, values: np.ndarray) -> np.ndarray:
        return np.array([values[c].max() if c else 0.0 for c in self.children], dtype=values.dtype)


def knn_scores(unit_vectors: np.ndarray, exemplars: Exemplars | None, n_techniques: int,
               exclude_group: int | None = None, temperature: float = 0.05):
    """(best exemplar cosine per technique, soft vote per technique), each (n_units, n_techniques)."""
    n_units = unit_vectors.shape[0]
    best = np.zeros((n_units, n_techniques), dtype=np.float32)
    vote = np.zeros((n_units, n_techniques), dtype=np.float32)
    if exemplars is None or len(exemplars.labels) == 0:
        return best, vote
    keep = np.ones(len(exemplars.labels), dtype=bool)
    if exclude_group is not None:
        keep = exemplars.groups != exclude_group
    vectors, labels = exemplars.vectors[keep], exemplars.labels[keep]
    if len(labels) == 0:
        return best, vote
    sims = unit_vectors @ vectors.T  # (n_units, n_exemplars)
    # best similarity per label: scatter-max over exemplar columns
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    best[:, sorted_labels[starts]] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    # soft vote: a softmax over exemplars, summed per label
    weights = np.exp((sims - sims.max(axis=1, keepdims=True)) / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    np.add.at(vote.T, labels, weights.T)
    return best, vote


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
    """Feature matrix (n_techniques, n_features) and the per-unit score matrices used for evidence."""
    n_t = len(index.ids)
    dense = unit_vectors @ index.dense.T
    sparse = np.asarray((index.sparse.transform(unit_texts) @ index.sparse_matrix.T).todense(), dtype=np.float32)
    knn, vote = knn_scores(unit_vectors, exemplars, n_t, exclude_group)
    head = head_scores if head_scores is not None else np.zeros_like(dense)
    per_unit = {"dense": dense, "sparse": sparse, "knn": knn, "head": head}

    columns = []
    for name in BASE_SCORERS:
        scores = per_unit[name]
        best = scores.max(axis=0)
        columns += [best, _top2_mean(scores), _zscore(best), _reciprocal_rank(best)]
    doc_vector = unit_vectors.mean(axis=0)
    doc_vector /= np.linalg.norm(doc_vector) + 1e-9
    has_exemplar = np.zeros(n_t, dtype=np.float32)
    if exemplars is not None and len(exemplars.labels):
        labels = exemplars.labels if exclude_group is None else exemplars.labels[exemplars.groups != exclude_group]
        has_exemplar[np.unique(labels)] = 1.0
    knn_best = knn.max(axis=0)
    dense_best = dense.max(axis=0)
    head_best = head.max(axis=0)
    head_vote, head_vote_max, head_top3 = _unit_votes(head)
    columns += [
        index.dense @ doc_vector,
        vote.mean(axis=0),
        vote.max(axis=0),
        head_vote,
        head_vote_max,
        head_top3,
        prior,
        has_exemplar,
        hierarchy.child_max(knn_best),
        hierarchy.parent_values(knn_best),
        hierarchy.child_max(dense_best),
        hierarchy.parent_values(dense_best),
        hierarchy.child_max(head_best),
        hierarchy.parent_values(head_best),
        np.full(n_t, np.log1p(unit_vectors.shape[0]), dtype=np.float32),
    ]
    return np.column_stack(columns).astype(np.float32), per_unit
