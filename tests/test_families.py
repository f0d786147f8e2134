"""Sub-techniques by the chain rule: the family's probability times that of the sub-technique given the family."""

import numpy as np

from mapper.model.families import SubtechniqueChain
from mapper.model.features import Hierarchy

CLASSES = ["AML.T0051", "AML.T0051.000", "AML.T0051.001", "AML.T0020", "AML.T0099.000"]
HIERARCHY = Hierarchy(CLASSES, {"AML.T0051.000": "AML.T0051", "AML.T0051.001": "AML.T0051", "AML.T0099.000": "AML.T0099"})


def test_families_are_parents_with_sub_techniques_in_the_release():
    proba, y = training()
    chain = SubtechniqueChain().fit(proba, y, HIERARCHY)
    assert chain.families_ == {0: [1, 2]}  # AML.T0099.000 has no parent in the release: left alone


def training(n=200, seed=0):
    """The family is present in half the rows; which sub-technique follows the larger of the two scores."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, len(CLASSES)))
    proba = rng.uniform(0.0, 0.2, (n, len(CLASSES)))
    present = rng.random(n) < 0.5
    direct = rng.random(n) < 0.5
    y[present, 0] = 1
    y[present & direct, 1] = 1
    y[present & ~direct, 2] = 1
    proba[present, 0] = rng.uniform(0.6, 0.9, present.sum())
    proba[present & direct, 1] = rng.uniform(0.15, 0.3, (present & direct).sum())
    proba[present & ~direct, 2] = rng.uniform(0.15, 0.3, (present & ~direct).sum())
    return proba, y


def test_the_chain_lifts_the_right_sub_technique_towards_its_family_and_round_trips():
    proba, y = training()
    chain = SubtechniqueChain().fit(proba, y, HIERARCHY)
    text = np.array([0.8, 0.25, 0.05, 0.1, 0.1])  # the family is certain and Direct leads its sibling
    out = chain.transform(text)
    assert out[1] > 0.5 > out[2] and out[1] <= out[0]  # Direct now near its family; Indirect stays low
    assert out[0] == text[0] and out[3] == text[3] and out[4] == text[4]  # only sub-techniques with a family change
    again = SubtechniqueChain.from_state(chain.state())
    np.testing.assert_allclose(again.transform(np.stack([text, text])), np.stack([out, out]))


def test_nothing_to_learn_leaves_scores_as_they_are():
    proba, y = training()
    y[:, 1:3] = 0  # no row ever names a sub-technique
    chain = SubtechniqueChain().fit(proba, y, HIERARCHY)
    assert chain.logistic_ is None and (chain.transform(proba) == proba).all()
