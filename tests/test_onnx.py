"""The encoder on ONNX Runtime: the export, its cache and sha256 check, int8, and the numpy fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixture_bert import make_tiny_bert, packaged_model
from mapper.encode import onnx_bert
from mapper.encode.encoders import NumpyBertEncoder, OnnxBertEncoder, get_encoder
from mapper.encode.onnx_export import RECIPE
from mapper.errors import ModelError
from mapper.files import sha256_bytes

TEXTS = [
    "The attacker uploaded a poisoned model to a public hub.",
    "prompt injection",
    "",
    "Ünïcode, emoji 🤖 and right-to-left עברית text in one sentence.",
    "word " * 400,  # longer than the model's window: truncated as the tokenizer says
    "They queried the prediction API thousands of times to train a copy of the model.",
]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_the_default_encoder_runs_on_onnx_runtime_in_int8():
    encoder = get_encoder()
    assert isinstance(encoder, OnnxBertEncoder) and encoder.precision == "int8"
    assert ":onnx-int8:" in encoder.fingerprint and encoder.fingerprint.endswith(RECIPE)  # a new recipe retrains
    assert ":onnx:" in get_encoder(backend="onnx").fingerprint
    assert get_encoder(backend="onnx").fingerprint != encoder.fingerprint  # models trained on one never load on the other


def test_the_float32_export_computes_the_numpy_forward_pass(tiny_bert, tmp_path):
    ours = get_encoder(str(tiny_bert), backend="onnx", cache=tmp_path).encode(TEXTS)
    reference = get_encoder(str(tiny_bert), backend="numpy").encode(TEXTS)
    # numpy runs GELU in its tanh form, the export in the erf form the model was trained with
    assert _cosines(ours, reference).min() > 1 - 1e-5
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_the_packaged_model_exports_and_agrees_with_numpy(tmp_path):
    texts = [t for t in TEXTS if t]
    reference = get_encoder(backend="numpy").encode(texts)
    float32 = get_encoder(backend="onnx", cache=tmp_path).encode(texts)
    int8 = get_encoder(backend="onnx-int8", cache=tmp_path).encode(texts)
    assert _cosines(float32, reference).min() > 1 - 1e-5
    # int8 is judged on the harness (eval/results/precision); here only that it is the same model
    assert _cosines(int8, reference).min() > 0.95


def test_int8_gives_the_same_bits_every_run_and_on_any_thread_count(tiny_bert, tmp_path):
    """Cluster workers (one thread) must compute what one process with every core computes."""
    many = [f"{t} (variant {i})" for i in range(12) for t in TEXTS]
    encoder = get_encoder(str(tiny_bert), backend="onnx-int8", cache=tmp_path)
    first = encoder.encode(many)
    assert np.array_equal(first, encoder.encode(many))
    (model,) = (tmp_path / "encoders").glob("*/model.onnx")
    for threads in (1, 2):
        assert np.array_equal(onnx_bert.OnnxBert(model.read_bytes(), tiny_bert, threads).encode(many), first)


@pytest.mark.parametrize("model", ["tiny", "packaged"])
def test_an_int8_embedding_does_not_depend_on_what_it_is_batched_with(model, tiny_bert, tmp_path):
    """The embedding cache encodes only a record's new sentences, so batch-mates vary with history: a text's
    embedding must not (per-tensor activation scales moved cosine by up to 0.02; per token they cannot)."""
    folder = str(tiny_bert) if model == "tiny" else None
    encoder = get_encoder(folder, backend="onnx-int8", cache=tmp_path)
    texts = [t for t in TEXTS if t] + ["ATTACK " * 30 + "on the MODEL's WEIGHTS!!!"]  # large activations
    together = encoder.encode(texts)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-6)  # float rounding only


def test_batches_depend_on_the_texts_alone():
    lengths = [5, 40, 40, 3, 17, 250, 1]
    batches = onnx_bert.batches(lengths, budget=64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) * lengths[b[0]] <= 64 or len(b) == 1 for b in batches)
    assert batches[:4] == [[5], [1], [2], [4, 0, 3]]  # longest first, ties by position, padded to the first
    assert batches == onnx_bert.batches(list(lengths), budget=64)


def test_the_export_is_cached_and_checked_by_sha256(tiny_bert, tmp_path, monkeypatch):
    exports = []
    real_export = OnnxBertEncoder._export
    monkeypatch.setattr(OnnxBertEncoder, "_export", lambda self: exports.append(1) or real_export(self))

    def encode():
        return get_encoder(str(tiny_bert), backend="onnx-int8", cache=tmp_path).encode(TEXTS[:2])

    first = encode()
    assert len(exports) == 1
    assert np.array_equal(encode(), first) and len(exports) == 1  # the second process loads the export
    (folder,) = [p.parent for p in (tmp_path / "encoders").glob("*/model.onnx")]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"] == sha256_bytes((folder / "model.onnx").read_bytes())

    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the weights
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="does not match its manifest"):
        again = encode()
    assert len(exports) == 2 and np.array_equal(again, first)

    manifest["key"] = "an older export recipe"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    encode()
    assert len(exports) == 3  # exported again for this recipe, never trusted under another key


def test_an_unwritable_cache_still_encodes(tiny_bert, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="could not cache the exported encoder"):
        vectors = get_encoder(str(tiny_bert), backend="onnx", cache=blocked).encode(TEXTS[:2])
    assert vectors.shape == (2, 32)


def test_a_tampered_model_folder_is_refused_before_export(tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(packaged_model(), copy)
    encoder = OnnxBertEncoder(str(copy), "int8", cache=tmp_path / "own-cache")
    encoder._expected = {"model.safetensors": "0" * 64}  # as if the registry recorded other weights
    with pytest.raises(ModelError, match="tampered"):
        encoder.encode(["text"])
    assert not list((tmp_path / "own-cache").rglob("*.onnx"))  # nothing exported from weights that failed their check


def test_without_onnx_runtime_numpy_is_the_fallback(monkeypatch):
    monkeypatch.setattr(onnx_bert, "available", lambda: False)
    assert isinstance(get_encoder(), NumpyBertEncoder)
    with pytest.raises(ModelError, match="pip install onnxruntime"):
        get_encoder(backend="onnx-int8")
    with pytest.raises(ModelError, match="unknown encoder backend"):
        get_encoder(backend="gpu")


def test_available_reports_a_missing_onnx_runtime(monkeypatch):
    import sys

    assert onnx_bert.available()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an install without it looks like to import
    assert not onnx_bert.available()


@pytest.mark.encoder
def test_a_process_that_ends_while_the_encoder_preloads_exits_cleanly(tmp_path):
    """The encoder loads in a background thread; a process done before it needs it (an empty text, say) must
    wait for that load rather than exit under it: ONNX Runtime aborts a process whose interpreter shuts down
    while a thread is creating a session (exit 134, "terminate called"). Here the main thread ends the moment
    the session starts being created."""
    import os
    import subprocess
    import sys

    code = (
        "import threading\n"
        "import onnxruntime\n"
        "entered, real = threading.Event(), onnxruntime.InferenceSession\n"
        "class Spy(real):\n"
        "    def __init__(self, *args, **kwargs):\n"
        "        entered.set()\n"
        "        super().__init__(*args, **kwargs)\n"
        "onnxruntime.InferenceSession = Spy\n"
        "from mapper.encode.encoders import get_encoder\n"
        "get_encoder().preload()\n"
        "assert entered.wait(120)\n"
    )
    env = dict(os.environ, ATLAS_MAPPER_CACHE=str(tmp_path / "cache"))
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and "terminate" not in done.stderr, (done.returncode, done.stderr)
