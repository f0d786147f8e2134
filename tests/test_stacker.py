"""The two stacked stages: the second is fitted on out-of-fold outputs of the first."""

import numpy as np
import pytest

from mapper.model.cooccurrence import CooccurrenceStage
from mapper.model.features import FEATURE_NAMES
from mapper.model.rows import TrainingRows
from mapper.model.stacker import Stacker, first_stage


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    n_q, n_t, n_f = 24, 5, len(FEATURE_NAMES)
    X = rng.normal(size=(n_q, n_t, n_f)).astype(np.float32)
    y = (X[..., 0] + 0.5 * rng.normal(size=(n_q, n_t)) > 0.8).astype(np.int8)
    groups = np.repeat(np.arange(8), 3)  # 8 case studies, 3 queries each
    return TrainingRows(X, y, groups, np.array(["narrative"] * n_q), np.zeros(y.shape, dtype=bool))


def _study_counts(rows):
    return np.stack([rows.y[rows.groups == g].max(axis=0) for g in np.unique(rows.groups)]).astype(np.float32)


def test_cooccurrence_stage_is_fitted_on_out_of_fold_first_stage_outputs(rows):
    from sklearn.model_selection import GroupKFold, cross_val_predict

    stacker = Stacker(C_grid=(0.1, 1.0), inner_folds=4).fit(rows, _study_counts(rows))
    assert stacker.C_ in (0.1, 1.0)
    X, y, row_groups = rows.flat()
    cv = GroupKFold(n_splits=4)
    oof = cross_val_predict(first_stage(stacker.C_), X, y, groups=row_groups, cv=cv, method="predict_proba")[:, 1]
    expected = CooccurrenceStage().fit(oof.reshape(rows.y.shape), rows.y, rows.groups, _study_counts(rows), cv)
    np.testing.assert_allclose(stacker.cooccurrence_.logistic_.coef, expected.logistic_.coef)
    np.testing.assert_allclose(stacker.oof_proba_, expected.oof_proba_)
    # the operating point sees out-of-fold scores, not the stack's in-sample ones
    assert not np.allclose(stacker.oof_proba_, stacker.predict_proba(rows.X))


def test_plain_state_reproduces_predictions(rows):
    stacker = Stacker(C_grid=(1.0,), inner_folds=3).fit(rows, _study_counts(rows))
    meta, arrays = stacker.state()
    again = Stacker().restore(meta, arrays)
    np.testing.assert_allclose(again.predict_proba(rows.X), stacker.predict_proba(rows.X))


def test_dropped_features_get_no_weight(rows):
    name = FEATURE_NAMES[0]
    stacker = Stacker(C_grid=(1.0,), drop_features=(name,), cooccurrence=False).fit(rows, _study_counts(rows))
    assert stacker.first_.coef[0] == 0.0 and np.count_nonzero(stacker.first_.coef[1:]) > 0
