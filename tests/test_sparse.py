import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from mapper.encode.tfidf import PARAMS, SparseText

CORPUS = [
    "Adversaries may poison training data to insert a backdoor into the model.",
    "An attacker crafted a prompt injection that made the chatbot reveal its system prompt.",
    "They queried the inference API to replicate the model and evade the malware classifier.",
    "Use of the model's outputs, the training data and the weights was not restricted.",
]


def test_state_roundtrip_is_plain_json():
    sparse = SparseText().fit(CORPUS)
    meta, arrays = sparse.state()
    again = SparseText.from_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_allclose(again.transform(CORPUS).toarray(), sparse.transform(CORPUS).toarray())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(["the", "model", "training", "data", "Poison", "of", "API", "É", "😀", "x_1", ",", "\n"]),
             max_size=20).map(" ".join),
), min_size=1, max_size=5))
def test_transform_matches_scikit_learn_on_any_text(texts):
    ours = SparseText().fit(CORPUS).transform(texts).toarray()
    reference = TfidfVectorizer(**PARAMS).fit(CORPUS).transform(texts).toarray()
    np.testing.assert_allclose(ours, reference, atol=1e-6)
