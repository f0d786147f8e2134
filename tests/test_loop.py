"""The simulated review loop (eval/atlas_eval/loop.py): reviews as a reviewer with the gold labels leaves them."""

from __future__ import annotations

import pytest

from atlas_eval.loop import NOTHING, simulated_review, summarise
from mapper.model.writeups import WriteUp


def test_simulated_review_keeps_gold_and_rejects_the_rest(mini_mapper):
    text = "The attackers evaded the malware classifier model. They queried the model API to copy it."
    listed = [h.id for h in mini_mapper.map(text).techniques]
    missed = next(t for t in sorted(mini_mapper.kb.techniques) if t not in listed)
    gold = WriteUp("w", text, (listed[0], missed), {listed[0]: "evaded the classifier", missed: "copied the model"})
    taught = simulated_review(mini_mapper, gold)
    assert set(taught.techniques) == {listed[0], missed}
    assert set(taught.rejected) == set(listed[1:])
    assert set(taught.rationale) == {listed[0], missed}
    assert all(line in text for line in taught.rationale.values())  # evidence is a sentence of the text itself


def test_summarise_pairs_changes_per_writeup():
    per_item = {"0/0": {"a": {"AP": 0.2, "R@10": 0.5, "Success@1": 0.0}, "n": {NOTHING: 0.0}},
                "0/5": {"a": {"AP": 0.6, "R@10": 1.0, "Success@1": 1.0}, "n": {NOTHING: 1.0}}}
    table = summarise(per_item, 1, (0, 5), 3, 2, seed=0)["table"]
    assert table["5"]["AP"]["vs_k0"] == pytest.approx(0.4) and table["5"]["AP"]["mean"] == pytest.approx(0.6)
    assert table["5"][NOTHING]["vs_k0"] == 1.0 and table["0"]["AP"]["vs_k0"] == 0.0


def test_the_pool_never_holds_the_frozen_test_half():
    import json

    from atlas_eval.loop import KS, pool_and_base
    from mapper.files import data_dir

    frozen = set(json.loads((data_dir() / "eval" / "wild" / "split.json").read_text())["test"])
    pool, base = pool_and_base()
    assert pool and not {w.id for w in pool} & frozen and not {w.id for w in base} & frozen
    assert len(pool) - max(KS) >= 20  # an evaluation set is left after the largest k
