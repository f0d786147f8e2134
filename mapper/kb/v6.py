"""Parse a v6 ``ATLAS-<YYYY.MM>.yaml`` (format-version 6.x, monthly releases from 2026.05).

Objects sit in maps keyed by ID; everything that links them is a relationship,
keyed by source ID and then by type:

- ``sequences``: matrix -> tactic, ``position`` is the column order;
- ``achieves``: technique -> tactic (sub-techniques carry their own);
- ``specializes``: sub-technique -> parent;
- ``mitigates``: mitigation -> technique, its ``description`` says how;
- ``employs``: case study -> technique, one per procedure step, with ``step-id`` and ``leads-to``.

``employs`` lists are sorted by technique ID, not by attack order, so steps are put back in
order by following ``leads-to`` (ties broken by ``step-id``).
"""

from __future__ import annotations

import heapq
from pathlib import Path

from mapper.errors import AtlasDataError
from mapper.kb.fields import attack_id, iso, maturity, require
from mapper.kb.model import CaseStudy, KnowledgeBase, Mitigation, Step, Tactic, Technique
from mapper.text import clean_text

SUPPORTED_MAJOR = "6"


def is_v6(doc: dict) -> bool:
    return "format-version" in doc


def _objects(doc: dict, key: str, path: Path) -> dict[str, dict]:
    section = doc.get(key) or {}
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise AtlasDataError(f"{path}: '{key}' is not a map of objects keyed by ID; the file is damaged")
    return {str(k): v for k, v in section.items()}


def _relations(doc: dict, source: str, kind: str) -> list[dict]:
    rows = ((doc.get("relationships") or {}).get(source) or {}).get(kind) or []
    return [r for r in rows if isinstance(r, dict)]


def _step_order(rows: list[dict]) -> list[dict]:
    """Procedure steps in attack order: a topological order of ``leads-to``, earliest step-id first."""
    by_id = {}
    for n, r in enumerate(rows):
        sid = str(r.get("step-id", f"#{n:04d}"))
        by_id[sid if sid not in by_id else f"{sid}#{n:04d}"] = r  # a repeated step-id keeps both steps
    incoming = dict.fromkeys(by_id, 0)
    for r in by_id.values():
        for nxt in r.get("leads-to") or []:
            if str(nxt) in incoming:
                incoming[str(nxt)] += 1
    ready = [sid for sid, n in incoming.items() if n == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        sid = heapq.heappop(ready)
        ordered.append(sid)
        for nxt in by_id[sid].get("leads-to") or []:
            nxt = str(nxt)
            if nxt in incoming:
                incoming[nxt] -= 1
                if incoming[nxt] == 0:
                    heapq.heappush(ready, nxt)
    # a cycle (a damaged file) leaves steps unplaced: keep them, in step-id order
    ordered += sorted(set(by_id) - set(ordered))
    return [by_id[sid] for sid in ordered]


def parse_v6(doc: dict, path: Path) -> KnowledgeBase:
    fmt = str(doc.get("format-version", ""))
    warnings: list[str] = []
    if fmt.split(".")[0] != SUPPORTED_MAJOR:
        raise AtlasDataError(
            f"{path} has format-version {fmt or '?'}, which this atlas-mapper cannot read; "
            "upgrade atlas-mapper or pass a release in format 6.x or the legacy dist/ATLAS.yaml"
        )
    if fmt != "6.0.0":
        warnings.append(f"{path}: format-version {fmt} is newer than 6.0.0; unknown fields are ignored")
    collection = doc.get("collection") or {}
    version = collection.get("version", "")
    version = f"{version:.2f}" if isinstance(version, float) else str(version)  # unquoted 2026.10 reads as 2026.1
    matrix_id = str((doc.get("matrix") or {}).get("id", ""))

    raw_tactics = _objects(doc, "tactics", path)
    columns = {
        str(r.get("target")): r.get("position", n)
        for n, r in enumerate(_relations(doc, matrix_id, "sequences"))
    }
    # matrix column order; tactics outside the matrix go last, by ID
    tactic_ids = sorted(raw_tactics, key=lambda t: (t not in columns, columns.get(t, 0), t))
    tactics = [
        Tactic(
            id=tid,
            name=str(require(raw_tactics[tid], "name", path, "tactic")),
            description=clean_text(raw_tactics[tid].get("description")),
            attack_id=attack_id(raw_tactics[tid], "attack-reference"),
        )
        for tid in tactic_ids
    ]
    column = {t.id: n for n, t in enumerate(tactics)}

    raw_techs = _objects(doc, "techniques", path)
    if not raw_techs:
        raise AtlasDataError(f"{path}: no techniques found; the file is damaged or not ATLAS data")
    techniques = {}
    for tid, t in raw_techs.items():
        achieved = [str(r.get("target")) for r in _relations(doc, tid, "achieves")]
        parents = [str(r.get("target")) for r in _relations(doc, tid, "specializes")]
        techniques[tid] = Technique(
            id=tid,
            name=str(require(t, "name", path, "technique")),
            description=clean_text(t.get("description")),
            tactics=tuple(sorted(dict.fromkeys(achieved), key=lambda x: (column.get(x, len(column)), x))),
            parent=parents[0] if parents else None,
            maturity=maturity(t.get("maturity")),
            attack_id=attack_id(t, "attack-reference"),
            platforms=tuple(str(p) for p in t.get("platforms") or ()),
            uuid=str(t["uuid"]) if t.get("uuid") else None,
            created=str(t["created-date"]) if t.get("created-date") else None,
            modified=str(t["modified-date"]) if t.get("modified-date") else None,
        )
        if len(parents) > 1:
            warnings.append(f"{tid} specializes {len(parents)} techniques; the first, {parents[0]}, is used")

    mitigations = [
        Mitigation(
            id=mid,
            name=str(m.get("name", "")),
            description=clean_text(m.get("description")),
            techniques=tuple(
                (str(require(r, "target", path, "mitigates relationship")), clean_text(r.get("description")))
                for r in _relations(doc, mid, "mitigates")
            ),
        )
        for mid, m in _objects(doc, "mitigations", path).items()
    ]

    case_studies = []
    for cid, c in _objects(doc, "case-studies", path).items():
        steps = tuple(
            Step(
                tactic=str(r.get("tactic", "")),
                technique=str(require(r, "target", path, "employs relationship")),
                description=clean_text(r.get("description")),
            )
            for r in _step_order(_relations(doc, cid, "employs"))
        )
        case_studies.append(
            CaseStudy(
                id=cid,
                name=str(c.get("name", "")),
                summary=clean_text(c.get("description")),
                steps=steps,
                type=c.get("type"),
                date=iso(c.get("date")),
                target=c.get("target"),
                actor=c.get("actor"),
                reporter=c.get("reporter"),
            )
        )

    return KnowledgeBase(
        name=str(collection.get("name", "ATLAS")),
        version=version,
        tactics=tactics,
        techniques=techniques,
        mitigations=mitigations,
        case_studies=case_studies,
        warnings=warnings,
        format_version=fmt,
    )
