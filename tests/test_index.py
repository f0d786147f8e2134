import json

import numpy as np
import pytest

from mapper.errors import ModelError
from mapper.encode.index import TechniqueIndex, technique_document
from mapper.encode.tfidf import SparseText
from mapper.store import load_artifact, save_artifact


def test_technique_document_fields(mini_kb):
    doc = technique_document(mini_kb, mini_kb.techniques["AML.T0051.000"])
    assert doc.startswith("LLM Prompt Injection: Direct.")
    assert "Tactics: Impact." in doc
    with_mitigations = technique_document(mini_kb, mini_kb.techniques["AML.T0020"], fields=("name", "mitigations"))
    assert "Filter suspicious samples" in with_mitigations


def test_build_save_load_roundtrip(mini_kb, tiny_encoder, tmp_path):
    index = TechniqueIndex.build(mini_kb, tiny_encoder)
    index.save(tmp_path / "idx")
    loaded = TechniqueIndex.load(tmp_path / "idx")
    assert loaded.ids == index.ids and loaded.key == index.key
    np.testing.assert_array_equal(loaded.dense, index.dense)
    q = ["poison the training data"]
    np.testing.assert_allclose(loaded.sparse.transform(q).toarray(), index.sparse.transform(q).toarray())


def test_reuse_and_rebuild(mini_kb, tiny_encoder, tmp_path):
    target = tmp_path / "idx"
    TechniqueIndex.load_or_build(target, mini_kb, tiny_encoder)
    calls = tiny_encoder.calls
    TechniqueIndex.load_or_build(target, mini_kb, tiny_encoder)
    assert tiny_encoder.calls == calls  # reused, nothing encoded
    TechniqueIndex.load_or_build(target, mini_kb, tiny_encoder, fields=("name",))
    assert tiny_encoder.calls == calls + 1  # different config: rebuilt


def test_altered_cache_file_is_rebuilt_with_a_warning(mini_kb, tiny_encoder, tmp_path):
    target = tmp_path / "idx"
    TechniqueIndex.load_or_build(target, mini_kb, tiny_encoder)
    with open(target / "arrays.npz", "r+b") as handle:
        handle.seek(40)
        handle.write(b"XXXX")
    with pytest.warns(UserWarning, match="does not match its manifest"):
        index = TechniqueIndex.load_or_build(target, mini_kb, tiny_encoder)
    assert len(index.ids) == 7
    TechniqueIndex.load(target)  # the rebuilt files verify again


def test_store_refuses_pickled_arrays(tmp_path):
    save_artifact(tmp_path, {"a": np.arange(3)}, {"key": "k"})
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    arrays, meta = load_artifact(tmp_path)
    assert meta["key"] == "k" and arrays["a"].tolist() == [0, 1, 2]
    import io

    buffer = io.BytesIO()
    np.savez(buffer, a=np.array([{"x": 1}], dtype=object))
    (tmp_path / "arrays.npz").write_bytes(buffer.getvalue())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    from mapper.files import sha256_file

    manifest["files"]["arrays.npz"] = sha256_file(tmp_path / "arrays.npz")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError):
        load_artifact(tmp_path)


def test_sparse_state_roundtrip():
    texts = ["poison training data", "prompt injection in a chatbot", "query the prediction API"]
    sparse = SparseText().fit(texts)
    meta, arrays = sparse.state()
    json.dumps(meta)
    again = SparseText.from_state(meta, arrays)
    np.testing.assert_allclose(again.transform(texts).toarray(), sparse.transform(texts).toarray())
