"""Training rows: each study's own evidence is masked in its own rows."""

import numpy as np

from mapper.encode.encoders import CachedEncoder
from mapper.model.features import FEATURE_NAMES
from mapper.encode.index import TechniqueIndex
from mapper.model.rows import build_rows, training_queries
from mapper.model.base_scorers import CaseStudyScorers


def test_a_studys_own_steps_and_prior_are_masked_in_its_rows(mini_kb, tiny_encoder):
    encoder = CachedEncoder(tiny_encoder)
    index = TechniqueIndex.build(mini_kb, encoder)
    scorers = CaseStudyScorers(inner_folds=3).fit(mini_kb.case_studies, mini_kb, index, encoder)
    queries = training_queries(mini_kb.case_studies, ("narrative",))
    rows = build_rows(queries, scorers, encoder, mini_kb)
    assert rows.X.shape == (3, len(index.ids), len(FEATURE_NAMES)) and list(rows.groups) == [0, 1, 2]
    col = index.ids.index("AML.T0051.000")  # used by AML.CS0001 (group 1) alone
    has_exemplar, prior = FEATURE_NAMES.index("has_exemplar"), FEATURE_NAMES.index("prior")
    assert rows.X[1, col, has_exemplar] == 0.0 and rows.X[0, col, has_exemplar] == 1.0
    assert rows.X[1, col, prior] == 0.0 and rows.X[0, col, prior] > 0.0
    assert rows.y[1, col] == 1 and rows.y[0, col] == 0
    # each study is scored by a head fitted without it: "typed" occurs in AML.CS0001's steps alone
    assert "typed" in scorers.head_.sparse_.vocabulary_
    assert "typed" not in scorers.oof_heads_[1].sparse_.vocabulary_
    np.testing.assert_array_equal(rows.y.sum(axis=1), [2, 2, 2])  # AML.T0045 is unknown to the fixture
