"""The triage workbench as a library: what the web app and the API call, free of HTTP.

It holds the database and the active model version, maps and stores reports, records review
decisions, renders exports, and retrains in a separate process (:mod:`mapper.serve.worker`) so that
mapping never waits on it: the new version replaces the old one only once it is trained and saved. A
version whose saved model is missing is rebuilt the same way, while the model already loaded keeps
answering (each result names the version that made it).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

from mapper.errors import Busy, InputError, ModelError, UsageError
from mapper.model.reviews import Review, check_review, latest_decisions, reviewed_techniques
from mapper.serve import worker
from mapper.serve.db import Database
from mapper.serve.training import load_version, mark_ready, record_training

logger = logging.getLogger("atlas-mapper.serve")
TITLE_CHARS = 200
TOP_IN_QUEUE = 3


def default_title(text: str) -> str:
    first = next((line.strip(" #*\t") for line in text.splitlines() if line.strip(" #*\t")), "untitled write-up")
    return first if len(first) <= 80 else first[:77].rstrip() + "..."


class Workbench:
    """``recipe``: how a worker process rebuilds ``mapper`` (:func:`mapper.serve.worker.base_mapper`); without
    one, the workbench maps and reviews but cannot train."""

    def __init__(self, db_path: Path, mapper, cache_root: Path, recipe: dict | None = None):
        self.db = Database(db_path)
        self.root = Path(cache_root)
        self.base = mapper
        self.recipe = recipe
        self._swap = threading.Lock()
        self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self._builds: dict[int, Future] = {}  # version -> its training or rebuild, one at a time
        self._workers: list = []  # their processes, stopped by close()
        self._closing = False
        models = self.db.models()
        if not models:  # version 1: the model the package ships
            self.db.set_active(self.db.add_model("ready", mapper.key, [], [], {"note": "the shipped model"}))
        for model in models:
            if model["status"] == "training":  # the server stopped while it trained
                self.db.update_model(model["version"], status="failed", error="interrupted: the server stopped")
        shipped = next((m["version"] for m in self.db.models() if not m["training"]), 1)
        self._active = (shipped, mapper)  # one attribute: read as a pair (version, Mapper)
        self._active = self._current()

    @property
    def version(self) -> int:
        return self._active[0]

    @classmethod
    def open(cls, db_path: Path, atlas=None, release=None, model=None, cache=None) -> "Workbench":
        from mapper.files import cache_dir
        from mapper.pipeline import Mapper

        mapper = Mapper.load(atlas=atlas, model=model, release=release, cache=cache)
        root = Path(cache) if cache else cache_dir()
        # the worker loads the very file this process loaded, whichever way it was found
        where = {"atlas": str(mapper.kb.source.path)} if mapper.kb.source else {"atlas": atlas, "release": release}
        return cls(db_path, mapper, root, recipe={"load": {**where, "model": model, "cache": str(root)}})

    # -- mapping and reports ---------------------------------------------------------
    def _current(self):
        """(version, mapper), following a version activated elsewhere (``atlas-mapper train --reviews``).

        A model is loaded outside the lock (it may take a while), then swapped in only if it is still the
        active one, so a request that raced an activation never undoes it."""
        current = self._active
        active = self.db.active_version()
        if active == current[0] or self._building(active) or self._failed(active):
            return current  # a failed rebuild is retried by activating the version, not by every request
        try:
            mapper = load_version(self.db, active, self.base, self.root)
        except ModelError:  # its saved model is gone: rebuild it aside, keep answering with the one loaded
            logger.warning("model version %s is not in the cache %s; rebuilding it", active, self.root)
            self._build(active)
            return current
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

    def page(self, report_id: str, group_by: str = "score") -> tuple[dict, dict]:
        """A report and what its page shows; techniques added by reviewers get their "why" here.
        ``group_by``: "score" (one list, strongest first) or "tactic"."""
        from mapper.serve.explain import explain
        from mapper.serve.pages import GROUPINGS, report_view

        if group_by not in GROUPINGS:
            raise UsageError(f"cannot order the page by {group_by!r}; choose one of: {', '.join(GROUPINGS)}")
        report = self.report(report_id)
        kept = self.kept(report)
        for item in kept:
            if item.id not in report["explain"]:
                report["explain"][item.id] = explain(self.base.kb, self.base.encoder, item.id, [e.text for e in item.evidence])
        return report, report_view(report, kept, latest_decisions(report["reviews"]), self.base.kb, group_by)

    def export(self, report_id: str, fmt: str, incident_date: str | None = None) -> tuple[str, str, str]:
        """(content, media type, file name) of a reviewed report: accepted and added techniques only.
        ``incident_date``: when the incident happened (YYYY, YYYY-MM or YYYY-MM-DD), which the case study needs
        and only the analyst knows."""
        from mapper.io.exports import MEDIA_TYPES, export

        if fmt not in MEDIA_TYPES:
            raise UsageError(f"unknown export format {fmt!r}; choose one of: {', '.join(MEDIA_TYPES)}")
        report = self.report(report_id)
        if incident_date and incident_date.strip():
            report["incident_date"] = incident_date.strip()
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
            out.append({"id": tid, "name": kb.full_name(tid), "parent": tech.parent,
                        "tactics": [{"id": t, "name": kb.tactic_by_id[t].name} for t in tech.tactics if t in kb.tactic_by_id]})
        return out

    # -- model versions --------------------------------------------------------------
    def _building(self, version: int) -> bool:
        future = self._builds.get(version)
        return future is not None and not future.done()

    def _failed(self, version: int) -> bool:
        future = self._builds.get(version)
        return future is not None and future.done() and (future.cancelled() or future.exception() is not None)

    def retrain(self) -> int:
        """Record a new version that learns from every finished review and train it in a worker process;
        returns the version at once. It becomes the active one when trained, unless another was chosen meanwhile."""
        if self.recipe is None:
            raise UsageError("this workbench was started without a way to rebuild its model, so it cannot retrain; "
                             "start it with 'atlas-mapper serve'")
        if not any(r["status"] == "done" for r in self.db.reports()):
            raise UsageError("no report is marked done yet; finish a review (Mark done) before retraining")
        with self._swap:
            if any(not f.done() for f in self._builds.values()):
                raise UsageError("a model is already being trained; wait for it to finish (see Models)")
            version, _ = record_training(self.db, self.base.kb)
            self._build(version, new=True)
        return version

    def _build(self, version: int, new: bool = False) -> None:
        """Train ``version`` (``new``) or rebuild its missing saved model, in a worker process."""
        if self.recipe is None or self._building(version):
            return
        self._builds[version] = future = self._trainer.submit(self._train_aside, version, new, self.db.active_version())
        future.add_done_callback(_log_failure)

    def _train_aside(self, version: int, new: bool, active_before: int) -> int:
        model = self.db.model(version)
        job = worker.write_job(self.root / "jobs" / f"version-{version}.json", self.recipe, self.root,
                               self.base.ranker.params(), model["training"])
        process = worker.start(job)
        self._workers.append(process)
        code = process.wait()
        job.unlink(missing_ok=True)
        if code != 0:
            if new:
                why = "interrupted: the server stopped" if self._closing else "training failed; see the server's log"
                self.db.update_model(version, status="failed", error=why)
            raise RuntimeError(f"the training worker for model version {version} exited with code {code}")
        trained = load_version(self.db, version, self.base, self.root)
        if new:
            mark_ready(self.db, version, trained)
        with self._swap:
            if new and self.db.active_version() == active_before:  # nobody chose another version meanwhile
                self.db.set_active(version)
            if self.db.active_version() == version:
                self._active = (version, trained)
        return version

    def activate(self, version: int) -> None:
        model = self.db.model(version)
        if model["status"] != "ready":
            raise UsageError(f"model version {version} is {model['status']}; only a ready version can be activated")
        try:
            mapper = load_version(self.db, version, self.base, self.root)
        except ModelError:
            self._build(version)
            raise Busy(f"model version {version} is being rebuilt (its saved model is missing); "
                       "activate it again in a few minutes", retry_after=60) from None
        with self._swap:
            self.db.set_active(version)
            self._active = (version, mapper)

    def models(self) -> dict:
        return {"active": self.version, "training": any(not f.done() for f in self._builds.values()),
                "versions": [{k: v for k, v in m.items() if k != "training"} for m in self.db.models()]}

    def close(self) -> None:
        """Stop: a training still running is ended (its version reads "failed" with the reason), so the server
        never waits minutes for it on the way out."""
        self._closing = True
        self._trainer.shutdown(wait=False, cancel_futures=True)
        for process in self._workers:
            if process.poll() is None:
                process.terminate()


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("training a model version failed", exc_info=future.exception())
