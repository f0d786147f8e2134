"""The ATLAS knowledge base: tactics, techniques, mitigations and case studies.

Parses any official ``ATLAS.yaml`` from v3.0.0 on: 3.x keeps tactics and
techniques at the top level, 4.0+ under ``matrices[0]``. Unknown fields are
ignored; a newer-than-known release loads with a warning.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from mapper.data import AtlasSource, known_releases, locate
from mapper.errors import AtlasDataError, ModelError
from mapper.files import cache_dir
from mapper.store import artifact_key, load_artifact, save_artifact
from mapper.kb.clean import clean_text

# IDs that ATLAS retired in favour of another; used to read older labels.
REPLACED_IDS = {"AML.T0045": "AML.T0048.004"}


def _iso(value: object) -> str | None:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return str(value) if value not in (None, "") else None


def tactic_shortname(name: str) -> str:
    """Navigator's tactic key: 'AI Model Access' -> 'ai-model-access'."""
    return "-".join(name.lower().replace("&", "and").split())


@dataclass(frozen=True)
class Tactic:
    id: str
    name: str
    description: str = ""
    attack_id: str | None = None


@dataclass(frozen=True)
class Technique:
    id: str
    name: str
    description: str = ""
    tactics: tuple[str, ...] = ()
    parent: str | None = None
    maturity: str | None = None
    attack_id: str | None = None

    @property
    def is_subtechnique(self) -> bool:
        return self.parent is not None


@dataclass(frozen=True)
class Mitigation:
    id: str
    name: str
    description: str = ""
    techniques: tuple[tuple[str, str], ...] = ()  # (technique id, how it applies)


@dataclass(frozen=True)
class Step:
    tactic: str
    technique: str
    description: str


@dataclass(frozen=True)
class CaseStudy:
    id: str
    name: str
    summary: str
    steps: tuple[Step, ...]
    type: str | None = None
    date: str | None = None
    target: str | None = None
    actor: str | None = None

    @property
    def techniques(self) -> list[str]:
        seen: dict[str, None] = {}
        for step in self.steps:
            seen.setdefault(step.technique, None)
        return list(seen)

    def narrative(self) -> str:
        """Summary followed by the step descriptions: the closest thing to a real write-up."""
        return "\n\n".join([self.summary, *(s.description for s in self.steps)])


@dataclass
class KnowledgeBase:
    name: str
    version: str
    tactics: list[Tactic]
    techniques: dict[str, Technique]
    mitigations: list[Mitigation] = field(default_factory=list)
    case_studies: list[CaseStudy] = field(default_factory=list)
    source: AtlasSource | None = None
    warnings: list[str] = field(default_factory=list)

    # -- lookups -----------------------------------------------------------
    @cached_property
    def tactic_by_id(self) -> dict[str, Tactic]:
        return {t.id: t for t in self.tactics}

    def children(self, technique_id: str) -> list[Technique]:
        return [t for t in self.techniques.values() if t.parent == technique_id]

    def resolve_id(self, technique_id: str) -> str | None:
        """A label as the loaded release knows it, following retired IDs; None if unknown."""
        tid = technique_id.strip()
        if tid in self.techniques:
            return tid
        replaced = REPLACED_IDS.get(tid)
        return replaced if replaced in self.techniques else None

    def mitigations_for(self, technique_id: str) -> list[tuple[Mitigation, str]]:
        return [(m, use) for m in self.mitigations for tid, use in m.techniques if tid == technique_id]

    @property
    def release_tag(self) -> str | None:
        rel = self.source.release if self.source else None
        return rel.tag if rel else None

    def describe(self) -> dict:
        info = {"name": self.name, "version": self.version}
        if self.source:
            info.update(self.source.describe())
            info["version"] = self.version
        info["counts"] = {
            "tactics": len(self.tactics),
            "techniques": sum(not t.is_subtechnique for t in self.techniques.values()),
            "subtechniques": sum(t.is_subtechnique for t in self.techniques.values()),
            "mitigations": len(self.mitigations),
            "case_studies": len(self.case_studies),
            "procedure_steps": sum(len(c.steps) for c in self.case_studies),
        }
        return info

    def atlas_info(self) -> dict:
        """The short form carried in every mapping result."""
        rel = self.source.release if self.source else None
        return {
            "release": rel.tag if rel else None,
            "version": self.version,
            "sha256": self.source.sha256 if self.source else None,
        }


# -- parsing ----------------------------------------------------------------
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
            f"{path} is YAML but not an ATLAS data file (no 'matrices' or 'techniques'); "
            "pass the dist/ATLAS.yaml of an ATLAS release"
        )
    return doc


def _require(obj: object, key: str, path: Path, what: str):
    if not isinstance(obj, dict) or key not in obj:
        raise AtlasDataError(f"{path}: a {what} lacks '{key}'; the file is damaged or not ATLAS data")
    return obj[key]


def parse(doc: dict, path: Path, source: AtlasSource | None = None) -> KnowledgeBase:
    warnings: list[str] = []
    matrix = doc
    if "matrices" in doc:
        matrices = doc["matrices"]
        if not isinstance(matrices, list) or not matrices or not isinstance(matrices[0], dict):
            raise AtlasDataError(f"{path}: 'matrices' is empty or malformed; the file is damaged")
        matrix = matrices[0]
        if len(matrices) > 1:
            warnings.append(f"{path}: {len(matrices)} matrices found; only the first is used")

    tactics = [
        Tactic(
            id=str(_require(t, "id", path, "tactic")),
            name=str(_require(t, "name", path, "tactic")),
            description=clean_text(t.get("description")),
            attack_id=(t.get("ATT&CK-reference") or {}).get("id"),
        )
        for t in matrix.get("tactics") or []
    ]
    raw_techs = matrix.get("techniques") or []
    if not raw_techs:
        raise AtlasDataError(f"{path}: no techniques found; the file is damaged or not ATLAS data")
    by_id = {str(_require(t, "id", path, "technique")): t for t in raw_techs}
    techniques: dict[str, Technique] = {}
    for tid, t in by_id.items():
        parent = t.get("subtechnique-of")
        own_tactics = tuple(t.get("tactics") or ())
        if parent and not own_tactics:
            own_tactics = tuple((by_id.get(parent) or {}).get("tactics") or ())
        techniques[tid] = Technique(
            id=tid,
            name=str(_require(t, "name", path, "technique")),
            description=clean_text(t.get("description")),
            tactics=own_tactics,
            parent=parent,
            maturity=t.get("maturity"),
            attack_id=(t.get("ATT&CK-reference") or {}).get("id"),
        )
    known_tactics = {t.id for t in tactics}
    for tech in techniques.values():
        unknown = [x for x in tech.tactics if x not in known_tactics]
        if unknown:
            warnings.append(f"{tech.id} names unknown tactics {unknown}")

    mitigations = [
        Mitigation(
            id=str(_require(m, "id", path, "mitigation")),
            name=str(m.get("name", "")),
            description=clean_text(m.get("description")),
            techniques=tuple(
                (str(x["id"]), clean_text(x.get("use"))) if isinstance(x, dict) else (str(x), "")
                for x in m.get("techniques") or []
            ),
        )
        for m in matrix.get("mitigations") or []
    ]

    case_studies = []
    for c in doc.get("case-studies") or []:
        steps = tuple(
            Step(
                tactic=str(s.get("tactic", "")),
                technique=str(_require(s, "technique", path, "procedure step")),
                description=clean_text(s.get("description")),
            )
            for s in c.get("procedure") or []
        )
        case_studies.append(
            CaseStudy(
                id=str(_require(c, "id", path, "case study")),
                name=str(c.get("name", "")),
                summary=clean_text(c.get("summary")),
                steps=steps,
                type=c.get("case-study-type") or c.get("type"),
                date=_iso(c.get("incident-date")),
                target=c.get("target"),
                actor=c.get("actor"),
            )
        )

    version = str(doc.get("version", ""))
    if source is not None and source.release is None:
        newest = known_releases()[-1]
        warnings.append(
            f"{path} is not a known ATLAS release (version {version or '?'}; newest known {newest.tag}); "
            "loading it on a best-effort basis"
        )
    return KnowledgeBase(
        name=str(doc.get("name", "ATLAS")),
        version=version,
        tactics=tactics,
        techniques=techniques,
        mitigations=mitigations,
        case_studies=case_studies,
        source=source,
        warnings=warnings,
    )


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
    """Locate ATLAS data (see :func:`mapper.data.locate`) and parse it."""
    source = locate(path, release=release, download=download)
    return parse(_read_doc(source.path, source.sha256), source.path, source)
