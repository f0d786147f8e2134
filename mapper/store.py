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
from mapper.files import atomic_write_bytes, sha256_bytes, sha256_file

MANIFEST = "manifest.json"


def save_artifact(directory: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays.npz``, ``meta.json`` and finally the manifest that vouches for both."""
    directory = Path(directory)
    buffer = io.BytesIO()
    # uncompressed: the arrays are mostly float embeddings, which barely compress, and inflating them was the
    # largest single cost of loading a saved model in a cold `map`
    np.savez(buffer, **arrays)
    npz = buffer.getvalue()
    meta_bytes = json.dumps(meta, indent=1, sort_keys=True, default=str).encode("utf-8")
    atomic_write_bytes(directory / "arrays.npz", npz)
    atomic_write_bytes(directory / "meta.json", meta_bytes)
    manifest = {"files": {"arrays.npz": sha256_bytes(npz), "meta.json": sha256_bytes(meta_bytes)}, "key": meta.get("key")}
    # The manifest is written last: a reader that finds it knows both files are complete.
    atomic_write_bytes(directory / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))


def load_artifact(directory: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Load and verify; raise ModelError (naming the file) on anything unexpected."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        for name, digest in files.items():
            if sha256_file(directory / name) != digest:
                raise ModelError(f"{directory / name} does not match its manifest (truncated or altered)")
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot read built artefact in {directory}: {exc}") from None
    return arrays, meta


def artifact_key(directory: Path) -> str | None:
    """The key recorded in a manifest, or None when there is no readable manifest."""
    try:
        return json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError, AttributeError):
        return None
