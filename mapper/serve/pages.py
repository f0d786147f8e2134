"""What the report page shows, as plain data for its template: the text cut into sentences that
know which techniques cite them, and the techniques as cards, strongest first (or grouped by tactic in ATLAS
matrix order, on request).

Nothing here builds HTML: the template renders every piece of write-up text autoescaped.
"""

from __future__ import annotations

from mapper.kb import KnowledgeBase
from mapper.text import text_units

OTHER = ("", "Other")


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def segments(text: str, cited: dict[str, list[tuple[int, int]]]) -> list[dict]:
    """The text as consecutive pieces: sentences (``start``, ``end``, the techniques citing them) and
    the gaps between them, so that joining every piece's text gives the text back exactly."""
    out, pos = [], 0
    for span in text_units(text)[1]:
        if span.start > pos:
            out.append({"text": text[pos:span.start], "sentence": False})
        techs = sorted(t for t, spans in cited.items() if any(_overlaps((span.start, span.end), s) for s in spans))
        out.append({"text": text[span.start:span.end], "sentence": True, "start": span.start, "end": span.end,
                    "techniques": techs})
        pos = span.end
    if pos < len(text):
        out.append({"text": text[pos:], "sentence": False})
    return out


GROUPINGS = ("score", "tactic")


def report_view(report: dict, kept, decisions: dict, kb: KnowledgeBase, group_by: str = "score") -> dict:
    """Cards for every suggested or added technique: one list ordered by score, the model's suggestions first
    and reviewers' additions after them (``group_by="score"``), or grouped by first tactic in matrix order."""
    order = {t.id: i for i, t in enumerate(kb.tactics)}
    cards = {}
    for hit in report["result"].get("techniques", []):
        cards[hit["id"]] = {"id": hit["id"], "name": kb.full_name(hit["id"], hit["name"]), "tactics": hit.get("tactics", []),
                            "score": hit["score"], "band": hit.get("band"),
                            "evidence": [(e["start"], e["end"]) for e in hit.get("evidence", [])], "suggested": True}
    for item in kept:
        card = cards.setdefault(item.id, {"id": item.id, "name": item.name, "score": None, "band": None,
                                          "tactics": [{"id": t.id, "name": t.name} for t in item.tactics],
                                          "evidence": [], "suggested": False})
        card["evidence"] = sorted(set(card["evidence"]) | {(e.start, e.end) for e in item.evidence})
    for tid, review in decisions.items():
        if tid in cards:
            cards[tid]["decision"] = review.decision
    explain = report.get("explain", {})
    for card in cards.values():
        card.setdefault("decision", None)
        card["notes"] = [r.note for r in report["reviews"] if r.technique == card["id"] and r.note]
        card["why"] = explain.get(card["id"], {})
        card["tactics"] = sorted(card["tactics"], key=lambda t: order.get(t["id"], len(order)))
    ranked = sorted(cards.values(), key=lambda c: (c["score"] is None, -(c["score"] or 0.0), c["id"]))
    if group_by == "tactic":
        groups: dict[tuple[str, str], list[dict]] = {}
        for card in ranked:
            key = (card["tactics"][0]["id"], card["tactics"][0]["name"]) if card["tactics"] else OTHER
            groups.setdefault(key, []).append(card)
        listed = [{"id": k[0], "name": k[1], "cards": v}
                  for k, v in sorted(groups.items(), key=lambda kv: order.get(kv[0][0], len(order)))]
    else:
        listed = [{"id": "", "name": "", "cards": ranked}] if ranked else []
    near = [{**m, "name": kb.full_name(m["id"], m["name"])} for m in report["result"].get("near_misses", [])
            if m["id"] not in cards]
    cited = {c["id"]: c["evidence"] for c in cards.values() if c["decision"] != "reject"}
    return {"groups": listed, "group_by": group_by, "near_misses": near,
            "segments": segments(report["text"], cited), "n_cards": len(cards)}
