"""The evidence measurement: the annotators' pointers fit today's texts and splitter, and its arithmetic."""

from __future__ import annotations

import pytest

from atlas_eval.evidence import WILD, agreement, check_pointers, read_pointers, score
from mapper.errors import InputError
from mapper.model.writeups import load_writeups


def test_every_dev_label_has_both_annotators_pointers_to_existing_sentences():
    dev = load_writeups(WILD / "ai.yaml", "dev")
    pointers = read_pointers()
    check_pointers(pointers, dev)  # raises if a label lacks a pointer or a sentence index no longer exists
    assert sum(len(w.techniques) for w in dev) == len(pointers["a"]) == len(pointers["b"])


def test_a_pointer_past_the_text_is_refused():
    dev = load_writeups(WILD / "ai.yaml", "dev")[:1]
    pointers = read_pointers()
    key = (dev[0].id, dev[0].techniques[0])
    pointers["b"][key] = {999}
    with pytest.raises(InputError, match="annotate again"):
        check_pointers(pointers, dev)


def test_agreement_and_scores_count_sentences():
    pointers = {"a": {("w", "T1"): {0}, ("w", "T2"): {1, 2}}, "b": {("w", "T1"): {0}, ("w", "T2"): {2}}}
    assert agreement(pointers) == {"labels": 2, "identical": 1, "mean Jaccard": 0.75, "sentences a": 3, "sentences b": 2}
    rows = [{"id": "w", "technique": "T1", "cited": {0, 3}, "either": {0}, "both": {0}},
            {"id": "v", "technique": "T2", "cited": {1}, "either": {1, 2}, "both": {2}}]
    figures = score(rows, n_boot=50)
    assert figures["precision (either)"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["precision (both)"]["value"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["recall (either)"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["cited per technique"]["value"] == 1.5
    low, high = figures["precision (either)"]["ci95"]
    assert low <= figures["precision (either)"]["value"] <= high
