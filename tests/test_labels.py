import numpy as np

from mapper.model.labels import LabelColumns


def test_labels_resolve_and_unplaceable_ones_drop():
    renamed = {"OLD.1": "T2"}
    labels = LabelColumns(["T1", "T2", "T3"], lambda t: renamed.get(t, t if t.startswith("T") else None))
    assert labels.column("T3") == 2 and labels.column("OLD.1") == 1 and labels.column("nonsense") is None
    assert labels.columns(["T3", "nonsense", "OLD.1", "T9"]) == [2, 1]
    np.testing.assert_array_equal(labels.matrix([{"T1"}, {"OLD.1", "T3"}, set()]), [[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    assert labels.matrix([["T1"]], dtype=bool).dtype == bool
