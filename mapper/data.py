"""Finding, identifying and downloading ATLAS release files.

Order of search: an explicit path, ``ATLAS_MAPPER_DATA``, the local data cache,
then a download of the pinned release from the official repository, checked
against the sha256 recorded in ``data/releases.json``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mapper.errors import AtlasDataError, DownloadError, UsageError
from mapper.files import atomic_write_bytes, cache_dir, data_dir, sha256_bytes, sha256_file

DATA_ENV = "ATLAS_MAPPER_DATA"
# Only for tests and private mirrors: the sha256 pin still decides what is accepted.
MIRROR_ENV = "ATLAS_MAPPER_MIRROR"
MAX_DOWNLOAD_BYTES = 64 << 20


@dataclass(frozen=True)
class Release:
    tag: str
    version: str
    sha256: str
    url: str
    date: str = ""
    commit: str = ""


@dataclass(frozen=True)
class AtlasSource:
    """An ATLAS file on disk and what we know about it."""

    path: Path
    sha256: str
    origin: str  # argument | environment | cache | download
    releases: tuple[Release, ...] = field(default=())

    @property
    def release(self) -> Release | None:
        # Identical files can be published under several tags (v5.6.0 = v5.6.1): report the newest.
        return self.releases[-1] if self.releases else None

    def describe(self) -> dict:
        rel = self.release
        return {
            "release": rel.tag if rel else None,
            "also_published_as": [r.tag for r in self.releases[:-1]],
            "version": rel.version if rel else None,
            "sha256": self.sha256,
            "path": str(self.path),
            "origin": self.origin,
            "known": rel is not None,
        }


@lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads((data_dir() / "releases.json").read_text(encoding="utf-8"))


def known_releases() -> list[Release]:
    return [Release(**row) for row in _table()["releases"]]


def default_tag() -> str:
    return _table()["default"]


def release_for_tag(tag: str) -> Release:
    wanted = tag if tag.startswith("v") else f"v{tag}"
    for rel in known_releases():
        if rel.tag in (tag, wanted) or rel.tag.lstrip("v") == tag.lstrip("v"):
            return rel
    tags = ", ".join(r.tag for r in known_releases())
    raise UsageError(f"unknown ATLAS release {tag!r}; known releases: {tags}")


def identify(sha256: str) -> tuple[Release, ...]:
    return tuple(r for r in known_releases() if r.sha256 == sha256)


def _source(path: Path, origin: str) -> AtlasSource:
    digest = sha256_file(path)
    return AtlasSource(path=path, sha256=digest, origin=origin, releases=identify(digest))


def cached_path(tag: str) -> Path:
    return cache_dir() / "atlas" / tag / "ATLAS.yaml"


def _atlas_file(path: str | Path) -> Path:
    """A path as given; a folder means the ATLAS.yaml inside it."""
    given = Path(path).expanduser()
    return given / "ATLAS.yaml" if given.is_dir() else given


def locate(path: str | Path | None = None, release: str | None = None, download: bool = True) -> AtlasSource:
    """Find ATLAS data in the documented order; download the pinned release last."""
    if path is not None:
        given = _atlas_file(path)
        if not given.is_file():
            raise AtlasDataError(f"ATLAS file not found: {given}; pass the path of an ATLAS.yaml to --atlas")
        return _source(given, "argument")
    env = os.environ.get(DATA_ENV)
    if env:
        given = _atlas_file(env)
        if not given.is_file():
            raise AtlasDataError(f"{DATA_ENV} points to {given}, which is not a file; fix or unset it")
        return _source(given, "environment")
    rel = release_for_tag(release or default_tag())
    cached = cached_path(rel.tag)
    if cached.is_file():
        source = _source(cached, "cache")
        if rel in source.releases:
            return source
        # A cache file that does not match its pin is never trusted.
        cached.unlink(missing_ok=True)
    if not download:
        raise AtlasDataError(_missing_message(rel))
    fetch(rel.tag)
    return _source(cached, "download")


def _missing_message(rel: Release) -> str:
    return (
        f"no ATLAS data found: pass --atlas PATH, set {DATA_ENV}, "
        f"or run 'atlas-mapper data fetch --release {rel.tag}' while online"
    )


def fetch(tag: str | None = None, timeout: float = 60.0) -> Path:
    """Download a release into the cache, verify its sha256, and write it atomically."""
    rel = release_for_tag(tag or default_tag())
    mirror = os.environ.get(MIRROR_ENV)
    url = f"{mirror.rstrip('/')}/{rel.tag}/dist/ATLAS.yaml" if mirror else rel.url
    if not mirror and not url.startswith("https://"):
        raise DownloadError(f"refusing non-HTTPS download URL {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (URL is pinned)
            expected = response.headers.get("Content-Length")
            payload = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download ATLAS {rel.tag} from {url} ({reason}); "
            f"check the network or pass --atlas PATH / set {DATA_ENV}"
        ) from None
    if len(payload) > MAX_DOWNLOAD_BYTES:
        raise DownloadError(f"download of ATLAS {rel.tag} is larger than expected; refusing it")
    if expected is not None and expected.isdigit() and int(expected) != len(payload):
        raise DownloadError(
            f"download of ATLAS {rel.tag} was cut off ({len(payload)} of {expected} bytes); try again"
        )
    digest = sha256_bytes(payload)
    if digest != rel.sha256:
        raise DownloadError(
            f"download of ATLAS {rel.tag} has sha256 {digest[:12]}..., expected {rel.sha256[:12]}...; "
            "nothing was saved; try again or pass --atlas PATH"
        )
    target = cached_path(rel.tag)
    atomic_write_bytes(target, payload)
    return target
