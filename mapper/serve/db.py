"""The workbench's SQLite database: reports, review decisions and model versions.

WAL mode with ``synchronous=FULL``: a review is acknowledged only after its transaction is on
disk, so it survives the server being killed (tests/test_serve_durability.py kills one). Each
thread gets its own connection; writers wait on each other through SQLite's busy timeout.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from mapper.errors import InputError, NotFoundError, OutputError, UsageError
from mapper.model.reviews import Review

STATUSES = ("new", "in review", "done")
SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,          -- 'pasted', 'api' or the uploaded file's name
    created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    reviewer TEXT,
    result TEXT NOT NULL,          -- the map contract (JSON) of the model version below
    explain TEXT NOT NULL,         -- technique -> similar steps and mitigations (JSON)
    model_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL REFERENCES reports(id),
    technique TEXT NOT NULL,
    decision TEXT NOT NULL,
    evidence TEXT NOT NULL,        -- [[start, end], ...]
    note TEXT NOT NULL,
    reviewer TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_by_report ON reviews(report_id, seq);
CREATE TABLE IF NOT EXISTS models (
    version INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    status TEXT NOT NULL,          -- training / ready / failed
    key TEXT,
    reviews TEXT NOT NULL,         -- ids of the reports it learned from (JSON)
    training TEXT NOT NULL,        -- the reviewed write-ups it learned from (JSON), to rebuild the same model
    figures TEXT NOT NULL,         -- evaluation figures (JSON)
    error TEXT
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# A writer waits this long for another before SQLite says "locked", which the web app answers 503 + Retry-After:
# a request never hangs on the database for longer (writes here take milliseconds).
LOCK_WAIT_S = 5


class Database:
    def __init__(self, path: Path):
        self.path = Path(path).expanduser().resolve()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path.parent}: {exc.strerror}; choose another --db") from None
        self._local = threading.local()
        with self.connect(opening=True) as con:
            con.executescript(SCHEMA)

    def connect(self, opening: bool = False) -> sqlite3.Connection:
        """This thread's connection. ``opening``: the first one, whose failure names the file for whoever chose
        it (``--db``); a later thread's failure is SQLite's own error, which the web app answers without the
        path or SQLite's words (they go to the server's log)."""
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False)
                mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                if not opening:
                    raise
                raise InputError(f"{self.path} is not a workbench database ({exc}); choose another --db") from None
            if mode != "wal":  # some network file systems cannot share memory between processes
                raise OutputError(f"{self.path} cannot use SQLite's WAL mode (it stays in {mode!r} mode); put --db on a "
                                  "local disk")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return _Transaction(con)

    # -- reports ----------------------------------------------------------------
    def add_report(self, title: str, text: str, source: str, result: dict, explain: dict, model_version: int) -> str:
        report_id = uuid.uuid4().hex[:12]
        with self.connect() as con:
            con.execute("INSERT INTO reports (id, title, text, source, created, result, explain, model_version) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (report_id, title, text, source, now(), json.dumps(result), json.dumps(explain), model_version))
        return report_id

    def report(self, report_id: str) -> dict:
        with self.connect() as con:
            row = con.execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no report {report_id!r}")
        return _report(row)

    def reports(self) -> list[dict]:
        """Every report, newest first (with its reviews, for the queue's filters)."""
        with self.connect() as con:
            rows = con.execute("SELECT * FROM reports ORDER BY created DESC, rowid DESC").fetchall()
            reviews = con.execute("SELECT * FROM reviews ORDER BY seq").fetchall()
        by_report: dict[str, list[Review]] = {}
        for r in reviews:
            by_report.setdefault(r["report_id"], []).append(_review(r))
        return [{**_report(row), "reviews": by_report.get(row["id"], [])} for row in rows]

    def set_status(self, report_id: str, status: str, reviewer: str | None = None) -> None:
        if status not in STATUSES:
            raise UsageError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        with self.connect() as con:
            done = con.execute("UPDATE reports SET status = ?, reviewer = COALESCE(?, reviewer) WHERE id = ?",
                               (status, reviewer, report_id)).rowcount
        if not done:
            raise NotFoundError(f"no report {report_id!r}")

    # -- reviews ----------------------------------------------------------------
    def add_review(self, report_id: str, review: Review) -> Review:
        """Store one decision; the report moves from 'new' to 'in review'. Durable on return."""
        stored = Review(review.technique, review.decision, review.evidence, review.note, review.reviewer, now())
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            found = con.execute("UPDATE reports SET status = CASE status WHEN 'new' THEN 'in review' ELSE status END, "
                                "reviewer = COALESCE(?, reviewer) WHERE id = ?", (review.reviewer, report_id)).rowcount
            if not found:
                raise NotFoundError(f"no report {report_id!r}")
            con.execute("INSERT INTO reviews (report_id, technique, decision, evidence, note, reviewer, at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (report_id, stored.technique, stored.decision, json.dumps([list(s) for s in stored.evidence]),
                         stored.note, stored.reviewer, stored.at))
        return stored

    def reviews(self, report_id: str) -> list[Review]:
        with self.connect() as con:
            rows = con.execute("SELECT * FROM reviews WHERE report_id = ? ORDER BY seq", (report_id,)).fetchall()
        return [_review(r) for r in rows]

    # -- model versions ---------------------------------------------------------------
    def add_model(self, status: str, key: str | None, reviews: list[str], training: list[dict], figures: dict) -> int:
        with self.connect() as con:
            cur = con.execute("INSERT INTO models (created, status, key, reviews, training, figures) VALUES (?, ?, ?, ?, ?, ?)",
                              (now(), status, key, json.dumps(reviews), json.dumps(training), json.dumps(figures)))
        return int(cur.lastrowid)

    def update_model(self, version: int, **fields) -> None:
        cols = {k: json.dumps(v) if k in ("reviews", "training", "figures") else v for k, v in fields.items()}
        with self.connect() as con:
            con.execute(f"UPDATE models SET {', '.join(f'{k} = ?' for k in cols)} WHERE version = ?",  # keys are ours
                        (*cols.values(), version))

    def models(self) -> list[dict]:
        with self.connect() as con:
            rows = con.execute("SELECT * FROM models ORDER BY version").fetchall()
        return [_model(r) for r in rows]

    def model(self, version: int) -> dict:
        with self.connect() as con:
            row = con.execute("SELECT * FROM models WHERE version = ?", (version,)).fetchone()
        if row is None:
            raise NotFoundError(f"no model version {version}")
        return _model(row)

    def active_version(self) -> int | None:
        with self.connect() as con:
            row = con.execute("SELECT value FROM settings WHERE name = 'active_model'").fetchone()
        return int(row["value"]) if row else None

    def set_active(self, version: int) -> None:
        with self.connect() as con:
            con.execute("INSERT INTO settings (name, value) VALUES ('active_model', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (str(version),))


class _Transaction:
    """``with db.connect() as con``: commit on success, roll back on error (autocommit otherwise)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, exc_type, *_):
        if not self.con.in_transaction:
            return False
        if exc_type:
            self.con.execute("ROLLBACK")
            return False
        try:
            self.con.execute("COMMIT")
        except sqlite3.Error:  # e.g. a full disk: never leave this thread's connection holding the write lock
            self.con.execute("ROLLBACK")
            raise
        return False


def _report(row) -> dict:
    return {"id": row["id"], "title": row["title"], "text": row["text"], "source": row["source"],
            "created": row["created"], "status": row["status"], "reviewer": row["reviewer"],
            "result": json.loads(row["result"]), "explain": json.loads(row["explain"]),
            "model_version": row["model_version"]}


def _review(row) -> Review:
    return Review(row["technique"], row["decision"], tuple(tuple(s) for s in json.loads(row["evidence"])),
                  row["note"], row["reviewer"], row["at"])


def _model(row) -> dict:
    return {"version": row["version"], "created": row["created"], "status": row["status"], "key": row["key"],
            "reviews": json.loads(row["reviews"]), "training": json.loads(row["training"]),
            "figures": json.loads(row["figures"]), "error": row["error"]}
