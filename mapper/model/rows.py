"""Training rows for the ranker: ``X, y, groups`` from the training case studies.

Each training study gives queries of three kinds (each step alone, the summary, and the
narrative: summary followed by the steps); each training AI write-up gives one more (its text,
kind ``writeup``, group ``len(studies) + j``, and the techniques a reviewer rejected on it). A query
becomes one row per technique, its features computed with the study's own evidence masked
(``CaseStudyScorers.features(exclude_group=...)``), its target 1 where the study labels that
technique. Every row carries its query's kind, so whatever weighs rows does so by kind, never by position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapper.kb import CaseStudy, KnowledgeBase
from mapper.model.labels import LabelColumns
from mapper.model.writeups import WriteUp
from mapper.text import text_units

KINDS = ("steps", "summary", "narrative", "writeup")


@dataclass
class Query:
    """A labelled training text, split into units."""

    units: list[str]
    gold: set[str]
    group: int  # index of the case study it came from
    kind: str = "narrative"
    rejected: frozenset[str] = frozenset()  # techniques a reviewer rejected on it: confirmed negatives


def training_queries(studies: list[CaseStudy], kinds=KINDS, writeups: list[WriteUp] = ()) -> list[Query]:
    """``writeups``: AI write-ups only (their groups follow the studies', as in ``CaseStudyScorers``)."""
    queries = []
    for group, study in enumerate(studies):
        gold = set(study.techniques)
        if "steps" in kinds:
            for step in study.steps:
                units = text_units(step.description)[0] or [step.description or "-"]
                queries.append(Query(units, {step.technique}, group, "steps"))
        if "summary" in kinds and study.summary:
            queries.append(Query(text_units(study.summary)[0] or [study.summary], gold, group, "summary"))
        if "narrative" in kinds:
            queries.append(Query(text_units(study.narrative())[0] or ["-"], gold, group, "narrative"))
    if "writeup" in kinds:
        for j, w in enumerate(writeups):
            queries.append(Query(text_units(w.text)[0] or ["-"], set(w.techniques), len(studies) + j, "writeup",
                                 frozenset(w.rejected)))
    return queries


@dataclass
class TrainingRows:
    """``X`` (queries, techniques, features), ``y`` (queries, techniques), per query its group and kind, and
    ``rejected`` (queries, techniques): True where a reviewer rejected a technique the query is not labelled with."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    kinds: np.ndarray
    rejected: np.ndarray

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The (rows, features) matrix, targets and row groups that scikit-learn estimators take."""
        n_q, n_t, n_f = self.X.shape
        return self.X.reshape(n_q * n_t, n_f), self.y.reshape(-1), np.repeat(self.groups, n_t)


def build_rows(queries: list[Query], scorers, encoder, kb: KnowledgeBase) -> TrainingRows:
    """Feature rows of every query, each scored as text its own study did not train."""
    labels = LabelColumns(scorers.classes_, kb.resolve_id)
    encoder.encode([u for q in queries for u in q.units])  # one batched pass; the cache serves the rest
    X = np.zeros((len(queries), len(scorers.classes_), 0), dtype=np.float32)
    rows = [scorers.features(encoder.encode(q.units), q.units, exclude_group=q.group)[0] for q in queries]
    if rows:
        X = np.stack(rows)
    y = labels.matrix([q.gold for q in queries])
    rejected = labels.matrix([q.rejected for q in queries], dtype=bool) & (y == 0)
    return TrainingRows(X, y, np.array([q.group for q in queries], dtype=np.int64),
                        np.array([q.kind for q in queries]), rejected)
