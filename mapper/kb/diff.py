"""What changed between two ATLAS releases, for users upgrading (works across file formats)."""

from __future__ import annotations

from mapper.kb.crosswalk import Crosswalk
from mapper.kb.model import KnowledgeBase


def diff_kb(old: KnowledgeBase, new: KnowledgeBase) -> dict:
    old_ids, new_ids = set(old.techniques), set(new.techniques)
    old_tactics, new_tactics = old.tactic_by_id, new.tactic_by_id
    walk = Crosswalk.between(old, new)

    def tactic_names(kb_tactics, ids):
        return [kb_tactics[t].name if t in kb_tactics else t for t in ids]

    renamed, moved, edited, platforms, maturity = [], [], [], [], []
    for tid in sorted(old_ids & new_ids):
        a, b = old.techniques[tid], new.techniques[tid]
        if a.name != b.name:
            renamed.append({"id": tid, "old": a.name, "new": b.name})
        if set(a.tactics) != set(b.tactics):
            moved.append({
                "id": tid,
                "name": b.name,
                "old": tactic_names(old_tactics, a.tactics),
                "new": tactic_names(new_tactics, b.tactics),
            })
        if a.description != b.description:
            edited.append(tid)
        if a.maturity and b.maturity and a.maturity != b.maturity:
            maturity.append({"id": tid, "old": a.maturity, "new": b.maturity})
        if set(a.platforms) != set(b.platforms):
            platforms.append({"id": tid, "added": sorted(set(b.platforms) - set(a.platforms)),
                              "removed": sorted(set(a.platforms) - set(b.platforms))})
    old_studies, new_studies = {c.id: c for c in old.case_studies}, {c.id: c for c in new.case_studies}
    return {
        "old": old.atlas_info(),
        "new": new.atlas_info(),
        "added": [{"id": t, "name": new.techniques[t].name} for t in sorted(new_ids - old_ids)],
        "removed": [
            {"id": t, "name": old.techniques[t].name, "replaced_by": walk.translate(t)}
            for t in sorted(old_ids - new_ids)
        ],
        "merged": walk.merges(),
        "renamed": renamed,
        "moved": moved,
        "descriptions_edited": edited,
        "platforms_changed": platforms,
        "maturity_changed": maturity,
        "tactics_added": [{"id": t, "name": new_tactics[t].name} for t in new_tactics if t not in old_tactics],
        "tactics_removed": [{"id": t, "name": old_tactics[t].name} for t in old_tactics if t not in new_tactics],
        "tactics_renamed": [
            {"id": t, "old": old_tactics[t].name, "new": new_tactics[t].name}
            for t in new_tactics if t in old_tactics and old_tactics[t].name != new_tactics[t].name
        ],
        "case_studies_added": [{"id": c, "name": new_studies[c].name} for c in new_studies if c not in old_studies],
        "case_studies_removed": [{"id": c, "name": old_studies[c].name} for c in old_studies if c not in new_studies],
        "crosswalk": walk.to_dict()["links"],
    }
