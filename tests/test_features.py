import numpy as np

from mapper.model.features import FEATURE_NAMES, Exemplars, Hierarchy, knn_scores


def test_knn_best_and_vote_per_label():
    units = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    ex = Exemplars(
        vectors=np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32),
        labels=np.array([0, 0, 2]), groups=np.array([0, 1, 1]),
    )
    best, vote = knn_scores(units, ex, n_techniques=3)
    np.testing.assert_allclose(best, [[1.0, 0.0, 0.0], [0.8, 0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(vote.sum(axis=1), 1.0, atol=1e-5)
    assert vote[0, 0] > 0.99 and vote[1, 2] > 0.98


def test_knn_masks_a_case_studys_own_steps():
    units = np.array([[1.0, 0.0]], dtype=np.float32)
    ex = Exemplars(np.array([[1, 0], [0, 1]], dtype=np.float32), np.array([0, 1]), np.array([5, 6]))
    best, _ = knn_scores(units, ex, 2, exclude_group=5)
    np.testing.assert_allclose(best, [[0.0, 0.0]])


def test_hierarchy_passes_scores_both_ways():
    h = Hierarchy(["A", "A.1", "A.2", "B"], {"A.1": "A", "A.2": "A"})
    values = np.array([0.1, 0.7, 0.3, 0.2])
    np.testing.assert_allclose(h.child_max(values), [0.7, 0, 0, 0])
    np.testing.assert_allclose(h.parent_values(values), [0, 0.1, 0.1, 0])


def test_feature_names_are_unique():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_unit_features_equal_scoring_each_unit_alone(mini_mapper):
    from mapper.model.features import query_features, unit_features

    scorers = mini_mapper.ranker.scorers_
    texts = ["poison the training data", "query the model API", "a chatbot was manipulated"]
    vectors = mini_mapper.encoder.encode(texts)
    _, per_unit = scorers.features(vectors, texts)
    batched = unit_features(per_unit, vectors, scorers.index_, scorers.hierarchy_, scorers.exemplars_, scorers.prior_)
    for i, text in enumerate(texts):
        alone, _ = query_features(vectors[i:i + 1], [text], scorers.index_, scorers.hierarchy_, scorers.exemplars_,
                                  scorers.prior_, head_scores=scorers.head_.decision(vectors[i:i + 1], [text]))
        np.testing.assert_allclose(batched[i], alone, rtol=1e-5, atol=1e-6)


def test_hierarchy_works_on_stacks_and_negative_values():
    h = Hierarchy(["A", "A.1", "A.2", "B"], {"A.1": "A", "A.2": "A"})
    values = np.array([[0.1, -0.7, -0.3, 0.2], [1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(h.child_max(values), [[-0.3, 0, 0, 0], [3.0, 0, 0, 0]])
    np.testing.assert_allclose(h.parent_values(values), [[0, 0.1, 0.1, 0], [0, 1.0, 1.0, 0]])
