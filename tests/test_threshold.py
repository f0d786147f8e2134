import numpy as np
import pytest

from mapper.model.relevance import balanced_accuracy
from mapper.model.threshold import best_cut, coverage_cut, midpoints


def _balanced(scores, y):
    return best_cut(midpoints(scores), lambda c: balanced_accuracy(scores, y, c), ties="middle")


def test_balanced_cut_separates_when_it_can():
    scores, y = np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])
    assert _balanced(scores, y) == pytest.approx(0.5)  # midway between 0.2 and 0.8
    # one positive below every negative: the best cut still keeps the other positives
    scores, y = np.array([0.05, 0.3, 0.4, 0.7, 0.9]), np.array([1, 0, 0, 1, 1])
    assert _balanced(scores, y) == pytest.approx(0.55)


def test_best_cut_tie_rules():
    flat = lambda c: 1.0 if 0.2 <= c <= 0.6 else 0.0  # noqa: E731
    candidates = [0.1, 0.2, 0.4, 0.6, 0.8]
    assert best_cut(candidates, flat) == 0.2
    assert best_cut(candidates, flat, ties="middle") == 0.4
    with pytest.raises(ValueError, match="ties"):
        best_cut(candidates, flat, ties="highest")


def test_coverage_cut_keeps_the_share_asked_for():
    best_true = np.array([0.05, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    cut = coverage_cut(best_true, 0.9)
    assert cut == 0.05 and (best_true >= cut).mean() >= 0.9
    assert coverage_cut(best_true, 0.5) == 0.5  # the lower quantile, floored to the 0.01 grid
    assert coverage_cut(np.array([0.001]), 1.0) == 0.01  # never below 0.01
