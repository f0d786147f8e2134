"""Why a technique was suggested, for a reviewer: the case-study steps its evidence resembles most,
and the ATLAS mitigations that address it.

Steps are compared with the evidence sentences in the encoder's space, the same space the
exemplar features of the ranker use, so "AML.CS0009 step 2" is a step that pulled the score up.
"""

from __future__ import annotations

from mapper.kb import KnowledgeBase

SIMILAR_STEPS = 3


def technique_steps(kb: KnowledgeBase, technique_id: str) -> list[dict]:
    """Every procedure step labelled with ``technique_id`` (or one of its sub-techniques)."""
    out = []
    for study in kb.case_studies:
        for n, step in enumerate(study.steps, 1):
            tech = kb.techniques.get(step.technique)
            if step.technique == technique_id or (tech is not None and tech.parent == technique_id):
                out.append({"case_study": study.id, "study_name": study.name, "step": n,
                            "technique": step.technique, "text": " ".join(step.description.split())})
    return out


def similar_steps(kb: KnowledgeBase, encoder, technique_id: str, sentences: list[str], k: int = SIMILAR_STEPS) -> list[dict]:
    """The ``k`` steps of ``technique_id`` nearest to any of ``sentences`` (cosine), best first."""
    steps = technique_steps(kb, technique_id)
    sentences = [s for s in sentences if s.strip()]
    if not steps or not sentences:  # an added technique has no evidence yet: its first steps
        return steps[:k]
    sims = encoder.encode([s["text"] or "-" for s in steps]) @ encoder.encode(sentences).T
    best = sims.max(axis=1)
    order = sorted(range(len(steps)), key=lambda i: (-float(best[i]), i))[:k]
    return [{**steps[i], "similarity": round(float(best[i]), 3)} for i in order]


def mitigations(kb: KnowledgeBase, technique_id: str) -> list[dict]:
    return [{"id": m.id, "name": m.name, "use": " ".join(use.split())} for m, use in kb.mitigations_for(technique_id)]


def explain(kb: KnowledgeBase, encoder, technique_id: str, sentences: list[str]) -> dict:
    return {"similar_steps": similar_steps(kb, encoder, technique_id, sentences),
            "mitigations": mitigations(kb, technique_id)}


def explain_result(kb: KnowledgeBase, encoder, result: dict) -> dict[str, dict]:
    """Technique -> its explanation, for every technique of a stored result."""
    return {hit["id"]: explain(kb, encoder, hit["id"], [e["text"] for e in hit.get("evidence", [])])
            for hit in result.get("techniques", [])}

