"""The operating point: threshold from training write-ups, and confidence bands (hand-worked)."""

import numpy as np
import pytest

from mapper.model.operating_point import OperatingPoint, band

PROBA = np.array([[0.8, 0.1, 0.2], [0.3, 0.6, 0.1], [0.05, 0.5, 0.45], [0.2, 0.2, 0.9]])
TRUTH = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)


def test_threshold_keeps_the_coverage_share_of_write_ups_above_it():
    # best correct score per write-up: 0.8, 0.6, 0.5, 0.9 -> with 75% coverage the cut is the lowest, 0.5
    assert OperatingPoint(coverage=0.75).fit(PROBA, TRUTH).threshold_ == pytest.approx(0.5)
    # with 50%: the second lowest, 0.6
    assert OperatingPoint(coverage=0.5).fit(PROBA, TRUTH).threshold_ == pytest.approx(0.6)


def test_no_labelled_write_up_falls_back_to_one_half():
    assert OperatingPoint().fit(PROBA, np.zeros_like(TRUTH)).threshold_ == 0.5


def test_bands_split_at_one_half_and_at_the_threshold():
    assert [band(s, 0.2) for s in (0.9, 0.5, 0.49, 0.2, 0.19)] == ["high", "high", "medium", "medium", "low"]
    # a threshold above one half leaves no medium band
    assert [band(s, 0.7) for s in (0.7, 0.6)] == ["high", "low"]
