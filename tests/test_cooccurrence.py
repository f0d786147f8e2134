import numpy as np

from mapper.model.cooccurrence import lift_matrix, stack_inputs


def test_lift_is_positive_for_pairs_seen_together_and_zero_for_unused_techniques():
    # studies x techniques: A and B always together, C alone, D never used
    counts = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
    lift = lift_matrix(counts)
    assert lift[0, 1] > 0 and lift[0, 2] < 0
    np.testing.assert_allclose(np.diag(lift), 0.0)
    np.testing.assert_allclose(lift[3], 0.0)
    np.testing.assert_allclose(lift, lift.T, atol=1e-6)


def test_support_follows_the_other_techniques_probabilities():
    counts = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32)
    lift = lift_matrix(counts)
    logit, support = stack_inputs(np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9]]), lift)
    assert support[0, 1] > support[1, 1]  # B is supported when its partner A is likely
    np.testing.assert_allclose(logit[0, 0], np.log(0.9 / 0.1), rtol=1e-6)
