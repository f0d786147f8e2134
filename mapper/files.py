"""File helpers shared by every stage: hashing, atomic writes, cache location.

Every file the project writes goes through :func:`atomic_write_bytes`, so a
crash or a concurrent writer can never leave a half-written file in place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from mapper.errors import MapperError, OutputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror}; choose a writable place "
            "(--output, or ATLAS_MAPPER_CACHE for caches)"
        ) from None
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# What the package reads from its own data folder at run time (the wheel ships them as mapper/_data).
DATA_FILES = ("encoders.json", "id_changes.json", "releases.json", "eval/ai_incidents.yaml",
              "eval/non_ai_incidents.yaml", "eval/wild/ai.yaml", "eval/wild/non_ai.yaml", "eval/wild/split.json",
              "labelling/real/sample.jsonl", "labelling/real/gold.jsonl", "labelling/real/overlaps.json",
              "labelling/own/gold.jsonl")


def data_dir() -> Path:
    """The project's own data: ``mapper/_data`` in a wheel, ``data/`` in a source checkout.

    A folder counts only when it holds every file of ``DATA_FILES``, so a partial copy never
    shadows the complete one.
    """
    candidates = (Path(__file__).resolve().parent / "_data", PROJECT_ROOT / "data")
    for folder in candidates:
        if all((folder / name).is_file() for name in DATA_FILES):
            return folder
    raise MapperError(
        f"atlas-mapper's data files ({', '.join(DATA_FILES)}) are in neither {candidates[0]} nor {candidates[1]}; "
        "reinstall atlas-mapper"
    )


def cache_dir() -> Path:
    """Where built indexes, models and downloaded ATLAS files go.

    ``ATLAS_MAPPER_CACHE`` wins; a source checkout uses its ``models/`` folder;
    an installed wheel uses the user's cache folder.
    """
    env = os.environ.get("ATLAS_MAPPER_CACHE")
    if env:
        return Path(env).expanduser()
    checkout_models = PROJECT_ROOT / "models"
    if (PROJECT_ROOT / "pyproject.toml").is_file() and checkout_models.is_dir() and os.access(checkout_models, os.W_OK):
        return checkout_models  # a read-only checkout falls through to the user's cache
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "atlas-mapper"


class build_lock:
    """Serialise building one cache entry across processes; a no-op where the folder is read-only.

    Writes are atomic anyway, so without the lock the worst case is duplicated work, never a torn file.
    """

    def __init__(self, directory: Path, timeout: float = 600.0):
        self.path = Path(directory).with_suffix(".lock")
        self.timeout = timeout
        self._lock = None

    def __enter__(self):
        try:
            from filelock import FileLock

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(self.path), timeout=self.timeout)
            self._lock.acquire()
        except (OSError, ImportError):
            self._lock = None
        return self

    def __exit__(self, *exc):
        if self._lock is not None:
            self._lock.release()
        return False


def code_fingerprint(*module_files: str) -> str:
    """Hash of our own source files, so caches built by older code are never reused."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in module_files:
        digest.update(name.encode())
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]
