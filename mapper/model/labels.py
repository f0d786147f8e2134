"""Technique labels to matrix columns: the one place where a label's ID is resolved and placed.

Labels may be spelled in any release's IDs that the knowledge base resolves (retired, merged or
renamed ones included); a label it cannot resolve, or one that is not a column, is dropped.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


class LabelColumns:
    def __init__(self, classes: Iterable[str], resolve: Callable[[str], str | None]):
        self.position = {t: i for i, t in enumerate(classes)}
        self.resolve = resolve

    def column(self, label: str) -> int | None:
        return self.position.get(self.resolve(label))

    def columns(self, labels: Iterable[str]) -> list[int]:
        """The columns of these labels, in their order; unplaceable ones dropped."""
        return [c for c in map(self.column, labels) if c is not None]

    def matrix(self, label_sets: Iterable[Iterable[str]], dtype=np.int8) -> np.ndarray:
        """(texts, classes): 1 where a text carries the technique."""
        label_sets = list(label_sets)
        out = np.zeros((len(label_sets), len(self.position)), dtype=dtype)
        for row, labels in enumerate(label_sets):
            out[row, self.columns(labels)] = 1
        return out
