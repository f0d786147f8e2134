"""How technique IDs of one ATLAS release correspond to another's, derived from the data.

ATLAS has no deprecation flag: a retired ID simply disappears. Three kinds of evidence
link a retired ID to the ones that carry its content, strongest first:

- ``recorded``: a link in ``data/id_changes.json`` with its source (for what the files cannot show);
- ``case studies``: a case study present in both releases whose step, at the same place,
  was relabelled from the retired ID to another;
- ``same name``: an ID new in the other release with the retired one's name.

The crosswalk is symmetric in use: built from a newer to an older release it reads newer
labels as the older release names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mapper.kb.links import predecessors, recorded_links, successors
from mapper.kb.model import KnowledgeBase


def _normal(name: str) -> str:
    return " ".join(name.lower().split())


@dataclass
class Crosswalk:
    """``links``: each ID of ``old`` that ``new`` lacks -> the IDs of ``new`` that carry it, with evidence."""

    old: KnowledgeBase
    new: KnowledgeBase
    links: dict[str, list[dict]] = field(default_factory=dict)

    @classmethod
    def between(cls, old: KnowledgeBase, new: KnowledgeBase) -> "Crosswalk":
        walk = cls(old, new)
        gone = sorted(set(old.techniques) - set(new.techniques))
        relabelled = walk._relabelled(set(gone))
        fresh_by_name: dict[str, list[str]] = {}
        for target in sorted(set(new.techniques) - set(old.techniques)):
            fresh_by_name.setdefault(_normal(new.techniques[target].name), []).append(target)
        for tid in gone:
            found: dict[str, dict] = {}
            for target in (*successors(tid), *predecessors(tid)):
                if target in new.techniques:
                    source = next((l.source for l in recorded_links() if {l.old, l.new} == {tid, target}), "")
                    found.setdefault(target, {"id": target, "evidence": ["recorded"], "source": source})
                    break
            for target, studies in relabelled.get(tid, {}).items():
                row = found.setdefault(target, {"id": target, "evidence": []})
                row["evidence"].append("case studies")
                row["case_studies"] = studies
            for target in fresh_by_name.get(_normal(old.techniques[tid].name), []):
                found.setdefault(target, {"id": target, "evidence": []})["evidence"].append("same name")
            if found:
                walk.links[tid] = list(found.values())
        return walk

    def _relabelled(self, gone: set[str]) -> dict[str, dict[str, list[str]]]:
        """For each ID of ``gone``: the IDs that replaced it at the same step of a case study both
        releases hold, with those studies (one pass over the case studies for every ID)."""
        newer = {c.id: c for c in self.new.case_studies}
        out: dict[str, dict[str, list[str]]] = {}
        for study in self.old.case_studies:
            other = newer.get(study.id)
            if other is None or len(other.steps) != len(study.steps):
                continue  # steps added or removed: positions no longer line up
            for before, after in zip(study.steps, other.steps):
                if before.technique in gone and after.technique in self.new.techniques:
                    studies = out.setdefault(before.technique, {}).setdefault(after.technique, [])
                    if study.id not in studies:
                        studies.append(study.id)
        return out

    def translate(self, tid: str) -> list[str]:
        """An ID of ``old`` as ``new`` names it: itself if it survives, else its linked IDs ([] if none)."""
        if tid in self.new.techniques:
            return [tid]
        return [row["id"] for row in self.links.get(tid, [])]

    def merges(self) -> list[dict]:
        """New IDs that took over two or more retired ones, and sub-techniques of one new parent
        that did (AML.T0019, T0058, T0104 -> AML.T0115.000-.002)."""
        into: dict[str, list[str]] = {}
        for tid, rows in self.links.items():
            for row in rows:
                target = self.new.techniques[row["id"]]
                key = target.parent if target.parent and target.parent not in self.old.techniques else target.id
                into.setdefault(key, []).append(tid)
        return [
            {"into": key, "name": self.new.techniques[key].name, "from": sorted(set(ids)),
             "as": sorted({r["id"] for t in ids for r in self.links[t]})}
            for key, ids in sorted(into.items()) if len(set(ids)) > 1
        ]

    def to_dict(self) -> dict:
        return {
            "old": self.old.atlas_info(),
            "new": self.new.atlas_info(),
            "links": {
                tid: [{"name": self.new.techniques[r["id"]].name, **r} for r in rows]
                for tid, rows in self.links.items()
            },
            "merges": self.merges(),
        }
