"""Labelled write-ups in everyday words: training data beside the case studies.

A file of write-ups (YAML: a list, or a mapping with ``incidents``) holds records of ``id``,
``text``, ``techniques`` (empty, or ``scope: non-ai``, for incidents that are not about AI) and
``rationale`` (technique -> one line saying where the text shows it). The ranker learns from
them in three ways (see :mod:`mapper.model.ranker`): each AI write-up is a training query, its
rationale lines are labelled exemplars, and AI and non-AI write-ups together teach the
AI-relevance decision (:mod:`mapper.model.relevance`).

A benchmark file has a frozen test half recorded in ``split.json`` beside it, with a digest of
each test record: :func:`select` refuses an edited test record, and the model shipped with the
package learns from the dev half only (:func:`bundled_writeups`), so the test half stays unseen.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mapper.errors import InputError, UsageError

SPLIT_FILE = "split.json"
SUBSETS = ("dev", "test")
WILD_FILES = ("wild/ai.yaml", "wild/non_ai.yaml")  # the benchmark of write-ups in the wild (data/eval/wild)
FIRST_FILES = ("ai_incidents.yaml", "non_ai_incidents.yaml")  # our first write-ups (no split: all train)
CORPUS_SETTING = "ATLAS_MAPPER_CORPUS"


@dataclass(frozen=True)
class WriteUp:
    id: str
    text: str
    techniques: tuple[str, ...] = ()  # empty: not about an AI system
    rationale: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    rejected: tuple[str, ...] = ()  # techniques a reviewer rejected: explicit negatives (see mapper.model.reviews)

    @property
    def ai(self) -> bool:
        return bool(self.techniques)


def record_digest(rec: dict) -> str:
    """What a frozen test half fixes: the text, the labels and the scope of a record."""
    core = {"text": rec.get("text"), "techniques": sorted(map(str, rec.get("techniques") or [])),
            "scope": rec.get("scope")}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def read_records(path: Path) -> list:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError:
        raise InputError(f"{path} is not valid YAML; see the README for the labelled-file format") from None
    records = doc.get("incidents") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a list of records (or a mapping with 'incidents')")
    return records


def select(path: Path, records: list[dict], subset: str) -> list[dict]:
    """The records of ``subset`` ('dev' or 'test'); the test half must match its frozen digests."""
    if subset not in SUBSETS:
        raise InputError(f"unknown subset {subset!r}; choose dev or test")
    split_path = Path(path).parent / SPLIT_FILE
    if not split_path.is_file():
        raise InputError(f"{path} has no {SPLIT_FILE} beside it; freeze one with 'python -m atlas_eval.split FILES'")
    frozen = json.loads(split_path.read_text(encoding="utf-8"))["test"]
    if subset == "dev":
        return [r for r in records if str(r.get("id")) not in frozen]
    chosen = [r for r in records if str(r.get("id")) in frozen]
    for rec in chosen:
        if record_digest(rec) != frozen[str(rec["id"])]:
            raise InputError(f"test record {rec['id']!r} in {path} changed after the split was frozen; "
                             "restore it (the test half must not be edited)")
    return chosen


def to_writeup(rec, where: str) -> WriteUp:
    if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or "id" not in rec:
        raise InputError(f"{where}: every record needs an 'id' and a string 'text'")
    labels = [] if rec.get("scope") == "non-ai" else list(rec.get("techniques") or [])
    rationale = rec.get("rationale") or {}
    if not isinstance(rationale, dict):
        raise InputError(f"{where}: record {rec['id']!r} 'rationale' must map technique IDs to one line each")
    return WriteUp(str(rec["id"]), rec["text"], tuple(str(t) for t in labels),
                   {str(k): str(v) for k, v in rationale.items()})


def load_writeups(path: Path, subset: str | None = None) -> list[WriteUp]:
    records = read_records(path)
    if subset is not None:
        records = select(path, records, subset)
    return [to_writeup(rec, str(path)) for rec in records]


def _bundled_folder() -> Path:
    from mapper.files import data_dir

    return data_dir() / "eval"


def benchmark_writeups() -> list[WriteUp]:
    """The dev half of the wild benchmark and our first write-ups."""
    folder = _bundled_folder()
    return ([w for name in WILD_FILES for w in load_writeups(folder / name, "dev")]
            + [w for name in FIRST_FILES for w in load_writeups(folder / name)])


def corpus_enabled() -> bool:
    """``ATLAS_MAPPER_CORPUS=off`` trains the default model without the labelled corpus: a first run in seconds
    rather than minutes, for a quick look or a test of the plumbing, at the cost of its accuracy. The model's
    cache key records the choice, so the two models never stand in for each other."""
    value = os.environ.get(CORPUS_SETTING, "on").strip().lower()
    if value not in ("on", "off"):
        raise UsageError(f"{CORPUS_SETTING} must be 'on' or 'off', not {value!r}")
    return value == "on"


def bundled_writeups() -> list[WriteUp]:
    """What the default model learns from beside the case studies, shipped with the package: the
    :func:`benchmark_writeups` and the labelled corpus's training texts
    (:func:`mapper.model.corpus.shipped_writeups`; unless :func:`corpus_enabled` says off). The evaluation
    harness scores any of them by cross-validation, never with a model that saw them."""
    from mapper.model.corpus import shipped_writeups  # it builds on WriteUp

    return benchmark_writeups() + (shipped_writeups() if corpus_enabled() else [])


def bundled_key() -> str:
    """A digest of the bundled write-up files and their split, for the model's cache key: reading bytes
    is cheap, while parsing the YAML (about 0.3 s) is left to the rare run that trains."""
    folder = _bundled_folder()
    digest = hashlib.sha256()
    for name in (*WILD_FILES, f"wild/{SPLIT_FILE}", *FIRST_FILES):
        digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    if corpus_enabled():
        from mapper.model.corpus import corpus_key

        digest.update(corpus_key().encode())
    return digest.hexdigest()


def writeups_key(writeups: list[WriteUp]) -> str:
    """A digest of training write-ups, for the model's cache key."""
    payload = [[w.id, w.text, list(w.techniques), sorted(w.rationale.items())] + ([sorted(w.rejected)] if w.rejected else [])
               for w in writeups]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()
