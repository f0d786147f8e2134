"""The triage workbench as a library: what the web app and the API call, free of HTTP.

It holds the database and the active model version, maps and stores reports, records review
decisions, renders exports, and retrains in the background without blocking mapping (the new
version replaces the old one only once it is trained).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

from mapper.errors import InputError, UsageError
from mapper.model.reviews import Review, check_review, latest_decisions, reviewed_techniques
from mapper.serve.db import Database
from mapper.serve.training import load_version, train_from_reviews

TITLE_CHARS = 200
TOP_IN_QUEUE = 3


def default_title(text: str) -> str:
    first = next((line.strip(" #*\t") for line in text.splitlines() if line.strip(" #*\t")), "untitled write-up")
    return first if len(first) <= 80 else first[:77].rstrip() + "..."


class Workbench:
    def __init__(self, db_path: Path, mapper, cache_root: Path):
        self.db = Database(db_path)
        self.root = Path(cache_root)
        self.base = mapper
        self._swap = threading.Lock()
        self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self.training: Future | None = None
        models = self.db.models()
        if not models:  # version 1: the model the package ships
            self.db.set_active(self.db.add_model("ready", mapper.key, [], [], {"note": "the shipped model"}))
        for model in models:
            if model["status"] == "training":  # the server stopped while it trained
                self.db.update_model(model["version"], status="failed", error="interrupted: the server stopped")
        active = self.db.active_version()
        self._active = (active, load_version(self.db, active, mapper, self.root))  # one attribute: read as a pair

    @property
    def version(self) -> int:
        return self._active[0]

    @classmethod
    def open(cls, db_path: Path, atlas=None, release=None, model=None, cache=None) -> "Workbench":
        from mapper.files import cache_dir
        from mapper.pipeline import Mapper

        return cls(db_path, Mapper.load(atlas=atlas, model=model, release=release, cache=cache),
                   Path(cache) if cache else cache_dir())

    # -- mapping and reports ---------------------------------------------------------
    def _current(self):
        """(version, mapper), following a version activated elsewhere (``atlas-mapper train --reviews``).

        A model is loaded outside the lock (it may take a while), then swapped in only if it is still the
        active one, so a request that raced an activation never undoes it."""
        current = self._active
        active = self.db.active_version()
        if active == current[0]:
            return current
        mapper = load_version(self.db, active, self.base, self.root)
        with self._swap:
            if self.db.active_version() == active:
                self._active = (active, mapper)
            return self._active

    def map(self, text: str, top_k: int = 10, threshold: float | None = None) -> dict:
        version, mapper = self._current()
        result = mapper.map(text, top_k=top_k, threshold=threshold).to_dict()
        result["model"]["version"] = version
        return result

    def create_report(self, text: str, title: str | None = None, source: str = "pasted") -> dict:
        from mapper.serve.explain import explain_result

        if not text.strip():
            raise InputError("the write-up is empty; paste its text or upload a file")
        title = " ".join((title or "").split())[:TITLE_CHARS] or default_title(text)
        version, mapper = self._current()
        result = mapper.map(text).to_dict()
        result["model"]["version"] = version
        report_id = self.db.add_report(title, text, source, result, explain_result(mapper.kb, mapper.encoder, result),
                                       version)
        return self.report(report_id)

    def report(self, report_id: str) -> dict:
        report = self.db.report(report_id)
        report["reviews"] = self.db.reviews(report_id)
        return report

    def api_report(self, report_id: str, with_reviews: bool = True) -> dict:
        """The REST API's shape: id, title, status, result (+ reviews and the rest)."""
        r = self.report(report_id)
        out = {"id": r["id"], "title": r["title"], "status": r["status"], "result": r["result"],
               "created": r["created"], "source": r["source"], "reviewer": r["reviewer"],
               "model_version": r["model_version"]}
        if with_reviews:
            out["reviews"] = [rv.to_dict() for rv in r["reviews"]]
        return out

    def review(self, report_id: str, review: Review) -> Review:
        report = self.db.report(report_id)
        return self.db.add_review(report_id, check_review(review, self.base.kb, report["text"]))

    def set_status(self, report_id: str, status: str, reviewer: str | None = None) -> None:
        self.db.set_status(report_id, status, reviewer)

    def kept(self, report: dict):
        return reviewed_techniques(report["result"], report["reviews"], self.base.kb, report["text"])

    def page(self, report_id: str) -> tuple[dict, dict]:
        """A report and what its page shows; techniques added by reviewers get their "why" here."""
        from mapper.serve.explain import explain
        from mapper.serve.pages import report_view

        report = self.report(report_id)
        kept = self.kept(report)
        for item in kept:
            if item.id not in report["explain"]:
                report["explain"][item.id] = explain(self.base.kb, self.base.encoder, item.id, [e.text for e in item.evidence])
        return report, report_view(report, kept, latest_decisions(report["reviews"]), self.base.kb)

    def export(self, report_id: str, fmt: str) -> tuple[str, str, str]:
        """(content, media type, file name) of a reviewed report: accepted and added techniques only."""
        from mapper.io.exports import MEDIA_TYPES, export

        if fmt not in MEDIA_TYPES:
            raise UsageError(f"unknown export format {fmt!r}; choose one of: {', '.join(MEDIA_TYPES)}")
        report = self.report(report_id)
        media, extension = MEDIA_TYPES[fmt]
        return export(fmt, report, self.kept(report), self.base.kb), media, f"{report_id}-{fmt}.{extension}"

    # -- the queue -------------------------------------------------------------------
    def queue(self, q: str = "", technique: str = "", tactic: str = "", status: str = "") -> list[dict]:
        """Reports with their top techniques, filtered; newest first."""
        kb = self.base.kb
        rows = []
        for report in self.db.reports():
            # what the reviewer kept; until the review is done, also the suggestions not decided on yet
            listed = [(t.id, t.name, [x.id for x in t.tactics]) for t in self.kept(report)]
            if report["status"] != "done":
                decided = latest_decisions(report["reviews"])
                listed += [(h["id"], h["name"], [x["id"] for x in h["tactics"]]) for h in report["result"]["techniques"]
                           if h["id"] not in decided]
            if status and report["status"] != status:
                continue
            if q and q.lower() not in (report["title"] + "\n" + report["text"]).lower():
                continue
            if technique and not any(technique.upper() in (tid, kb.techniques[tid].parent if tid in kb.techniques else None)
                                     for tid, _, _ in listed):
                continue
            if tactic and not any(tactic in tactics for _, _, tactics in listed):
                continue
            rows.append({**report, "top": listed[:TOP_IN_QUEUE], "n_techniques": len(listed)})
        return rows

    @cached_property
    def _search(self):
        from mapper.encode.search import TechniqueSearch

        return TechniqueSearch(self.base.kb)

    def search_techniques(self, q: str, limit: int = 10) -> list[dict]:
        """By ID (exact, retired or prefix) or by words."""
        kb = self.base.kb
        found = self._search.find(q, limit)
        out = []
        for tid in found[:limit]:
            tech = kb.techniques[tid]
            out.append({"id": tid, "name": tech.name, "parent": tech.parent,
                        "tactics": [{"id": t, "name": kb.tactic_by_id[t].name} for t in tech.tactics if t in kb.tactic_by_id]})
        return out

    # -- model versions --------------------------------------------------------------
    def retrain(self) -> int:
        """Start retraining in the background; returns the version being trained, recorded at once."""
        if not any(r["status"] == "done" for r in self.db.reports()):
            raise UsageError("no report is marked done yet; finish a review (Mark done) before retraining")
        recorded: dict[str, int] = {}
        started = threading.Event()
        with self._swap:
            if self.training is not None and not self.training.done():
                raise UsageError("a retraining is already running; wait for it to finish")
            self.training = self._trainer.submit(self._retrain, recorded, started)
            self.training.add_done_callback(_log_failure)
        started.wait(timeout=120)
        if "version" not in recorded:  # it failed before recording a version: say why
            self.training.result(timeout=0)
            raise UsageError("retraining did not start; see the server's log")
        return recorded["version"]

    def _retrain(self, recorded: dict, started: threading.Event) -> int:
        before = self.db.active_version()

        def on_recorded(version: int) -> None:
            recorded["version"] = version
            started.set()

        try:
            version, trained = train_from_reviews(self.db, self.base, self.root, on_recorded=on_recorded)
        finally:
            started.set()
        with self._swap:
            if self.db.active_version() == before:  # nobody chose another version meanwhile
                self.db.set_active(version)
                self._active = (version, trained)
        return version

    def activate(self, version: int) -> None:
        model = self.db.model(version)
        if model["status"] != "ready":
            raise UsageError(f"model version {version} is {model['status']}; only a ready version can be activated")
        mapper = load_version(self.db, version, self.base, self.root)
        with self._swap:
            self.db.set_active(version)
            self._active = (version, mapper)

    def models(self) -> dict:
        return {"active": self.version, "training": self.training is not None and not self.training.done(),
                "versions": [{k: v for k, v in m.items() if k != "training"} for m in self.db.models()]}

    def close(self) -> None:
        self._trainer.shutdown(wait=False, cancel_futures=True)


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logging.getLogger("atlas-mapper.serve").error("retraining failed", exc_info=future.exception())
