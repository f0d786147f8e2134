"""Evaluation datasets in BEIR's plain shapes.

queries ``{id: text}``, qrels ``{id: {technique: 1}}``, plus the case study each
query came from (for leave-one-case-study-out folds) and the out-of-scope ids
(write-ups that should get no technique at all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from mapper.errors import InputError
from mapper.kb import KnowledgeBase
from mapper.model.writeups import read_records, select

TASKS = ("steps", "summary", "narrative")


@dataclass
class Dataset:
    name: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    groups: dict[str, str | None]  # query id -> case study id (None for external items)
    out_of_scope: set[str] = field(default_factory=set)
    unknown_labels: dict[str, list[str]] = field(default_factory=dict)  # query id -> labels the release lacks
    mapped_labels: dict[str, str] = field(default_factory=dict)  # label of another release -> the ID used here
    unnameable: dict[str, list[str]] | None = None  # temporal: query id -> labels the older release lacks
    scored_labels: int = 0  # temporal: labels of the test queries before that restriction

    def nameable_by(self, kb: KnowledgeBase, ids: set[str]) -> "Dataset":
        """The same dataset with the labels of ``ids`` written as ``kb`` (an older release) names them;
        labels it cannot name are dropped from those queries and counted in ``unnameable``."""
        qrels, unnameable = dict(self.qrels), {}
        for qid in ids:
            named = {label: kb.resolve_id(label) for label in self.qrels.get(qid, {})}
            qrels[qid] = {tid: 1 for tid in named.values() if tid is not None}
            missing = sorted(label for label, tid in named.items() if tid is None)
            if missing:
                unnameable[qid] = missing
        return replace(self, qrels=qrels, unnameable=unnameable,
                       scored_labels=sum(len(self.qrels.get(q, {})) for q in ids))

    def describe(self) -> dict:
        return {
            "name": self.name,
            "queries": len(self.queries),
            "labelled": sum(1 for q in self.queries if self.qrels.get(q)),
            "out_of_scope": len(self.out_of_scope),
            "labels": sum(len(v) for v in self.qrels.values()),
            "unknown_labels": sorted({l for v in self.unknown_labels.values() for l in v}),
            "mapped_labels": self.mapped_labels,
        } | ({} if self.unnameable is None else {
            "test_labels": self.scored_labels,
            "test_labels_unnameable_by_training_release": sum(len(v) for v in self.unnameable.values()),
            "unnameable_labels": sorted({label for v in self.unnameable.values() for label in v}),
        })


def _resolve_labels(kb: KnowledgeBase, qid: str, labels, ds_unknown, ds_mapped) -> dict[str, int]:
    rel = {}
    for label in labels:
        label = str(label).strip()
        tid = kb.resolve_id(label)
        if tid is None:
            ds_unknown.setdefault(qid, []).append(label)
            continue
        if tid != label:
            ds_mapped[label] = tid
        rel[tid] = 1
    return rel


def corpus_task(kb: KnowledgeBase, split: str) -> Dataset:
    """``--task corpus:train`` or ``corpus:test``: the relabelled real reports of one split (texts read from the
    pinned genai-incidents package). Attacks are scored on their techniques; the other scopes are out of scope
    (nothing should be listed). Left out: attacks whose gold lists no technique, and the records about the same
    event as an evaluation item the model trains on (``overlaps.json``; in the test split, exactly those its
    freeze left unscored, which a test checks)."""
    import json

    from mapper.model.corpus import labelling_folder, overlap_items, read_sample, texts

    folder = labelling_folder() / "real"
    if split not in ("train", "test"):
        raise InputError(f"unknown corpus split {split!r}; use corpus:train or corpus:test")
    in_split = {e["id"]: e for e in read_sample(folder / "sample.jsonl") if e["split"] == split}
    overlaps = {r for ids in overlap_items().values() for r in ids}
    gold = [json.loads(line) for line in (folder / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    gold = [g for g in gold if g["id"] in in_split and g["id"] not in overlaps
            and not (g["scope"] == "attack" and not g["techniques"])]
    text = texts([in_split[g["id"]] for g in gold])
    queries, qrels, unknown, mapped, oos = {}, {}, {}, {}, set()
    for g in gold:
        queries[g["id"]] = text[g["id"]]
        if g["scope"] == "attack":
            qrels[g["id"]] = _resolve_labels(kb, g["id"], g["techniques"], unknown, mapped)
        else:
            qrels[g["id"]] = {}
            oos.add(g["id"])
    return Dataset(f"corpus-{split}", queries, qrels, {q: None for q in queries}, oos, unknown, mapped)


def case_study_task(kb: KnowledgeBase, task: str) -> Dataset:
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; choose steps, summary, narrative or a labelled file")
    queries, qrels, groups, unknown, mapped = {}, {}, {}, {}, {}
    for study in kb.case_studies:
        if task == "steps":
            for n, step in enumerate(study.steps):
                qid = f"{study.id}#{n + 1}"
                queries[qid] = step.description
                qrels[qid] = _resolve_labels(kb, qid, [step.technique], unknown, mapped)
                groups[qid] = study.id
        else:
            qid = study.id
            queries[qid] = study.summary if task == "summary" else study.narrative()
            qrels[qid] = _resolve_labels(kb, qid, study.techniques, unknown, mapped)
            groups[qid] = study.id
    # a query whose every label is unknown cannot be scored for ranking; keep it reported
    return Dataset(task, queries, qrels, groups, set(), unknown, mapped)


def load_labelled_file(path: Path, kb: KnowledgeBase, subset: str | None = None) -> Dataset:
    """YAML (a list, or a mapping with 'incidents') or JSONL records of id, text, techniques[, scope].

    ``subset`` ('dev' or 'test') keeps one half of a file with a frozen split (see :mod:`atlas_eval.split`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; give a YAML or JSONL file of labelled write-ups")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        records = []
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise InputError(f"{path} line {n} is not valid JSON; fix or remove it") from None
    else:
        records = read_records(path)  # the same YAML reading as the model's training write-ups
    if subset is not None:
        if not all(isinstance(rec, dict) for rec in records):
            raise InputError(f"{path}: every record must be a mapping with 'id' and 'text'")
        records = select(path, records, subset)
    queries, qrels, groups, unknown, mapped, oos = {}, {}, {}, {}, {}, set()
    for n, rec in enumerate(records, 1):
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise InputError(f"{path}: record {n} needs a string 'text'")
        qid = str(rec.get("id", f"item-{n}"))
        if qid in queries:
            raise InputError(f"{path}: duplicate id {qid!r} (record {n}); ids must be unique")
        labels = rec.get("techniques") or []
        if not isinstance(labels, list):
            raise InputError(f"{path}: record {qid!r} 'techniques' must be a list of ATLAS IDs")
        queries[qid] = rec["text"]
        groups[qid] = None
        if rec.get("scope") == "non-ai" or not labels:
            oos.add(qid)
            qrels[qid] = {}
        else:
            qrels[qid] = _resolve_labels(kb, qid, labels, unknown, mapped)
    name = path.stem if subset is None else f"{path.stem}-{subset}"
    return Dataset(name, queries, qrels, groups, oos, unknown, mapped)
