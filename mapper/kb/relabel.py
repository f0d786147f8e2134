"""A mapping result told in another ATLAS release's IDs.

A model trained on the case studies of one release can still serve a team that tags with a
newer (or older) one: each technique is carried over through the crosswalk between the two
releases, and named, placed under tactics and parented as the other release does.
"""

from __future__ import annotations

from dataclasses import replace

from mapper.kb.crosswalk import Crosswalk
from mapper.result import MappingResult, TechniqueHit, technique_hit


def in_release(result: MappingResult, walk: Crosswalk) -> MappingResult:
    """``result`` (in ``walk.old``'s IDs) as ``walk.new`` names it.

    Techniques the other release cannot name are dropped and listed; two that became one keep
    the higher score and both sets of evidence.
    """
    target = walk.new
    merged: dict[str, TechniqueHit] = {}
    renamed, unmatched = {}, []
    for hit in result.techniques:
        ids = walk.translate(hit.id)
        if not ids:
            unmatched.append(hit.id)
        for tid in ids:
            if tid != hit.id:
                renamed[hit.id] = tid
            moved = _moved(hit, tid, target)
            kept = merged.get(tid)
            if kept is None or moved.score > kept.score:
                if kept is not None:
                    moved.evidence += kept.evidence
                merged[tid] = moved
            else:
                kept.evidence += moved.evidence
    hits = sorted(merged.values(), key=lambda h: (-h.score, h.id))
    misses = [_moved(miss, tid, target) for miss in result.near_misses for tid in walk.translate(miss.id)[:1]]
    origin = {"atlas": result.atlas, "renamed": renamed, "not_in_release": unmatched}
    return replace(result, atlas=target.atlas_info(), techniques=hits, near_misses=misses, translated_from=origin)


def _moved(hit: TechniqueHit, tid: str, target) -> TechniqueHit:
    """``hit`` under ``tid`` of the target release: its name, tactics and parent."""
    return technique_hit(target, tid, hit.score, list(hit.evidence), hit.band)
