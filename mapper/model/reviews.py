"""An analyst's review of a mapping: decisions per technique, the reviewed result, and what it teaches.

A review is a list of :class:`Review` decisions (``accept`` or ``reject`` a suggestion, ``add`` a
technique the model missed), each with optional evidence spans of the report's text and a note.
The latest decision on a technique wins. :func:`reviewed_techniques` gives what the analyst keeps
(accepted and added, never rejected), which every export renders; :func:`review_writeup` turns a
finished review into a labelled write-up the ranker can learn from (:mod:`mapper.model.writeups`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mapper.errors import InputError
from mapper.kb import KnowledgeBase
from mapper.model.writeups import WriteUp
from mapper.result import Evidence, TacticRef

DECISIONS = ("accept", "reject", "add")
MAX_NOTE_CHARS = 4000
MAX_EVIDENCE_SPANS = 20


@dataclass(frozen=True)
class Review:
    technique: str
    decision: str
    evidence: tuple[tuple[int, int], ...] = ()  # character spans of the report's text
    note: str = ""
    reviewer: str | None = None
    at: str | None = None  # ISO 8601, set when stored

    def to_dict(self) -> dict:
        return {"technique": self.technique, "decision": self.decision,
                "evidence": [{"start": s, "end": e} for s, e in self.evidence],
                "note": self.note, "reviewer": self.reviewer, "at": self.at}


def check_review(review: Review, kb: KnowledgeBase, text: str) -> Review:
    """The review with its technique as this release names it; InputError naming what is wrong."""
    if review.decision not in DECISIONS:
        raise InputError(f"decision must be one of {', '.join(DECISIONS)}, not {review.decision!r}")
    tid = kb.resolve_id(str(review.technique).strip().upper())
    if tid is None:
        raise InputError(f"{review.technique!r} is not a technique of ATLAS {kb.release_tag or kb.version}; "
                         "look it up with /api/techniques?q=")
    if len(review.evidence) > MAX_EVIDENCE_SPANS:
        raise InputError(f"at most {MAX_EVIDENCE_SPANS} evidence spans per decision")
    for start, end in review.evidence:
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise InputError(f"evidence span {start}-{end} is not inside the text (0-{len(text)}); "
                             "give character offsets with start < end")
    if len(review.note) > MAX_NOTE_CHARS:
        raise InputError(f"note has {len(review.note):,} characters; the limit is {MAX_NOTE_CHARS:,}")
    return Review(tid, review.decision, tuple(review.evidence), review.note, review.reviewer, review.at)


def latest_decisions(reviews: list[Review]) -> dict[str, Review]:
    """Technique -> its last decision, in the order techniques were first reviewed."""
    latest: dict[str, Review] = {}
    for review in reviews:
        latest[review.technique] = review
    return latest


@dataclass
class ReviewedTechnique:
    """A technique the analyst keeps: accepted from the suggestions, or added."""

    id: str
    name: str
    tactics: list[TacticRef]
    decision: str  # accept / add
    score: float | None = None  # the model's, when it suggested the technique
    band: str | None = None
    evidence: list[Evidence] = field(default_factory=list)  # the analyst's spans first, else the model's
    notes: list[str] = field(default_factory=list)
    parent: str | None = None


def _span_evidence(text: str, spans) -> list[Evidence]:
    return [Evidence(text[s:e], s, e, 1.0) for s, e in spans]


def reviewed_techniques(result: dict, reviews: list[Review], kb: KnowledgeBase, text: str) -> list[ReviewedTechnique]:
    """What the analyst keeps, in suggestion order, then added ones in review order.

    ``result`` is a stored mapping (the JSON contract of :meth:`MappingResult.to_dict`).
    Evidence attached in any decision on a technique counts; notes are all kept.
    """
    suggested = {hit["id"]: hit for hit in result.get("techniques", [])}
    latest = latest_decisions(reviews)
    spans: dict[str, list] = {}
    notes: dict[str, list[str]] = {}
    for review in reviews:
        spans.setdefault(review.technique, []).extend(s for s in review.evidence if s not in spans[review.technique])
        if review.note:
            notes.setdefault(review.technique, []).append(review.note)
    kept = [t for t in suggested if t in latest and latest[t].decision != "reject"]
    kept += [t for t, r in latest.items() if t not in suggested and r.decision != "reject"]
    out = []
    for tid in kept:
        tech = kb.techniques.get(tid)
        if tech is None:  # reviewed under another release: keep what the stored result says, or just the ID
            hit = suggested.get(tid, {"name": tid})
            tactics = [TacticRef(t["id"], t["name"]) for t in hit.get("tactics", [])]
            name, parent = hit["name"], hit.get("parent")
        else:
            tactics = [TacticRef(t, kb.tactic_by_id[t].name) for t in tech.tactics if t in kb.tactic_by_id]
            name, parent = kb.full_name(tid), tech.parent
        hit = suggested.get(tid)
        evidence = _span_evidence(text, spans.get(tid, []))
        if not evidence and hit:
            evidence = [Evidence(e["text"], e["start"], e["end"], e["score"]) for e in hit.get("evidence", [])]
        out.append(ReviewedTechnique(tid, name, tactics, "accept" if hit else "add",
                                     hit["score"] if hit else None, hit.get("band") if hit else None,
                                     evidence, notes.get(tid, []), parent))
    return out


def review_writeup(report_id: str, text: str, kept: list[ReviewedTechnique], rejected: list[str]) -> WriteUp:
    """A finished review as training data: kept techniques are the labels and their evidence
    sentences the rationale lines; rejected suggestions are explicit negatives. A review that
    keeps nothing says the write-up is not about an attack on AI (a non-AI example)."""
    rationale = {}
    for item in kept:
        lines = [" ".join(e.text.split()) for e in item.evidence if e.text.strip()]
        if lines:
            rationale[item.id] = " ".join(lines)
    labels = tuple(item.id for item in kept)
    return WriteUp(f"review:{report_id}", text, labels, rationale, tuple(rejected) if labels else ())

