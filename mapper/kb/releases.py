"""Finding, identifying and downloading ATLAS release files.

Order of search: an explicit path, an explicit release, ``ATLAS_MAPPER_DATA``, then
the default release: from the local data cache, else downloaded from the official
repository and checked against the sha256 recorded in ``data/releases.json``.

A release newer than that table can be fetched only on request (``--trust-unpinned``):
its sha256 is then recorded at the first download in ``<cache>/atlas/unpinned.json``
and checked against that record from then on.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import posixpath
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mapper.errors import AtlasDataError, DownloadError, UsageError
from mapper.files import atomic_write_bytes, atomic_write_text, cache_dir, data_dir, sha256_bytes, sha256_file

DATA_ENV = "ATLAS_MAPPER_DATA"
# Only for tests and private mirrors: the sha256 pin still decides what is accepted.
MIRROR_ENV = "ATLAS_MAPPER_MIRROR"
OFFICIAL_BASE = "https://raw.githubusercontent.com/mitre-atlas/atlas-data"
MAX_DOWNLOAD_BYTES = 64 << 20
MONTHLY = re.compile(r"\d{4}\.\d{2}")  # v6 content releases: 2026.05, 2026.06, ...


@dataclass(frozen=True)
class Release:
    tag: str
    version: str
    sha256: str
    path: str  # in the repository: dist/ATLAS.yaml (legacy) or dist/v6/ATLAS-<YYYY.MM>.yaml
    format: str  # "legacy" or the file's format-version, e.g. "6.0.0"
    checked: bool = False  # our tests have verified these exact bytes
    pinned: bool = True  # False: sha256 recorded at a first download with --trust-unpinned
    date: str = ""
    commit: str = ""
    source: str = ""  # where the sha256 comes from, when not from our tests
    # Derived from tag and path; a field (not a property) only so that a test can point a release elsewhere.
    url: str = ""

    def __post_init__(self):
        if not self.url:
            object.__setattr__(self, "url", f"{OFFICIAL_BASE}/{self.tag}/{self.path}")


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
            "pinned": bool(rel and rel.pinned),
            "checked": bool(rel and rel.checked),
        }


@lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads((data_dir() / "releases.json").read_text(encoding="utf-8"))


def known_releases() -> list[Release]:
    """The pinned releases, oldest first, then those recorded with --trust-unpinned."""
    pinned = [Release(**row) for row in _table()["releases"]]
    tags = {r.tag for r in pinned}
    return pinned + [r for r in _unpinned_releases() if r.tag not in tags]


def default_tag() -> str:
    return _table()["default"]


def newest_checked() -> Release:
    """The newest release whose bytes our tests have verified."""
    return [r for r in known_releases() if r.checked][-1]


def release_for_tag(tag: str) -> Release:
    wanted = tag if tag.startswith("v") else f"v{tag}"
    for rel in known_releases():
        if rel.tag in (tag, wanted) or rel.tag.lstrip("v") == tag.lstrip("v"):
            return rel
    tags = ", ".join(r.tag for r in known_releases())
    if MONTHLY.fullmatch(tag.lstrip("v")):
        raise UsageError(f"ATLAS release {tag!r} is newer than this atlas-mapper knows; fetch it with "
                         f"'atlas-mapper data fetch --release {wanted} --trust-unpinned' (or upgrade atlas-mapper)")
    raise UsageError(f"unknown ATLAS release {tag!r}; known releases: {tags}")


def identify(sha256: str) -> tuple[Release, ...]:
    return tuple(r for r in known_releases() if r.sha256 == sha256)


def _source(path: Path, origin: str) -> AtlasSource:
    digest = sha256_file(path)
    return AtlasSource(path=path, sha256=digest, origin=origin, releases=identify(digest))


def cached_path(release: Release) -> Path:
    return cache_dir() / "atlas" / release.tag / posixpath.basename(release.path)


def _atlas_file(path: str | Path) -> Path | None:
    """A path as given; a folder means the ATLAS file inside it, None if it holds none.

    In a folder, the legacy ATLAS.yaml wins, else the newest ATLAS-<YYYY.MM>.yaml by name
    (any other ATLAS-*.yaml, such as ATLAS-latest.yaml, only when no dated one is there).
    """
    given = Path(path).expanduser()
    if not given.is_dir():
        return given
    if (given / "ATLAS.yaml").is_file():
        return given / "ATLAS.yaml"
    found = [p for p in given.glob("ATLAS-*.yaml") if p.is_file()]
    if not found:
        return None
    return max(found, key=lambda p: (bool(MONTHLY.fullmatch(p.stem[len("ATLAS-"):])), p.name))


def _given(path: str | Path, origin: str) -> AtlasSource:
    """The source for a path named by the user (argument) or by ``ATLAS_MAPPER_DATA``."""
    found = _atlas_file(path)
    if found is not None and found.is_file():
        return _source(found, origin)
    missing = f"{path} (a folder with no ATLAS.yaml or ATLAS-<YYYY.MM>.yaml)" if found is None else str(found)
    if origin == "environment":
        raise AtlasDataError(f"{DATA_ENV} points to {missing}, which is not an ATLAS file; fix or unset it")
    raise AtlasDataError(f"ATLAS file not found: {missing}; pass the path of an ATLAS release file to --atlas")


def locate(path: str | Path | None = None, release: str | None = None, download: bool = True) -> AtlasSource:
    """Find ATLAS data in the documented order; download the release last.

    What the caller names (a path, then a release) wins over ``ATLAS_MAPPER_DATA``, which
    only replaces the default release.
    """
    if path is not None:
        return _given(path, "argument")
    env = os.environ.get(DATA_ENV)
    if env and release is None:
        return _given(env, "environment")
    rel = release_for_tag(release or default_tag())
    cached = cached_path(rel)
    if cached.is_file():
        source = _source(cached, "cache")
        if rel in source.releases:
            return source
        # A cache file that does not match its pin (or its first-download record) is never trusted.
        cached.unlink(missing_ok=True)
    if not download:
        raise AtlasDataError(_missing_message(rel))
    return _fetch_release(rel, 60.0, trust_unpinned=False)


def _missing_message(rel: Release) -> str:
    return (
        f"no ATLAS data found: pass --atlas PATH, set {DATA_ENV}, "
        f"or run 'atlas-mapper data fetch --release {rel.tag}' while online"
    )


def _mirror() -> str | None:
    mirror = os.environ.get(MIRROR_ENV)
    return mirror.rstrip("/") if mirror else None


def _download(url: str, what: str, timeout: float) -> bytes:
    """The body at ``url``, whole: size-capped, and refused if shorter than its Content-Length."""
    if _mirror() is None and not url.startswith("https://"):
        raise DownloadError(f"refusing non-HTTPS download URL {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (official repository or mirror)
            expected = response.headers.get("Content-Length")
            payload = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {what} from {url} ({reason}); "
            f"check the network or pass --atlas PATH / set {DATA_ENV}"
        ) from None
    if len(payload) > MAX_DOWNLOAD_BYTES:
        raise DownloadError(f"download of {what} is larger than expected; refusing it")
    if expected is not None and expected.isdigit() and int(expected) != len(payload):
        raise DownloadError(f"download of {what} was cut off ({len(payload)} of {expected} bytes); try again")
    return payload


def fetch(tag: str | None = None, timeout: float = 60.0, trust_unpinned: bool = False) -> AtlasSource:
    """Download a release into the cache, verify its sha256, and write it atomically.

    A monthly tag (v2026.10) that is neither pinned nor recorded is fetched only with
    ``trust_unpinned``, from dist/v6/ATLAS-<YYYY.MM>.yaml, and its sha256 recorded.
    """
    try:
        rel = release_for_tag(tag or default_tag())
    except UsageError:
        version = (tag or "").lstrip("v")
        if not MONTHLY.fullmatch(version):
            raise
        rel = _new_release(version, f"dist/v6/ATLAS-{version}.yaml")
    return _fetch_release(rel, timeout, trust_unpinned)


def _new_release(version: str, path: str) -> Release:
    """A monthly release found upstream that neither the table nor a record knows yet."""
    return Release(tag=f"v{version}", version=version, sha256="", path=path, format="", pinned=False)


def _fetch_release(rel: Release, timeout: float, trust_unpinned: bool) -> AtlasSource:
    if not rel.sha256 and not trust_unpinned:
        newest = [r for r in known_releases() if r.pinned][-1]
        raise DownloadError(
            f"ATLAS {rel.tag} is not pinned in this atlas-mapper (newest pinned: {newest.tag}), so there is "
            f"no sha256 to check it against; pass --trust-unpinned to accept it and record its sha256, or --release {newest.tag}"
        )
    mirror = _mirror()
    url = f"{mirror}/{rel.tag}/{rel.path}" if mirror else rel.url
    payload = _download(url, f"ATLAS {rel.tag}", timeout)
    digest = sha256_bytes(payload)
    if rel.sha256 and digest != rel.sha256:
        fix = ("try again or pass --atlas PATH" if rel.pinned else
               f"if upstream really changed it, delete its record in {_unpinned_file()} and fetch again with --trust-unpinned")
        where = "pinned" if rel.pinned else "recorded at its first download"
        raise DownloadError(
            f"download of ATLAS {rel.tag} has sha256 {digest[:12]}..., expected {rel.sha256[:12]}... ({where}); "
            f"nothing was saved; {fix}"
        )
    if not rel.sha256 and _release_in_file(payload) != rel.version:
        # with no hash to check, at least make sure it is the ATLAS release asked for before trusting it
        raise DownloadError(f"{url} is not the ATLAS {rel.version} release file; nothing was saved")
    target = cached_path(rel)
    atomic_write_bytes(target, payload)
    if not rel.sha256:
        try:
            _record_unpinned(rel, digest, payload)
        except BaseException:
            target.unlink(missing_ok=True)  # a file without its record would never be trusted anyway
            raise
    return _source(target, "download")


# --- the newest release upstream -------------------------------------------------------------


def fetch_latest(timeout: float = 60.0, trust_unpinned: bool = False) -> AtlasSource:
    """Download the newest release upstream, found from dist/manifest.yaml, else the pointer files."""
    base = _mirror() or OFFICIAL_BASE
    version, path = _manifest_latest(base, timeout) or _follow_pointers(base, timeout)
    try:
        rel = release_for_tag(f"v{version}")
    except UsageError:
        rel = _new_release(version, path)
    return _fetch_release(rel, timeout, trust_unpinned)


def _manifest_latest(base: str, timeout: float) -> tuple[str, str] | None:
    """(release, repository path) of the newest 6.x release in the manifest; None if unusable."""
    import yaml

    try:
        doc = yaml.safe_load(_download(f"{base}/main/dist/manifest.yaml", "the ATLAS manifest", timeout))
    except (DownloadError, yaml.YAMLError):
        return None  # the pointer files are the fallback
    return newest_in_manifest(doc)


def newest_in_manifest(manifest) -> tuple[str, str] | None:
    """The newest (release, repository path) with a 6.x format in a parsed dist/manifest.yaml.

    Documented shape: {release: {format-version: path}}, e.g. {"2026.09": {"6.0.0": "v6/ATLAS-2026.09.yaml"}}.
    Tolerated: the mapping under a "releases" key, repository-relative paths, and unquoted
    releases that YAML read as numbers (2026.10 -> 2026.1).
    """
    if isinstance(manifest, dict) and isinstance(manifest.get("releases"), dict):
        manifest = manifest["releases"]
    if not isinstance(manifest, dict):
        return None
    found = []
    for release, formats in manifest.items():
        version = f"{release:.2f}" if isinstance(release, float) else str(release)
        if not (MONTHLY.fullmatch(version) and isinstance(formats, dict)):
            continue
        for fmt, path in formats.items():
            if str(fmt).split(".")[0] == "6" and _safe_path(path):
                found.append((version, _repo_path(path)))
    return max(found) if found else None


def _safe_path(path) -> bool:
    return isinstance(path, str) and path.endswith(".yaml") and ".." not in path.split("/")


def _repo_path(path: str) -> str:
    """A path in the repository, from one relative to dist/ or to the repository."""
    path = path.removeprefix("./").lstrip("/")
    return path if path.startswith("dist/") else f"dist/{path}"


def _follow_pointers(base: str, timeout: float, hops: int = 4) -> tuple[str, str]:
    """(release, repository path) from dist/ATLAS-latest.yaml -> v6/ATLAS-latest.yaml -> ATLAS-<YYYY.MM>.yaml.

    Raw GitHub serves a symlink as the text of its target; a mirror that follows symlinks
    serves the release file itself, whose collection.version then names the release.
    """
    path = "dist/ATLAS-latest.yaml"
    for _ in range(hops):
        body = _download(f"{base}/main/{path}", "the ATLAS-latest pointer", timeout)
        target = _pointer_target(body)
        if target is None:
            version = _release_in_file(body)
            if version is None:
                raise DownloadError(f"upstream {path} is neither a pointer nor an ATLAS v6 file naming its release; "
                                    "pass --release TAG")
            return version, f"dist/v6/ATLAS-{version}.yaml"
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if not path.startswith("dist/"):
            raise DownloadError(f"upstream pointer {target!r} leads outside dist/; pass --release TAG")
        version = posixpath.basename(path)[len("ATLAS-"):-len(".yaml")]
        if MONTHLY.fullmatch(version):
            return version, path
    raise DownloadError(f"the ATLAS-latest pointers at {base} lead nowhere after {hops} hops; pass --release TAG")


def _pointer_target(body: bytes) -> str | None:
    """The file a pointer names: one short line ending in .yaml; None for a real YAML file."""
    if len(body) > 200:
        return None
    text = body.decode("utf-8", "replace").strip()
    return None if "\n" in text or ":" in text or not text.endswith(".yaml") else text


def _release_in_file(body: bytes) -> str | None:
    """The content release a v6 file names (collection.version), or None if it is not one."""
    import yaml

    try:
        version = yaml.safe_load(body)["collection"]["version"]
    except (yaml.YAMLError, TypeError, KeyError):
        return None
    # unquoted, YAML reads 2026.10 as the number 2026.1
    version = f"{version:.2f}" if isinstance(version, float) else str(version)
    return version if MONTHLY.fullmatch(version) else None


# --- releases accepted with --trust-unpinned --------------------------------------------------


def _unpinned_file() -> Path:
    return cache_dir() / "atlas" / "unpinned.json"


def _unpinned_records() -> dict:
    file = _unpinned_file()
    if not file.is_file():
        return {}
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AtlasDataError(f"cannot read {file} ({exc}); delete it and fetch again with --trust-unpinned") from None
    if not isinstance(records, dict):
        raise AtlasDataError(f"{file} is not a mapping of tags; delete it and fetch again with --trust-unpinned")
    return records


def _unpinned_releases() -> list[Release]:
    releases = []
    for tag, rec in sorted(_unpinned_records().items()):
        try:
            releases.append(Release(
                tag=tag, version=rec["version"], sha256=rec["sha256"], path=rec["path"],
                format=rec.get("format", ""), pinned=False,
                source=f"sha256 recorded at its first download ({rec.get('fetched', '?')}) with --trust-unpinned",
            ))
        except (KeyError, TypeError):
            raise AtlasDataError(
                f"record {tag!r} in {_unpinned_file()} is incomplete; delete it and fetch again with --trust-unpinned"
            ) from None
    return releases


def _record_unpinned(rel: Release, digest: str, payload: bytes) -> None:
    records = _unpinned_records()
    records[rel.tag] = {
        "sha256": digest,
        "path": rel.path,
        "version": rel.version,
        "format": _format_version(payload),
        "fetched": _dt.date.today().isoformat(),
    }
    atomic_write_text(_unpinned_file(), json.dumps(records, indent=2, sort_keys=True) + "\n")


def _format_version(payload: bytes) -> str:
    """The file's own top-level format-version, read without parsing the whole file."""
    match = re.search(rb"^format-version:\s*['\"]?([0-9][0-9.]*)", payload, re.M)
    return match.group(1).decode() if match else ""
