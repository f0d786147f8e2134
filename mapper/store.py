"""Saving and loading what we build, safely.

Arrays go to ``.npz`` (loaded with ``allow_pickle=False``) and everything else
to JSON. A manifest records the sha256 of every file; a file that is missing,
truncated or altered is reported, never trusted.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from mapper.errors import ModelError
from mapper.files import atomic_write_bytes, sha256_bytes

MANIFEST = "manifest.json"


def write_files(directory: Path, files: dict[str, bytes], key: str | None) -> None:
    """Write each file, then the manifest that vouches for them all under ``key``: a reader that finds the
    manifest knows every file is complete."""
    directory = Path(directory)
    for name, data in files.items():
        atomic_write_bytes(directory / name, data)
    manifest = {"files": {name: sha256_bytes(data) for name, data in files.items()}, "key": key}
    atomic_write_bytes(directory / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))


def read_files(directory: Path) -> dict[str, bytes]:
    """Every file the manifest lists, hashed as read (so nothing can be swapped between the check and the use);
    ModelError, naming the file, for anything missing, truncated or altered."""
    directory = Path(directory)
    try:
        listed = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))["files"]
        files = {name: (directory / name).read_bytes() for name in listed}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read built artefact in {directory}: {exc}") from None
    for name, data in files.items():
        if sha256_bytes(data) != listed[name]:
            raise ModelError(f"{directory / name} does not match its manifest (truncated or altered)")
    return files


def save_artifact(directory: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays.npz``, ``meta.json`` and finally the manifest that vouches for both."""
    buffer = io.BytesIO()
    # uncompressed: the arrays are mostly float embeddings, which barely compress, and inflating them was the
    # largest single cost of loading a saved model in a cold `map`
    np.savez(buffer, **arrays)
    meta_bytes = json.dumps(meta, indent=1, sort_keys=True, default=str).encode("utf-8")
    write_files(directory, {"arrays.npz": buffer.getvalue(), "meta.json": meta_bytes}, meta.get("key"))


def load_artifact(directory: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Load and verify; raise ModelError (naming the file) on anything unexpected."""
    files = read_files(directory)
    try:
        meta = json.loads(files["meta.json"])
        with np.load(io.BytesIO(files["arrays.npz"]), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot read built artefact in {directory}: {exc}") from None
    return arrays, meta


def artifact_key(directory: Path) -> str | None:
    """The key recorded in a manifest, or None when there is no readable manifest."""
    try:
        return json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError, AttributeError):
        return None
