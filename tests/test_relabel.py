"""Results in another release's IDs, and suggestions restricted to one platform."""

import pytest

from mapper.errors import UsageError
from mapper.kb.crosswalk import Crosswalk
from mapper.io.outputs import navigator_layer, render
from mapper.kb.relabel import in_release
from mapper.result import Evidence, MappingResult, TacticRef, TechniqueHit

TEXT = "They uploaded a tampered dataset to a public hub and a malicious tool for the AI agent."


@pytest.fixture
def v6_mapper(v6_old, tiny_encoder, tmp_path):
    from mapper.encode.encoders import CachedEncoder
    from mapper.encode.index import TechniqueIndex
    from mapper.pipeline import Mapper

    encoder = CachedEncoder(tiny_encoder)
    from mapper.model.writeups import benchmark_writeups
    return Mapper.from_parts(v6_old, encoder, TechniqueIndex.build(v6_old, encoder), tmp_path / "models", {"C_grid": (1.0,)},
                             writeups=benchmark_writeups())


def _hit(tid, name, score, text):
    return TechniqueHit(tid, name, [TacticRef("AML.TA0003", "Resource Development")], score, [Evidence(text, 0, 5, score)])


def test_result_told_in_a_newer_release(v6_old, v6_new):
    result = MappingResult(v6_old.atlas_info(), {}, [
        _hit("AML.T0019", "Publish Poisoned Datasets", 0.9, "a"),
        _hit("AML.T0020", "Poison Training Data", 0.5, "b"),
    ], 0.3, 10)
    moved = in_release(result, Crosswalk.between(v6_old, v6_new))
    assert [(h.id, h.name, h.parent) for h in moved.techniques] == [
        ("AML.T0115.000", "Publish Poisoned AI Artifacts: Poisoned Datasets", "AML.T0115"),
        ("AML.T0020", "Training Data Poisoning", None)]
    assert [t.name for t in moved.techniques[1].tactics] == ["Resource Development", "AI Attack Adaptation"]
    assert moved.atlas["version"] == "2026.07"
    assert moved.translated_from == {"atlas": v6_old.atlas_info(), "renamed": {"AML.T0019": "AML.T0115.000"},
                                     "not_in_release": []}
    assert "translated from" in render(moved, "table")


def test_techniques_the_other_release_lacks_are_dropped_and_listed(v6_old, v6_new):
    result = MappingResult(v6_new.atlas_info(), {}, [_hit("AML.T0116", "Agent Memory Tampering", 0.8, "a"),
                                                  _hit("AML.T0115.001", "Poisoned Models", 0.6, "b")], 0.3, 10)
    back = in_release(result, Crosswalk.between(v6_new, v6_old))
    assert [h.id for h in back.techniques] == ["AML.T0058"]
    assert back.translated_from["not_in_release"] == ["AML.T0116"]
    assert "1 not in this release: AML.T0116" in render(back, "markdown")


def test_two_that_became_one_keep_the_higher_score_and_all_evidence(v6_old, v6_new):
    # read backwards, a merge target can be reached twice: simulate it with a crosswalk of two links
    walk = Crosswalk.between(v6_old, v6_new)
    walk.links["AML.T0058"] = [{"id": "AML.T0115.000", "evidence": ["test"]}]
    result = MappingResult(v6_old.atlas_info(), {}, [_hit("AML.T0019", "x", 0.7, "first"),
                                                  _hit("AML.T0058", "y", 0.9, "second")], 0.3, 10)
    (hit,) = in_release(result, walk).techniques
    assert hit.id == "AML.T0115.000" and hit.score == 0.9
    assert [e.text for e in hit.evidence] == ["second", "first"]


def test_platform_keeps_only_that_platforms_techniques(v6_mapper):
    everything = v6_mapper.map(TEXT, threshold=0.0)
    agentic = v6_mapper.map(TEXT, threshold=0.0, platform="agentic ai")
    assert len(everything.techniques) > len(agentic.techniques) > 0
    assert all("Agentic AI" in v6_mapper.kb.techniques[h.id].platforms for h in agentic.techniques)
    # the same order and scores as without the filter, only fewer
    kept = [h for h in everything.techniques if h.id in {a.id for a in agentic.techniques}]
    assert [(h.id, h.score) for h in kept] == [(h.id, h.score) for h in agentic.techniques]
    assert agentic.to_dict()["platform"] == "Agentic AI"
    layer = navigator_layer(agentic, v6_mapper.kb)
    assert {"name": "platform", "value": "Agentic AI"} in layer["metadata"]
    assert {"name": "atlas_format_version", "value": "6.0.0"} in layer["metadata"]


def test_unknown_platform_names_the_choices(v6_mapper, mini_mapper):
    with pytest.raises(UsageError, match="unknown platform 'Quantum'.*Agentic AI, Generative AI, Predictive AI"):
        v6_mapper.map(TEXT, platform="Quantum")
    with pytest.raises(UsageError, match="lists no platforms.*v2026.05"):
        mini_mapper.map(TEXT, platform="Agentic AI")
