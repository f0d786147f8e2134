"""Recorded links from retired ATLAS technique IDs to the IDs that took over their content.

The release files cannot show these links (a retired ID simply disappears), so they are
kept as data with their sources in ``data/id_changes.json``. Links are followed
transitively both ways, so a label reaches whichever ID a given release uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from mapper.files import data_dir


@dataclass(frozen=True)
class Link:
    old: str
    new: str
    kind: str  # replaced | merged
    release: str  # the first release without ``old``
    source: str


@lru_cache(maxsize=1)
def recorded_links() -> tuple[Link, ...]:
    rows = json.loads((data_dir() / "id_changes.json").read_text(encoding="utf-8"))["links"]
    return tuple(Link(**row) for row in rows)


def _walk(start: str, step: dict[str, list[str]]) -> list[str]:
    seen, frontier = [], [start]
    while frontier:
        for nxt in step.get(frontier.pop(0), []):
            if nxt != start and nxt not in seen:
                seen.append(nxt)
                frontier.append(nxt)
    return seen


@lru_cache(maxsize=1)
def _edges() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    for link in recorded_links():
        forward.setdefault(link.old, []).append(link.new)
        backward.setdefault(link.new, []).append(link.old)
    return forward, backward


def successors(technique_id: str) -> list[str]:
    """IDs that carry a retired ID's content, nearest first."""
    return _walk(technique_id, _edges()[0])


def predecessors(technique_id: str) -> list[str]:
    """Retired IDs whose content a newer ID carries, nearest first."""
    return _walk(technique_id, _edges()[1])
