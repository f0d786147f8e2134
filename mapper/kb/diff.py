"""What changed between two ATLAS releases, for users upgrading."""

from __future__ import annotations

from mapper.kb.model import REPLACED_IDS, KnowledgeBase


def diff_kb(old: KnowledgeBase, new: KnowledgeBase) -> dict:
    old_ids, new_ids = set(old.techniques), set(new.techniques)
    old_tactics, new_tactics = old.tactic_by_id, new.tactic_by_id

    def tactic_names(kb_tactics, ids):
        return [kb_tactics[t].name if t in kb_tactics else t for t in ids]

    renamed, moved = [], []
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
    removed = sorted(old_ids - new_ids)
    return {
        "old": old.atlas_info(),
        "new": new.atlas_info(),
        "added": [{"id": t, "name": new.techniques[t].name} for t in sorted(new_ids - old_ids)],
        "removed": [
            {"id": t, "name": old.techniques[t].name, "replaced_by": REPLACED_IDS.get(t)} for t in removed
        ],
        "renamed": renamed,
        "moved": moved,
        "tactics_added": [{"id": t, "name": new_tactics[t].name} for t in new_tactics if t not in old_tactics],
        "tactics_removed": [{"id": t, "name": old_tactics[t].name} for t in old_tactics if t not in new_tactics],
    }
