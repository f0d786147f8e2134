"""What a mapping returns: plain result types, free of the pipeline that fills them.

Outputs and the web edge render these without importing the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Evidence:
    text: str
    start: int
    end: int
    score: float


@dataclass
class TacticRef:
    id: str
    name: str


@dataclass
class TechniqueHit:
    id: str
    name: str
    tactics: list[TacticRef]
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    parent: str | None = None
    band: str | None = None  # high / medium (at or above the threshold) / low (a suggestion below it)


def technique_hit(kb, technique_id: str, score: float, evidence: list[Evidence], band: str | None = None) -> TechniqueHit:
    """A hit for a technique of ``kb`` (a KnowledgeBase), named ("Parent: Sub") and placed under tactics as its
    release does."""
    tech = kb.techniques[technique_id]
    tactics = [TacticRef(t, kb.tactic_by_id[t].name) for t in tech.tactics if t in kb.tactic_by_id]
    return TechniqueHit(tech.id, kb.full_name(tech.id), tactics, score, evidence, tech.parent, band)


def hit_dict(hit: TechniqueHit) -> dict:
    """A hit as JSON-ready data, field by field: ``dataclasses.asdict`` deep-copies every value on the way,
    a measurable share of a short write-up's mapping time."""
    row = {"id": hit.id, "name": hit.name, "tactics": [{"id": t.id, "name": t.name} for t in hit.tactics],
           "score": hit.score,
           "evidence": [{"text": e.text, "start": e.start, "end": e.end, "score": e.score} for e in hit.evidence]}
    if hit.parent is not None:
        row["parent"] = hit.parent
    if hit.band is not None:
        row["band"] = hit.band
    return row


@dataclass
class MappingResult:
    atlas: dict
    model: dict
    techniques: list[TechniqueHit]
    threshold: float
    top_k: int
    platform: str | None = None  # suggestions restricted to techniques of this platform
    reason: str | None = None  # why nothing was recognised (None when something was)
    near_misses: list[TechniqueHit] = field(default_factory=list)  # the best techniques below the cut, when none passed
    translated_from: dict | None = None  # set when rendered in another release's IDs (see mapper.kb.relabel)
    ai_related: dict | None = None  # {"decision": bool, "score": float, "why": str} (see mapper.model.relevance)

    @property
    def recognised(self) -> bool:
        """At least one technique at or above the threshold (low-band suggestions alone do not count)."""
        return any(h.band != "low" if h.band else h.score >= self.threshold for h in self.techniques)

    def to_dict(self) -> dict:
        out = {
            "atlas": self.atlas,
            "model": self.model,
            "threshold": self.threshold,
            "top_k": self.top_k,
            "techniques": [hit_dict(hit) for hit in self.techniques],
            "recognised": self.recognised,
        }
        if self.ai_related is not None:
            out["ai_related"] = self.ai_related
        if not self.recognised:
            out["reason"] = self.reason
            out["near_misses"] = [{"id": h.id, "name": h.name, "score": h.score} for h in self.near_misses]
        if self.platform:
            out["platform"] = self.platform
        if self.translated_from:
            out["translated_from"] = self.translated_from
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
