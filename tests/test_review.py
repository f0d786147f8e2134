"""Review decisions, what they keep, what they teach, and the report page's view of them."""

from __future__ import annotations

import numpy as np
import pytest

from mapper.errors import InputError
from mapper.model.reviews import Review, check_review, latest_decisions, review_writeup, reviewed_techniques

TEXT = "Adversaries evaded the malware classifier. Then they stole the model through its API."


def result_with(*ids, kb) -> dict:
    hits = []
    for n, tid in enumerate(ids):
        tech = kb.techniques[tid]
        hits.append({"id": tid, "name": tech.name, "score": 0.9 - 0.1 * n, "band": "high",
                     "tactics": [{"id": t, "name": kb.tactic_by_id[t].name} for t in tech.tactics],
                     "evidence": [{"text": TEXT[:42], "start": 0, "end": 42, "score": 0.8}]})
    return {"techniques": hits}


def test_latest_decision_wins_and_rejected_never_kept(mini_kb):
    a, b, c = sorted(mini_kb.techniques)[:3]
    reviews = [Review(a, "accept"), Review(b, "accept"), Review(b, "reject"), Review(c, "add", ((43, 86),), "found it")]
    kept = reviewed_techniques(result_with(a, b, kb=mini_kb), reviews, mini_kb, TEXT)
    assert [(k.id, k.decision) for k in kept] == [(a, "accept"), (c, "add")]
    assert kept[0].evidence[0].text == TEXT[:42]  # the model's evidence when the analyst attached none
    assert kept[1].evidence[0].text == TEXT[43:86] and kept[1].notes == ["found it"] and kept[1].score is None
    assert latest_decisions(reviews)[b].decision == "reject"


def test_attached_evidence_replaces_the_models(mini_kb):
    a = sorted(mini_kb.techniques)[0]
    kept = reviewed_techniques(result_with(a, kb=mini_kb), [Review(a, "accept", ((43, 86),))], mini_kb, TEXT)
    assert [e.text for e in kept[0].evidence] == [TEXT[43:86]]


def test_check_review_names_the_problem(mini_kb):
    tid = sorted(mini_kb.techniques)[0]
    assert check_review(Review(tid.lower(), "accept"), mini_kb, TEXT).technique == tid
    for bad, words in ((Review("AML.T9999", "accept"), "not a technique"), (Review(tid, "keep"), "decision"),
                       (Review(tid, "add", ((0, 999),)), "not inside"), (Review(tid, "add", note="x" * 5000), "limit")):
        with pytest.raises(InputError, match=words):
            check_review(bad, mini_kb, TEXT)


def test_a_finished_review_becomes_a_training_writeup(mini_kb):
    a, b, c = sorted(mini_kb.techniques)[:3]
    reviews = [Review(a, "accept", ((0, 42),)), Review(b, "reject"), Review(c, "add")]
    kept = reviewed_techniques(result_with(a, b, kb=mini_kb), reviews, mini_kb, TEXT)
    w = review_writeup("r1", TEXT, kept, [b])
    assert w.techniques == (a, c) and w.rejected == (b,) and w.rationale == {a: TEXT[:42]}
    nothing = review_writeup("r2", TEXT, [], [a, b])
    assert not nothing.ai and nothing.rejected == ()  # kept nothing: a non-AI example, not a list of negatives


def test_rejected_techniques_weigh_more_as_negatives(mini_kb, tiny_encoder):
    from mapper.encode.encoders import CachedEncoder
    from mapper.encode.index import TechniqueIndex
    from mapper.model.ranker import TechniqueRanker
    from mapper.model.rows import build_rows, training_queries
    from mapper.model.base_scorers import CaseStudyScorers
    from mapper.model.writeups import WriteUp

    encoder = CachedEncoder(tiny_encoder)
    index = TechniqueIndex.build(mini_kb, encoder)
    a, b = sorted(mini_kb.techniques)[:2]
    writeups = [WriteUp("w", TEXT, (a,), {}, (b,))]
    ranker = TechniqueRanker(C_grid=(1.0,), rejected_weight=4.0)
    ranker.classes_ = list(index.ids)
    scorers = CaseStudyScorers().fit(mini_kb.case_studies, mini_kb, index, encoder, writeups)
    queries = training_queries(mini_kb.case_studies, writeups=writeups)
    rows = build_rows(queries, scorers, encoder, mini_kb)
    weight = ranker._row_weights(rows)
    last = weight[-1]
    assert last[ranker.classes_.index(b)] == 4.0 and last[ranker.classes_.index(a)] == 1.0
    assert np.all(weight[:-1] == 1.0)
    # weights follow each row's kind and its own rejections, not its position
    moved = build_rows(queries[-1:] + queries[:-1], scorers, encoder, mini_kb)
    assert moved.kinds[0] == "writeup"
    np.testing.assert_array_equal(ranker._row_weights(moved), np.roll(weight, 1, axis=0))


def test_segments_give_the_text_back_and_know_their_techniques():
    from mapper.serve.pages import segments

    text = "First sentence here.\n\nSecond one, cited. Third."
    pieces = segments(text, {"AML.T0001": [(22, 40)]})
    assert "".join(p["text"] for p in pieces) == text
    cited = [p for p in pieces if p.get("techniques")]
    assert [p["text"] for p in cited] == ["Second one, cited."] and cited[0]["techniques"] == ["AML.T0001"]


def test_explanations_name_case_study_steps_and_mitigations(mini_kb, tiny_encoder):
    from mapper.serve.explain import explain

    study = mini_kb.case_studies[0]
    step = study.steps[0]
    why = explain(mini_kb, tiny_encoder, step.technique, [step.description])
    assert why["similar_steps"][0]["case_study"] == study.id and why["similar_steps"][0]["step"] == 1
    assert why["similar_steps"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert why["mitigations"] == [{"id": m.id, "name": m.name, "use": " ".join(u.split())}
                                  for m, u in mini_kb.mitigations_for(step.technique)]


def test_prequential_figures_score_the_stored_results(mini_mapper, tmp_path):
    from mapper.serve.db import Database
    from mapper.serve.training import finished_reviews, prequential_figures

    db = Database(tmp_path / "w.sqlite3")
    kb = mini_mapper.kb
    result = mini_mapper.map(TEXT).to_dict()
    listed = [h["id"] for h in result["techniques"]]
    rid = db.add_report("t", TEXT, "test", result, {}, 1)
    db.add_review(rid, Review(listed[1], "accept"))
    db.add_review(rid, Review(listed[0], "reject"))
    other = db.add_report("not ai", "printer jam", "test", {"techniques": []}, {}, 1)
    db.set_status(rid, "done")
    db.set_status(other, "done")
    finished = finished_reviews(db, kb)
    assert sorted(r["id"] for r, _ in finished) == sorted([rid, other])
    figures = prequential_figures([r for r, _ in finished], kb)
    assert figures["Success@1"] == 0.0 and figures["AP@10"] == 0.5 and figures["R@10"] == 1.0
    assert figures["nothing_listed_when_nothing_kept"] == 1.0
