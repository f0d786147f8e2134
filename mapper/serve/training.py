"""Reviews teach the model: finished reviews become training write-ups, and each retraining is a
new model version recorded in the workbench database (the old ones stay, and can be activated).

A version's figures are prequential, so they never flatter: the reviews a new version learns from
are scored with the results the earlier versions gave before those reviews existed.
"""

from __future__ import annotations

from mapper.model.reviews import latest_decisions, review_writeup, reviewed_techniques
from mapper.model.writeups import WriteUp, bundled_writeups
from mapper.serve.db import Database

RANKED = 10


def finished_reviews(db: Database, kb) -> list[tuple[dict, WriteUp]]:
    """Reports marked done (with their reviews), each with the labelled write-up it makes."""
    out = []
    for report in db.reports():
        if report["status"] != "done":
            continue
        kept = reviewed_techniques(report["result"], report["reviews"], kb, report["text"])
        rejected = [t for t, r in latest_decisions(report["reviews"]).items() if r.decision == "reject"]
        out.append((report, review_writeup(report["id"], report["text"], kept, rejected)))
    return out


def writeup_to_dict(w: WriteUp) -> dict:
    return {"id": w.id, "text": w.text, "techniques": list(w.techniques), "rationale": w.rationale,
            "rejected": list(w.rejected)}


def writeup_from_dict(d: dict) -> WriteUp:
    return WriteUp(d["id"], d["text"], tuple(d["techniques"]), dict(d["rationale"]), tuple(d["rejected"]))


def prequential_figures(reports: list[dict], kb) -> dict:
    """How the results already stored for these reviewed reports compare with what the reviewers kept.

    ``reports``: as :meth:`Database.reports` gives them, with their reviews. Each result came from the model
    version that was active when the report arrived, which had not learned from that review. AP and R are over
    the listed suggestions (at most top-k of them)."""
    ap, recall, first, abstained, n_ai, n_other = 0.0, 0.0, 0, 0, 0, 0
    for report in reports:
        kept = {t.id for t in reviewed_techniques(report["result"], report["reviews"], kb, report["text"])}
        ranked = [h["id"] for h in report["result"].get("techniques", [])][:RANKED]
        if not kept:
            n_other += 1
            abstained += not ranked
            continue
        n_ai += 1
        hits = [t in kept for t in ranked]
        ap += sum(sum(hits[: i + 1]) / (i + 1) for i, h in enumerate(hits) if h) / len(kept)
        recall += sum(hits) / len(kept)
        first += bool(hits and hits[0])
    figures = {"reviews": len(reports), "with_techniques": n_ai, "without": n_other}
    if n_ai:
        figures.update({"AP@10": round(ap / n_ai, 4), "R@10": round(recall / n_ai, 4), "Success@1": round(first / n_ai, 4)})
    if n_other:
        figures["nothing_listed_when_nothing_kept"] = round(abstained / n_other, 4)
    return figures


def record_training(db: Database, kb) -> tuple[int, list[WriteUp]]:
    """Record a new version, "training", that learns from every finished review; returns it and those reviews.
    Its figures are the earlier versions' results on the reviews it is the first to learn from."""
    finished = finished_reviews(db, kb)
    ids, reviewed = [r["id"] for r, _ in finished], [w for _, w in finished]
    seen = {rid for model in db.models() for rid in model["reviews"]}
    new = [report for report, _ in finished if report["id"] not in seen]
    figures = {"earlier_models_on_new_reviews": prequential_figures(new, kb)}
    return db.add_model("training", None, ids, [writeup_to_dict(w) for w in reviewed], figures), reviewed


def mark_ready(db: Database, version: int, trained) -> None:
    """Record a trained version (its Mapper) as ready, with what it learned from."""
    model = db.model(version)
    figures = {**model["figures"], "trained_on": {"case_studies": len(trained.kb.case_studies),
                                                  "reviewed_writeups": len(model["training"]),
                                                  "threshold": trained.threshold}}
    db.update_model(version, status="ready", key=trained.key, figures=figures)


def train_from_reviews(db: Database, mapper, root):
    """Train a new version here, in this process (the command line's ``train --reviews``; the workbench trains
    in a worker process instead) and record it; making it active is the caller's choice. Returns (version, the
    new Mapper)."""
    from mapper.pipeline import Mapper

    version, reviewed = record_training(db, mapper.kb)
    try:
        trained = Mapper.from_parts(mapper.kb, mapper.encoder, mapper.index, root, mapper.ranker.params(),
                                    writeups=bundled_writeups() + reviewed)
    except Exception:
        db.update_model(version, status="failed", error="training failed; see the command's error message")
        raise
    mark_ready(db, version, trained)
    return version, trained


def load_version(db: Database, version: int, base, root):
    """The Mapper of a recorded version, from the cache; a :class:`ModelError` when it is not there (it is
    rebuilt by :mod:`mapper.serve.worker`, never while a request waits)."""
    from mapper.pipeline import Mapper

    model = db.model(version)
    if not model["training"]:
        return base
    reviewed = [writeup_from_dict(d) for d in model["training"]]
    return Mapper.from_parts(base.kb, base.encoder, base.index, root, base.ranker.params(),
                             writeups=bundled_writeups() + reviewed, train=False)
