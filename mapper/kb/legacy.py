"""Parse a legacy ``dist/ATLAS.yaml`` (ATLAS 3.x-5.x).

3.x keeps tactics and techniques at the top level, 4.0+ under ``matrices[0]``.
A sub-technique without tactics of its own takes its parent's. Unknown fields
are ignored.
"""

from __future__ import annotations

from pathlib import Path

from mapper.errors import AtlasDataError
from mapper.kb.fields import attack_id, iso, maturity, require
from mapper.kb.model import CaseStudy, KnowledgeBase, Mitigation, Step, Tactic, Technique
from mapper.text import clean_text


def parse_legacy(doc: dict, path: Path) -> KnowledgeBase:
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
            id=str(require(t, "id", path, "tactic")),
            name=str(require(t, "name", path, "tactic")),
            description=clean_text(t.get("description")),
            attack_id=attack_id(t, "ATT&CK-reference"),
        )
        for t in matrix.get("tactics") or []
    ]
    raw_techs = matrix.get("techniques") or []
    if not raw_techs:
        raise AtlasDataError(f"{path}: no techniques found; the file is damaged or not ATLAS data")
    by_id = {str(require(t, "id", path, "technique")): t for t in raw_techs}
    techniques: dict[str, Technique] = {}
    for tid, t in by_id.items():
        parent = t.get("subtechnique-of")
        own_tactics = tuple(t.get("tactics") or ())
        if parent and not own_tactics:
            own_tactics = tuple((by_id.get(parent) or {}).get("tactics") or ())
        techniques[tid] = Technique(
            id=tid,
            name=str(require(t, "name", path, "technique")),
            description=clean_text(t.get("description")),
            tactics=own_tactics,
            parent=parent,
            maturity=maturity(t.get("maturity")),
            attack_id=attack_id(t, "ATT&CK-reference"),
        )

    mitigations = [
        Mitigation(
            id=str(require(m, "id", path, "mitigation")),
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
                technique=str(require(s, "technique", path, "procedure step")),
                description=clean_text(s.get("description")),
            )
            for s in c.get("procedure") or []
        )
        case_studies.append(
            CaseStudy(
                id=str(require(c, "id", path, "case study")),
                name=str(c.get("name", "")),
                summary=clean_text(c.get("summary")),
                steps=steps,
                type=c.get("case-study-type") or c.get("type"),
                date=iso(c.get("incident-date")),
                target=c.get("target"),
                actor=c.get("actor"),
                reporter=c.get("reporter"),
            )
        )

    return KnowledgeBase(
        name=str(doc.get("name", "ATLAS")),
        version=str(doc.get("version", "")),
        tactics=tactics,
        techniques=techniques,
        mitigations=mitigations,
        case_studies=case_studies,
        warnings=warnings,
    )
