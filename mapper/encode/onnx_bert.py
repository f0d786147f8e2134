"""The sentence encoder on ONNX Runtime: an exported graph, checked by sha256, run in length-sorted batches.

The graph is exported once from the verified weights (:mod:`mapper.encode.onnx_export`) and cached beside
the other built artefacts, keyed by the weights' sha256, the precision and the export recipe. A manifest
written last records the file's sha256; the bytes handed to ONNX Runtime are the bytes that were hashed, so
nothing can be swapped in between. Anything that does not match is exported again, never trusted.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mapper.errors import ModelError, OutputError
from mapper.files import build_lock
from mapper.store import artifact_key, read_files, write_files

# Padded tokens per ONNX Runtime call (rows x longest row). Small batches stay in the CPU's caches: on this
# project's 2-core machine 256-512 ran fastest for int8 and float32 alike, 8,192 about a third slower.
BATCH_TOKENS = 512
PRECISIONS = ("float32", "int8")
MODEL_FILE = "model.onnx"


def available() -> bool:
    """True when ONNX Runtime can be imported (the numpy forward pass is the fallback otherwise)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_key(weights_sha256: str, precision: str) -> str:
    from mapper.encode.onnx_export import RECIPE

    return f"{weights_sha256}:{precision}:{RECIPE}"


def exported_model(folder: Path, key: str, build) -> bytes:
    """The exported model's bytes from ``folder`` when its manifest vouches for them under ``key``, else
    ``build()``'s bytes, saved there (best effort: an unwritable cache only costs exporting again)."""
    folder = Path(folder)
    cached = _verified(folder, key)
    if cached is not None:
        return cached
    with build_lock(folder):  # two processes starting at once export once
        cached = _verified(folder, key)
        if cached is not None:
            return cached
        data = build()
        try:
            write_files(folder, {MODEL_FILE: data}, key)
        except OutputError as exc:
            warnings.warn(f"could not cache the exported encoder, so it is exported again next time: {exc}",
                          stacklevel=2)
        return data


def _verified(folder: Path, key: str) -> bytes | None:
    """The cached model's bytes if its manifest names ``key`` and vouches for them; None otherwise."""
    if artifact_key(folder) != key:
        return None
    try:
        return read_files(folder)[MODEL_FILE]
    except (ModelError, KeyError) as exc:
        warnings.warn(f"the cached encoder export is not usable ({exc}); exporting it again", stacklevel=3)
        return None


class OnnxBert:
    """Runs an exported encoder. Safe to call from several threads (ONNX Runtime sessions are)."""

    def __init__(self, model: bytes, directory: Path, threads: int):
        import onnxruntime as ort

        from mapper.encode.bert import check_config, load_tokenizer

        _, max_length = check_config(directory)
        self.tokenizer = load_tokenizer(directory, max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle pool threads sleep rather than spin: a spinning thread takes the core that the scoring
        # between two encodes (numpy, on the calling thread) needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # ONNX Runtime's notes about its own graph rewrites are not the user's
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types
            raise ModelError(f"ONNX Runtime cannot load the exported encoder: {exc}".splitlines()[0]) from None
        self.dim = int(self.session.get_outputs()[0].shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        for rows in batches([len(ids) for ids in encodings]):
            longest = len(encodings[rows[0]])
            ids = np.zeros((len(rows), longest), dtype=np.int64)
            mask = np.zeros((len(rows), longest), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :len(encodings[i])] = encodings[i]
                mask[r, :len(encodings[i])] = 1
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out


def batches(lengths: list[int], budget: int = BATCH_TOKENS) -> list[list[int]]:
    """Row indices in batches of similar length, longest first (ties by position), each padded to at most
    ``budget`` tokens. Embeddings do not depend on the batching beyond float rounding (int8 activations are
    quantised per token); the batches depend on the texts alone all the same, so reruns agree to the bit."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    out, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[current[0]] > budget:
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out
