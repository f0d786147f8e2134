"""The AI-relevance decision: cues, features, the learned model and its cut (hand-worked where possible)."""

import numpy as np
import pytest

from mapper.model.relevance import FEATURES, AIRelevance, cues_in, relevance_features


@pytest.mark.parametrize("text, cues", [
    ("The AI chatbot was jailbroken", {"AI", "chatbot", "jailbreak"}),
    ("Machine learning model weights were stolen from the registry", {"machine learning", "model", "ML tooling"}),
    ("They used RAG with a vector store", {"retrieval"}),
    ("printed adversarial patches fooled the person detector", {"adversarial ML", "classifier"}),
    ("A cloned voice passed the bank's voiceprint check", {"deepfake", "biometric recognition"}),
])
def test_cues_name_ai_artefacts(text, cues):
    assert cues_in(text) == cues


@pytest.mark.parametrize("text", [
    "Our business model relies on insurance agents",  # generic words outside AI phrasings
    "a rag doll and an ai (a three-toed sloth)",  # acronyms count only in capitals
    "The attackers phished the payroll clerk and changed the bank details",
])
def test_ordinary_text_has_no_cues(text):
    assert cues_in(text) == set()


def test_features_weigh_a_passing_mention_below_a_text_about_ai():
    own = np.array([True, False])
    passing = relevance_features([cues_in(u) for u in ["The invoice fraud wired $2m.",
                                                       "The e-mail was probably written with a chatbot.",
                                                       "Police arrested two men."]], np.array([0.1, 0.6]), own)
    about = relevance_features([cues_in("The chatbot was told to ignore its system prompt.")], np.array([0.7, 0.2]), own)
    names = dict(zip(FEATURES, range(len(FEATURES))))
    assert passing[names["cue_share"]] == pytest.approx(1 / 3) and about[names["cue_share"]] == 1.0
    assert about[names["cue_terms"]] == pytest.approx(np.log1p(2))  # chatbot, prompt
    assert passing[names["own_max"]] == pytest.approx(0.1) and passing[names["shared_max"]] == pytest.approx(0.6)
    assert len(passing) == len(FEATURES) - 1  # no word score given: the five others
    worded = relevance_features([cues_in("The agent sent our keys.")], np.array([0.7, 0.2]), own, attack_text=0.8)
    assert worded[names["attack_text"]] == pytest.approx(np.log(4.0))  # its log-odds


def test_relevance_model_learns_cut_out_of_fold_and_round_trips():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(1.0, 0.5, (30, 5)), rng.normal(-1.0, 0.5, (20, 5))])
    y = np.r_[np.ones(30), np.zeros(20)]
    model = AIRelevance(inner_folds=4)
    assert model.fit(X, y, np.arange(50)) is model
    assert model.oof_score_.shape == (50,) and 0.0 < model.cut_ < 1.0
    assert model.probability(np.ones(5)) > model.cut_ > model.probability(-np.ones(5))
    again = AIRelevance.from_state(model.state())
    assert again.probability(X[3]) == pytest.approx(model.probability(X[3])) and again.cut_ == model.cut_
    assert list(model.predict(X[[0, 45]])) == [1, 0] and model.predict_proba(X).shape == (50, 2)
    assert model.C_ in model.Cs and again.C_ == model.C_
