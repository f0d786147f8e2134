"""Reading an ATLAS release file, in either format, into a :class:`KnowledgeBase`."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import yaml

from mapper.errors import AtlasDataError, ModelError
from mapper.files import cache_dir
from mapper.kb.legacy import parse_legacy
from mapper.kb.model import KnowledgeBase
from mapper.kb.releases import AtlasSource, known_releases, locate
from mapper.kb.v6 import is_v6, parse_v6
from mapper.store import artifact_key, load_artifact, save_artifact


def _read_yaml(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AtlasDataError(f"cannot read ATLAS file {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise AtlasDataError(
            f"{path} is not valid YAML{where}; it may be truncated: pass an official ATLAS.yaml "
            "or run 'atlas-mapper data fetch'"
        ) from None
    if not isinstance(doc, dict) or not ("matrices" in doc or "techniques" in doc):
        raise AtlasDataError(
            f"{path} is YAML but not an ATLAS data file (no 'techniques' or 'matrices'); "
            "pass an ATLAS release file (dist/v6/ATLAS-<YYYY.MM>.yaml or the legacy dist/ATLAS.yaml)"
        )
    return doc


def parse(doc: dict, path: Path, source: AtlasSource | None = None) -> KnowledgeBase:
    """A parsed release file as a knowledge base; ``source`` says where it came from."""
    kb = parse_v6(doc, path) if is_v6(doc) else parse_legacy(doc, path)
    known_tactics = set(kb.tactic_by_id)
    for tech in kb.techniques.values():
        unknown = [x for x in tech.tactics if x not in known_tactics]
        if unknown:
            kb.warnings.append(f"{tech.id} names unknown tactics {unknown}")
    if source is not None and source.release is None:
        newest = known_releases()[-1]
        kb.warnings.append(
            f"{path} is not a known ATLAS release (version {kb.version or '?'}; newest known {newest.tag}); "
            "loading it on a best-effort basis"
        )
    kb.source = source
    return kb


def _plain(value):
    """YAML dates as ISO strings, so a parsed file round-trips through JSON unchanged."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def _read_doc(path: Path, sha256: str) -> dict:
    """The parsed YAML, through a JSON copy cached by the file's sha256.

    Parsing ATLAS.yaml with the pure-Python safe loader takes about half a second, more than
    mapping a write-up; the copy is verified by its manifest and rebuilt if anything is off.
    """
    folder = cache_dir() / "kb" / sha256[:16]
    if artifact_key(folder) == sha256:
        try:
            return load_artifact(folder)[1]["doc"]
        except (ModelError, KeyError):
            pass  # rebuilt below
    doc = _plain(_read_yaml(path))
    try:
        save_artifact(folder, {}, {"key": sha256, "doc": doc})
    except Exception:  # an unwritable cache only costs the parse next time
        pass
    return doc


def load_kb(path: str | Path | None = None, release: str | None = None, download: bool = True) -> KnowledgeBase:
    """Locate ATLAS data (see :func:`mapper.kb.releases.locate`) and parse it, whichever its format."""
    source = locate(path, release=release, download=download)
    return parse(_read_doc(source.path, source.sha256), source.path, source)
