import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mapper.errors import InputError, UsageError
from mapper.model.ranker import TechniqueRanker
from mapper.io.outputs import render
from mapper.model.rows import training_queries
from mapper.pipeline import Mapper

from conftest import LATEST, needs_shared


def test_ranker_follows_estimator_conventions(mini_kb, mini_mapper):
    ranker = TechniqueRanker(C_grid=(0.5,))
    assert vars(ranker) == {"C_grid": (0.5,), "inner_folds": 3, "head_C": 0.5,
                            "training_kinds": ("steps", "summary", "narrative", "writeup"), "drop_features": (),
                            "coverage": 0.9, "ai_gate": True, "cooccurrence": True, "writeup_weight": 1.0,
                            "rejected_weight": 3.0, "relevance_text": True,
                                "subtechnique_chain": True, "random_state": 0}
    fitted = ranker.fit(mini_kb.case_studies, mini_kb, mini_mapper.index, mini_mapper.encoder)
    assert fitted is ranker
    assert ranker.classes_ == mini_mapper.index.ids
    assert ranker.stacker_.first_.coef.shape == (ranker.n_features_in_,)
    # the stack's out-of-fold scores of every training query, from which the threshold was chosen
    assert ranker.stacker_.oof_proba_.shape[1] == len(ranker.classes_)
    assert 0.0 < ranker.threshold_ < 1.0


def test_training_queries_shapes(mini_kb):
    queries = training_queries(mini_kb.case_studies)
    kinds = [q.kind for q in queries]
    assert kinds.count("steps") == 7 and kinds.count("narrative") == 3 and kinds.count("summary") == 3
    assert {q.group for q in queries} == {0, 1, 2}


def test_map_returns_the_documented_shape(mini_mapper):
    result = mini_mapper.map("Someone flooded the AI model service with expensive requests until it became unavailable.",
                             threshold=0.0, top_k=3)
    data = json.loads(result.to_json())
    assert set(data) == {"atlas", "model", "threshold", "top_k", "techniques", "recognised", "ai_related"}
    assert data["recognised"] is True and len(data["techniques"]) == 3
    assert set(data["ai_related"]) == {"decision", "score", "why"} and data["ai_related"]["decision"] is True
    first = data["techniques"][0]
    assert first["id"] == "AML.T0029"
    assert set(first) >= {"id", "name", "tactics", "score", "evidence"}
    assert first["tactics"] == [{"id": "AML.TA0011", "name": "Impact"}]
    ev = first["evidence"][0]
    assert set(ev) == {"text", "start", "end", "score"}
    scores = [t["score"] for t in data["techniques"]]
    assert scores == sorted(scores, reverse=True)


def test_threshold_one_recognises_nothing_but_still_suggests(mini_mapper):
    text = "The attacker typed a prompt telling the AI assistant to ignore its instructions."
    result = mini_mapper.map(text, threshold=1.0)
    assert result.ai_related["decision"] is True and result.recognised is False
    # a write-up about AI always gets suggestions: the best three, flagged low confidence, with the reason
    assert len(result.techniques) == 3 and {h.band for h in result.techniques} == {"low"}
    assert result.reason == "no technique above the threshold; the best 3 are listed as low-confidence suggestions"
    assert [h.id for h in result.techniques] == [h.id for h in mini_mapper.map(text, threshold=0.0, top_k=3).techniques]
    assert "low" in render(result, "table") and "note: no technique above the threshold" in render(result, "table")
    assert mini_mapper.map(text, threshold=1.0, min_suggestions=0).techniques == []


def test_bands_follow_the_scores(mini_mapper):
    text = "poison the training data of the model"
    result = mini_mapper.map(text, top_k=10)
    proba = dict(zip(mini_mapper.index.ids, mini_mapper.score_text(text)[0]))
    assert result.techniques
    for hit in result.techniques:
        raw = proba[hit.id]
        expected = "high" if raw >= max(0.5, result.threshold) else "medium" if raw >= result.threshold else "low"
        assert hit.band == expected
    assert result.recognised == any(h.band != "low" for h in result.techniques)
    assert all(t["band"] == h.band for t, h in zip(result.to_dict()["techniques"], result.techniques))


def test_nothing_recognised_says_why_and_shows_the_nearest_misses(mini_mapper):
    text = "The attacker typed a prompt telling the AI assistant to ignore its instructions."
    full = mini_mapper.map(text, threshold=0.0, top_k=3)
    result = mini_mapper.map(text, threshold=1.0, min_suggestions=0)
    assert result.reason == "no technique above the threshold"
    # the three best techniques, in the order and with the scores a threshold of 0 reports
    assert [(h.id, h.score) for h in result.near_misses] == [(h.id, h.score) for h in full.techniques]
    data = result.to_dict()
    assert data["reason"] == result.reason and [m["id"] for m in data["near_misses"]] == [h.id for h in full.techniques]
    assert "nearest below the threshold:" in render(result, "table") and full.techniques[0].id in render(result, "table")
    assert "reason" not in full.to_dict()  # only when nothing was recognised
    empty = mini_mapper.map("   ")
    assert empty.reason == "no text to map" and empty.near_misses == []


def test_empty_text_recognises_nothing(mini_mapper):
    assert mini_mapper.map("   ...  ").techniques == []


def test_bad_arguments(mini_mapper):
    with pytest.raises(UsageError):
        mini_mapper.map("text", top_k=0)
    with pytest.raises(UsageError):
        mini_mapper.map("text", threshold=1.5)
    with pytest.raises(InputError):
        mini_mapper.map(b"bytes")  # type: ignore[arg-type]


def test_trained_ranker_is_cached_and_reused(mini_kb, mini_mapper, tmp_path):
    from mapper.model.writeups import benchmark_writeups
    again = Mapper.from_parts(mini_kb, mini_mapper.encoder, mini_mapper.index, tmp_path / "models", {"C_grid": (1.0,)},
                             writeups=benchmark_writeups())
    assert again.ranker is not mini_mapper.ranker  # loaded from disk, not the object in memory
    meta, arrays = again.ranker.state()
    same_meta, same_arrays = mini_mapper.ranker.state()
    assert json.dumps(meta, sort_keys=True) == json.dumps(same_meta, sort_keys=True) and arrays.keys() == same_arrays.keys()
    for key in arrays:
        np.testing.assert_array_equal(arrays[key], same_arrays[key])
    for text in ("poison the training data", "flood the API with huge requests", "an ordinary invoice fraud"):
        assert again.map(text).to_dict() == mini_mapper.map(text).to_dict()  # gate and threshold included
    cards = list((tmp_path / "models" / "ranker").glob("*/MODEL_CARD.md"))
    assert len(cards) == 1 and "tiny-hash-encoder" in cards[0].read_text()


def test_zero_shot_when_no_case_studies(mini_kb, mini_mapper, tmp_path):
    mini_kb.case_studies = []
    mapper = Mapper.from_parts(mini_kb, mini_mapper.encoder, mini_mapper.index, tmp_path / "zs", writeups=[])
    assert mapper.model_info["ranker"] == "zero-shot"
    result = mapper.map("poison the training data with mislabeled samples", threshold=0.0)
    assert result.techniques[0].id == "AML.T0020"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), top_k=st.integers(1, 10))
def test_ranking_properties(mini_mapper, text, top_k):
    a = mini_mapper.map(text, top_k=top_k, threshold=0.0).to_dict()
    b = mini_mapper.map(text, top_k=top_k, threshold=0.0).to_dict()
    assert a == b  # deterministic
    scores = [t["score"] for t in a["techniques"]]
    assert len(scores) <= top_k
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    for hit in a["techniques"]:
        for ev in hit["evidence"]:
            assert text[ev["start"]:ev["end"]] == ev["text"]


EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "examples" / "tay-chatbot.md"


@pytest.fixture(scope="module")
def mapper_without_tay(tmp_path_factory):
    """The production pipeline on v5.6.1, trained on every case study except Tay's (AML.CS0009)."""
    if not LATEST.is_file():
        pytest.skip("../shared/atlas not present")
    import dataclasses

    from mapper.encode.encoders import CachedEncoder, get_encoder
    from mapper.kb import load_kb
    from mapper.pipeline import open_index

    kb = load_kb(LATEST)
    kb = dataclasses.replace(kb, case_studies=[c for c in kb.case_studies if c.id != "AML.CS0009"])
    root = tmp_path_factory.mktemp("without-tay")
    encoder = CachedEncoder(get_encoder())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_MAPPER_CORPUS", "on")  # as shipped (no corpus text tells Tay's story)
        return Mapper.from_parts(kb, encoder, open_index(kb, encoder, root), root)


@pytest.mark.integration
@pytest.mark.encoder
@needs_shared()
def test_tay_write_up_scored_by_a_model_that_never_saw_tay(mapper_without_tay):
    # The shipped example is the Tay incident (ATLAS case study AML.CS0009) told in our own words; a model
    # trained with that study would be scored in-sample. Held out, one of its three ATLAS techniques
    # (AI-Enabled Product or Service) is in the top 5, and it is a write-up about an AI system. (Issue 12's model,
    # trained on the benchmark write-ups alone, ranked it 13th; the labelled corpus of issue 21 brought it back.)
    result = mapper_without_tay.map(EXAMPLE.read_text(encoding="utf-8"), top_k=5, threshold=0.0)
    assert mapper_without_tay.ranker.n_studies_ == 56
    assert "AML.T0047" in [t.id for t in result.techniques]
    assert result.atlas["release"] == "v5.6.1" and result.atlas["version"] == "5.6.0"


@pytest.mark.integration
@pytest.mark.encoder
@needs_shared()
def test_non_ai_incident_is_not_recognised_by_default(real_mapper):
    result = real_mapper.map(
        "A ransomware gang phished an accountant, stole domain admin credentials and encrypted the file servers. "
        "They demanded two million dollars in bitcoin."
    )
    assert result.techniques == [] and result.ai_related["decision"] is False
    assert result.reason.startswith("not about an AI system (no AI terms")
    assert len(result.near_misses) == 3  # still shown, so an analyst sees what came closest


def test_not_about_ai_gets_no_technique_and_says_why(mini_mapper):
    text = "The attackers sent invoices from a look-alike domain and the finance team wired the money."
    result = mini_mapper.map(text, threshold=0.0)
    assert mini_mapper.ranker.relevance_kind == "learned"  # the bundled write-ups include non-AI ones
    assert result.ai_related["decision"] is False and result.techniques == []
    assert result.reason.startswith("not about an AI system") and result.near_misses
    assert result.reason in render(result, "table") and result.reason in render(result, "markdown")
    assert result.to_dict()["ai_related"]["score"] == result.ai_related["score"]


def test_relevance_falls_back_to_a_rule_without_non_ai_write_ups(mini_kb, mini_mapper):
    ranker = TechniqueRanker(C_grid=(1.0,)).fit(mini_kb.case_studies, mini_kb, mini_mapper.index, mini_mapper.encoder)
    assert ranker.relevance_kind == "rule" and ranker.relevance_ is None
    units = ["poison the training data"]
    proba, _ = ranker.score(mini_mapper.encoder.encode(units), units)
    own_max = float(proba[ranker.own_].max())
    assert ranker.ai_related(units, proba, threshold=own_max)["decision"] is True
    assert ranker.ai_related(units, proba, threshold=own_max + 1e-3)["decision"] is False
    off = TechniqueRanker(C_grid=(1.0,), ai_gate=False)
    off.fit(mini_kb.case_studies, mini_kb, mini_mapper.index, mini_mapper.encoder)
    assert off.ai_related(units, proba)["decision"] is True and off.relevance_kind == "off"


def test_the_text_limit_is_the_callers(mini_mapper):
    long_text = "poison the training data. " * 80_000  # 2.08 million characters
    with pytest.raises(InputError, match="raise the limit with --max-chars"):
        mini_mapper.map(long_text)
    assert mini_mapper.map(long_text, max_chars=3_000_000, threshold=0.0).techniques


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_first_run_says_what_it_builds_at_a_terminal_and_in_a_pipe(mini_kb, tiny_encoder, tmp_path, monkeypatch):
    from mapper.encode.encoders import CachedEncoder
    from mapper.pipeline import open_index

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    encoder = CachedEncoder(tiny_encoder)
    from mapper.model.writeups import benchmark_writeups
    Mapper.from_parts(mini_kb, encoder, open_index(mini_kb, encoder, tmp_path), tmp_path, {"C_grid": (1.0,)},
                      writeups=benchmark_writeups())
    said = terminal.getvalue()
    assert "building the technique index" in said and "training the ranker on 3 case studies" in said
    # the second run finds both built and says nothing; a first run into a pipe (a log) says the same plain lines
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    from mapper.model.writeups import benchmark_writeups
    Mapper.from_parts(mini_kb, encoder, open_index(mini_kb, encoder, tmp_path), tmp_path, {"C_grid": (1.0,)},
                      writeups=benchmark_writeups())
    assert pipe.getvalue() == ""
    from mapper.model.writeups import benchmark_writeups
    Mapper.from_parts(mini_kb, encoder, open_index(mini_kb, encoder, tmp_path / "other"), tmp_path / "other", {},
                      writeups=benchmark_writeups())
    logged = pipe.getvalue()
    assert "building the technique index" in logged and "training the ranker on 3 case studies" in logged
    assert "\r" not in logged and "\x1b" not in logged


def test_evidence_is_the_sentences_that_would_list_the_technique_alone():
    from mapper.pipeline import cited_units

    scores = np.array([0.02, 0.40, 0.10, 0.35, 0.30, 0.25], dtype=np.float32)
    assert cited_units(scores, 0.2) == [1, 3, 4]  # at or above the cut, strongest first, at most three
    assert cited_units(scores, 0.38) == [1]
    assert cited_units(scores, 0.9) == [1]  # none reaches it: the strongest alone, never nothing
    assert cited_units(np.zeros(0), 0.2) == []


def test_evidence_cites_only_supporting_sentences_with_offsets(mini_mapper):
    text = ("Someone flooded the AI model service with expensive requests until it became unavailable.\n\n"
            "The weather was mild that week.\n\nThe office reopened on Monday.")
    result = mini_mapper.map(text, threshold=0.0, top_k=3)
    for hit in result.techniques:
        assert 1 <= len(hit.evidence) <= 3
        assert all(text[e.start:e.end] == e.text for e in hit.evidence)
        cut = mini_mapper.threshold
        assert len(hit.evidence) == 1 or all(e.score >= cut for e in hit.evidence)
    assert any(len(hit.evidence) < 3 for hit in result.techniques)  # not every sentence for every technique


def test_the_threshold_is_printed_as_applied(mini_mapper):
    result = mini_mapper.map("The attackers evaded the malware classifier model.")
    assert result.threshold == mini_mapper.threshold == round(float(mini_mapper.ranker.threshold_), 4)
    assert json.loads(result.to_json())["model"]["threshold"] == result.threshold
