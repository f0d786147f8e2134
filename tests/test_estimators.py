"""Every learned part is a scikit-learn estimator: get_params, set_params, clone, refit, search."""

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import GridSearchCV

from mapper.model import estimators as est
from mapper.model.features import FEATURE_NAMES
from mapper.model.rows import TrainingRows

TEXTS = ["the chatbot leaked its system prompt", "a poisoned dataset was used for training",
         "attackers stole the model weights", "the classifier was evaded with adversarial noise"]


def cloned_and_refitted(estimator, fit, changed: dict):
    """Fit ``estimator``, clone it, refit the clone: same parameters, a new object, the same learned result.
    ``changed``: a parameter to set on a second clone, which must take it."""
    fit(estimator)
    twin = clone(estimator)
    assert twin is not estimator and twin.get_params() == estimator.get_params()
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(twin)), "a clone carries nothing learned"
    fit(twin)
    other = clone(estimator).set_params(**changed)
    assert all(other.get_params()[k] == v for k, v in changed.items())
    return twin


def test_every_learned_part_is_a_base_estimator():
    from sklearn.base import BaseEstimator

    assert all(issubclass(cls, BaseEstimator) for cls in est.PARTS)
    assert is_classifier(est.AIRelevance())


def test_tfidf_clones_and_refits():
    original = est.SparseText(max_features=100)
    twin = cloned_and_refitted(original, lambda e: e.fit(TEXTS), {"max_features": 50})
    assert (twin.transform(TEXTS) != original.transform(TEXTS)).nnz == 0


def test_linear_head_clones_and_refits():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 8)).astype(np.float32)
    original = est.LinearHead(C=0.3)
    twin = cloned_and_refitted(original, lambda e: e.fit(vectors, TEXTS, np.array([0, 1, 2, 1]), 3), {"C": 1.0})
    np.testing.assert_array_equal(twin.decision(vectors, TEXTS), original.decision(vectors, TEXTS))


def test_case_study_scorers_and_ranker_clone_and_refit(mini_kb, mini_mapper):
    index, encoder = mini_mapper.index, mini_mapper.encoder
    original = est.CaseStudyScorers(head_C=0.3)
    twin = cloned_and_refitted(original, lambda e: e.fit(mini_kb.case_studies, mini_kb, index, encoder),
                               {"inner_folds": 2})
    units = ["the attacker crafted adversarial inputs"]
    np.testing.assert_array_equal(twin.features(encoder.encode(units), units)[0],
                                  original.features(encoder.encode(units), units)[0])
    ranker = est.TechniqueRanker(C_grid=(1.0,))
    again = cloned_and_refitted(ranker, lambda e: e.fit(mini_kb.case_studies, mini_kb, index, encoder),
                                {"coverage": 0.8})
    assert again.threshold_ == ranker.threshold_
    np.testing.assert_array_equal(again.score(encoder.encode(units), units)[0], ranker.score(encoder.encode(units), units)[0])


@pytest.fixture
def rows():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(24, 5, len(FEATURE_NAMES))).astype(np.float32)
    y = (X[..., 0] + 0.5 * rng.normal(size=(24, 5)) > 0.8).astype(np.int8)
    return TrainingRows(X, y, np.repeat(np.arange(8), 3), np.array(["narrative"] * 24), np.zeros(y.shape, bool))


def test_stacker_cooccurrence_and_operating_point_clone_and_refit(rows):
    counts = np.stack([rows.y[rows.groups == g].max(axis=0) for g in range(8)]).astype(np.float32)
    stacker = est.Stacker(C_grid=(0.5,), inner_folds=4)
    twin = cloned_and_refitted(stacker, lambda e: e.fit(rows, counts), {"cooccurrence": False})
    np.testing.assert_array_equal(twin.predict_proba(rows.X), stacker.predict_proba(rows.X))
    p1 = stacker.oof_proba_
    stage = est.CooccurrenceStage(C=0.5)
    again = cloned_and_refitted(stage, lambda e: e.fit(p1, rows.y, rows.groups, counts), {"C": 2.0})
    np.testing.assert_array_equal(again.predict_proba(p1), stage.predict_proba(p1))
    point = est.OperatingPoint(coverage=0.8)
    cloned_and_refitted(point, lambda e: e.fit(p1, rows.y.astype(bool)), {"coverage": 0.5})
    assert clone(point).fit(p1, rows.y.astype(bool)).threshold_ == point.threshold_


def test_relevance_clones_refits_and_grid_searches():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(1.0, 0.7, (30, 5)), rng.normal(-1.0, 0.7, (20, 5))])
    y = np.r_[np.ones(30), np.zeros(20)].astype(int)
    model = est.AIRelevance(inner_folds=3)
    twin = cloned_and_refitted(model, lambda e: e.fit(X, y, np.arange(50)), {"Cs": (0.1,)})
    assert twin.cut_ == model.cut_
    search = GridSearchCV(est.AIRelevance(inner_folds=3), {"Cs": [(0.1,), (1.0,)]}, cv=3).fit(X, y)
    assert search.best_params_["Cs"] in ((0.1,), (1.0,)) and search.score(X, y) > 0.8


def test_attack_text_clones_refits_scores_out_of_fold_and_round_trips():
    from mapper.model.attack_text import AttackText

    attacks = [f"the attacker injected a prompt into the agent {i}" for i in range(8)]
    others = [f"the printer ran out of paper on floor {i}" for i in range(8)]
    texts, y = attacks + others, np.r_[np.ones(8), np.zeros(8)].astype(int)
    original = est.AttackText(inner_folds=4)
    twin = cloned_and_refitted(original, lambda e: e.fit(texts, y), {"C": 1.0})
    assert original.fit(texts, y) is original
    np.testing.assert_array_equal(twin.score(texts), original.score(texts))
    assert original.oof_score_.shape == (16,) and original.score(["an attacker injected a prompt"])[0] > 0.5
    meta, arrays = original.state()
    again = AttackText.from_state(meta, arrays)
    np.testing.assert_allclose(again.score(texts), original.score(texts))
