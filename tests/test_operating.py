"""The operating point: threshold from training write-ups, and the AI-relevance gate (hand-worked)."""

import numpy as np
import pytest

from mapper.operating import OperatingPoint

PROBA = np.array([[0.8, 0.1, 0.2], [0.3, 0.6, 0.1], [0.05, 0.5, 0.45], [0.2, 0.2, 0.9]])
TRUTH = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
OWN = np.array([True, False, True])  # technique 1 is shared with ATT&CK


def test_threshold_keeps_the_coverage_share_of_write_ups_above_it():
    # best correct score per write-up: 0.8, 0.6, 0.5, 0.9 -> with 75% coverage the cut is the lowest, 0.5
    point = OperatingPoint(coverage=0.75, ai_gate=False).fit(PROBA, TRUTH, OWN)
    assert point.threshold_ == pytest.approx(0.5) and point.gated_ is False


def test_gate_also_needs_one_of_atlas_own_techniques():
    # a write-up counts only as high as min(best correct, best ATLAS-own): 0.8, 0.3, 0.45, 0.9 -> cut 0.3
    point = OperatingPoint(coverage=0.75).fit(PROBA, TRUTH, OWN)
    assert point.threshold_ == pytest.approx(0.3) and point.gated_ is True
    assert point.recognises(np.array([0.1, 0.9, 0.35]))
    assert not point.recognises(np.array([0.1, 0.9, 0.2]))  # only the shared technique is above the cut
    assert point.recognises(np.array([0.1, 0.9, 0.2]), threshold=0.15)


def test_no_labelled_write_up_falls_back_to_one_half():
    point = OperatingPoint().fit(PROBA, np.zeros_like(TRUTH), OWN)
    assert point.threshold_ == 0.5
