"""The ATLAS knowledge base: tactics, techniques, mitigations and case studies.

One shape for every release, whichever file format it came in (``legacy`` for
the 3.x-5.x ``dist/ATLAS.yaml``, ``v6`` for the monthly ``ATLAS-<YYYY.MM>.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from mapper.errors import UsageError
from mapper.kb.links import predecessors, successors
from mapper.kb.releases import AtlasSource


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
    platforms: tuple[str, ...] = ()  # v6 only: Predictive AI, Generative AI, Agentic AI, Enterprise
    uuid: str | None = None  # v6 only: ATLAS's object uuid, the same as its id in ATLAS's STIX bundle
    created: str | None = None  # v6 only: ATLAS's created-date and modified-date (YYYY-MM-DD)
    modified: str | None = None

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
    reporter: str | None = None

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
    version: str  # the content release: '5.6.0' for a legacy file, '2026.05' for a v6 one
    tactics: list[Tactic]
    techniques: dict[str, Technique]
    mitigations: list[Mitigation] = field(default_factory=list)
    case_studies: list[CaseStudy] = field(default_factory=list)
    source: AtlasSource | None = None
    warnings: list[str] = field(default_factory=list)
    format_version: str = "legacy"  # the file format: 'legacy' (3.x-5.x dist/ATLAS.yaml) or '6.0.0'

    # -- lookups -----------------------------------------------------------
    @cached_property
    def tactic_by_id(self) -> dict[str, Tactic]:
        return {t.id: t for t in self.tactics}

    def full_name(self, technique_id: str, default: str | None = None) -> str:
        """How an analyst reads a technique: "LLM Prompt Injection: Direct" for a sub-technique, as ATLAS's site names
        it. ``default``: the name to give an ID this release lacks (one kept from another release's result)."""
        if default is not None and technique_id not in self.techniques:
            return default
        tech = self.techniques[technique_id]
        parent = self.techniques.get(tech.parent) if tech.parent else None
        return f"{parent.name}: {tech.name}" if parent else tech.name

    def children(self, technique_id: str) -> list[Technique]:
        return [t for t in self.techniques.values() if t.parent == technique_id]

    @cached_property
    def platforms(self) -> list[str]:
        return sorted({p for t in self.techniques.values() for p in t.platforms})

    def platform_name(self, platform: str) -> str:
        """A platform as this release spells it (case-insensitive), or a usage error naming the choices."""
        for name in self.platforms:
            if name.lower() == " ".join(platform.split()).lower():
                return name
        if not self.platforms:
            raise UsageError(f"ATLAS {self.release_tag or self.version} lists no platforms (they are new in the "
                             "v6 format); load a release from 2026.05 on, e.g. --release v2026.05")
        raise UsageError(f"unknown platform {platform!r}; ATLAS {self.release_tag or self.version} has: "
                         f"{', '.join(self.platforms)}")

    def on_platform(self, platform: str) -> list[str]:
        """IDs of the techniques ATLAS lists for ``platform`` (any spelling :meth:`platform_name` accepts)."""
        name = self.platform_name(platform)
        return [tid for tid, tech in self.techniques.items() if name in tech.platforms]

    def ai_specific(self, technique_id: str) -> bool:
        """One of ATLAS's own techniques: no ATT&CK reference on the technique or its parent."""
        tech = self.techniques.get(technique_id)
        if tech is None or tech.attack_id:
            return False
        parent = self.techniques.get(tech.parent) if tech.parent else None
        return parent is None or not parent.attack_id

    def resolve_id(self, technique_id: str) -> str | None:
        """A label as this release names it, or None if it cannot.

        A retired ID is followed to its replacement, and a newer ID back to the one this
        older release used (see :mod:`mapper.kb.links`); the first link that lands in this
        release wins.
        """
        tid = technique_id.strip()
        if tid in self.techniques:
            return tid
        for linked in (*successors(tid), *predecessors(tid)):
            if linked in self.techniques:
                return linked
        return None

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
        info["format_version"] = self.format_version
        info["counts"] = {
            "tactics": len(self.tactics),
            "techniques": sum(not t.is_subtechnique for t in self.techniques.values()),
            "subtechniques": sum(t.is_subtechnique for t in self.techniques.values()),
            "mitigations": len(self.mitigations),
            "case_studies": len(self.case_studies),
            "procedure_steps": sum(len(c.steps) for c in self.case_studies),
        }
        if self.platforms:
            info["platforms"] = {p: sum(p in t.platforms for t in self.techniques.values()) for p in self.platforms}
        return info

    def atlas_info(self) -> dict:
        """The short form carried in every mapping result."""
        rel = self.source.release if self.source else None
        return {
            "release": rel.tag if rel else None,
            "version": self.version,
            "format_version": self.format_version,
            "sha256": self.source.sha256 if self.source else None,
        }
