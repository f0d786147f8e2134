"""The real-report corpus: genai-incidents records, read from the pinned installed package, grouped by
event, sampled by stratum, and split by a rule frozen before anything is trained on them.

Third-party text is never committed: what this module writes (``data/labelling/real/sample.jsonl``)
holds each record's id, the sha256 of the text we label, its source, attack vector, event group and
split. The text is read again from the installed package by :mod:`mapper.model.corpus` (the model trains
on the corpus), and a record whose text no longer matches its sha256 is refused.

Run: ``python -m atlas_eval.corpus sample --size N`` (needs ``pip install genai-incidents==2.13.0``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from mapper.errors import InputError
from mapper.files import atomic_write_text
# the reading half (the pinned package, text digests, gold labels as write-ups) is the product's: it trains on it
from mapper.model.corpus import gold_writeups, load_records, overlap_items, read_sample, text_of, text_sha256

SAMPLE = "labelling/real/sample.jsonl"
# Sources by the host of a record's primary reference (everything else: "writeup", vendor and researcher posts).
SOURCES = {"nvd.nist.gov": "nvd", "oecd.ai": "oecd", "www.aiaaic.org": "aiaaic", "incidentdatabase.ai": "aiid",
           "github.com": "github", "avidml.org": "avid", "arxiv.org": "arxiv", "atlas.mitre.org": "atlas"}
NVD_SHARE = 1 / 3  # NVD records are capped at a third of the sample
TEST_SHARE = 0.25  # of event groups, by a hash of the group's key: frozen before any label is seen
# TF-IDF cosine at or above which two records are one event: of whole texts, or (stricter: titles are short and
# formulaic) of titles alone
SAME_EVENT = {("title", "description"): 0.7, ("title",): 0.85}








def source_of(record: dict) -> str:
    return SOURCES.get(urlparse(record.get("primary_reference") or "").netloc, "writeup")


def eligible(record: dict) -> bool:
    """Never the curated tier (kept for an independent check) nor ATLAS's own case studies."""
    return record.get("quality_tier") != "curated" and source_of(record) != "atlas"


def event_groups(records: list[dict]) -> dict[str, str]:
    """Record id -> event key (the smallest id of its group). One event: a shared CVE, a shared primary
    reference, or texts or titles whose TF-IDF cosine reaches ``SAME_EVENT`` (one story told by several
    sources). Groups chain (single link), so a family of near-identical advisories is one group: a split
    then never puts one member in training and another in test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors

    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, rec in enumerate(records):
        for key in [*(f"cve:{c}" for c in rec.get("cve_ids") or ()), f"ref:{rec.get('primary_reference') or i}"]:
            union(i, first.setdefault(key, i))
    # the same story retold by several sources shares most of its words, or at least its title's
    for fields, cosine in SAME_EVENT.items():
        try:
            vectors = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2).fit_transform(
                [" ".join(r.get(f) or "" for f in fields) for r in records])
        except ValueError:  # no word is shared by two records: nothing to join
            continue
        neighbours = NearestNeighbors(radius=1 - cosine, metric="cosine").fit(vectors)
        for i, near in enumerate(neighbours.radius_neighbors(vectors, return_distance=False)):
            for j in near:
                union(i, int(j))
    members: dict[int, list[str]] = defaultdict(list)
    for i, rec in enumerate(records):
        members[find(i)].append(rec["id"])
    return {rid: min(ids) for ids in members.values() for rid in ids}


def split_of(group: str) -> str:
    """``test`` for a fixed share of event groups, by a hash of the group key alone."""
    digest = hashlib.sha256(f"atlas-mapper-corpus-split:{group}".encode()).hexdigest()
    return "test" if int(digest[:8], 16) / 16**8 < TEST_SHARE else "train"


def sample(records: list[dict], size: int, seed: int = 0, exclude_groups=(), split: str | None = None) -> list[dict]:
    """``size`` eligible records, stratified by source and attack vector (NVD at most a third), one per
    event group; records that share an event with a curated one are left out (the curated tier stays an
    independent check). ``exclude_groups`` and ``split`` extend an earlier sample: only groups it does not
    hold, only of that split."""
    groups = event_groups(records)
    curated_events = {groups[r["id"]] for r in records if r.get("quality_tier") == "curated"}
    rng = np.random.default_rng(seed)
    seen_groups: set[str] = set()
    pool = []
    for i in rng.permutation(len(records)):
        rec = records[int(i)]
        group = groups[rec["id"]]
        if split is not None and split_of(group) != split:
            continue
        if eligible(rec) and group not in curated_events and group not in seen_groups and group not in exclude_groups:
            seen_groups.add(group)
            pool.append(rec)
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in pool:
        strata[(source_of(rec), rec.get("attack_vector") or "other")].append(rec)
    nvd = sum(len(v) for (src, _), v in strata.items() if src == "nvd")
    quota = {"nvd": min(int(size * NVD_SHARE), nvd)}
    quota["other"] = size - quota["nvd"]
    chosen = []
    for part in ("nvd", "other"):
        keys = [k for k in strata if (k[0] == "nvd") == (part == "nvd")]
        chosen += _stratified([strata[k] for k in sorted(keys)], quota[part])
    return [{"id": r["id"], "sha256": text_sha256(r), "source": source_of(r),
             "attack_vector": r.get("attack_vector") or "other", "group": groups[r["id"]],
             "split": split_of(groups[r["id"]])} for r in sorted(chosen, key=lambda r: r["id"])]


def _stratified(strata: list[list[dict]], n: int) -> list[dict]:
    """Round-robin over strata, so that small strata (rare attack vectors) are all taken before large ones
    fill the rest."""
    chosen, depth = [], 0
    while len(chosen) < n and any(depth < len(s) for s in strata):
        for s in strata:
            if depth < len(s) and len(chosen) < n:
                chosen.append(s[depth])
        depth += 1
    return chosen














def overlap_candidates(records: list[dict], items: dict[str, str], floor: float = 0.3) -> list[dict]:
    """Corpus records that may be about the same event as an evaluation item (``items``: id -> the words that
    name its event: a wild write-up's source title and text, a case study's name and summary), by TF-IDF cosine
    of the item's words to the record's title and description. A candidate list for a person to confirm: short
    headlines of one event rarely share enough words for a fixed cut to decide alone."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    record_texts = [f"{r.get('title') or ''} {r.get('description') or ''}" for r in records]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(record_texts + list(items.values()))
    sims = vectorizer.transform(list(items.values())) @ vectorizer.transform(record_texts).T
    out = []
    for row, item in enumerate(items):
        scores = sims[row].toarray().ravel()
        for col in np.flatnonzero(scores >= floor):
            out.append({"item": item, "record": records[col]["id"], "cosine": round(float(scores[col]), 3),
                        "title": records[col].get("title") or ""})
    return sorted(out, key=lambda c: (-c["cosine"], c["item"], c["record"]))


def training_writeups(spec: str, folder: Path | None = None) -> list:
    """The corpus's training write-ups for ``atlas-mapper eval --train-corpus SPEC``: none ("none"), or its attacks
    plus the scopes ``SPEC`` names ("attack" alone, "attack+not_ai", "attack+not_ai+ai_no_adversary": what the
    shipped model learns) as texts with no technique. Records about the same event as any evaluation item
    (``overlaps.json``, every item) never train."""
    if spec == "none":
        return []
    scopes = set(spec.split("+"))
    if not scopes <= {"attack", "not_ai", "ai_no_adversary"} or "attack" not in scopes:
        raise InputError(f"--train-corpus takes none, or attack optionally with not_ai and ai_no_adversary, joined "
                         f"by '+'; not {spec!r}")
    return gold_writeups(tuple(sorted(scopes - {"attack"})), folder, exclude_items=list(overlap_items(folder)))




def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlas_eval.corpus", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    draw = sub.add_parser("sample", help="draw the stratified sample and write its ids, digests, groups and splits")
    draw.add_argument("--size", type=int, required=True)
    draw.add_argument("--seed", type=int, default=0)
    draw.add_argument("-o", "--output", type=Path, default=Path("data") / SAMPLE)
    draw.add_argument("--extend", action="store_true", help="add records of events the output does not hold yet")
    draw.add_argument("--split", choices=("train", "test"), help="with --extend: only records of this split")
    args = parser.parse_args(argv)
    before = read_sample(args.output) if args.extend else []
    entries = sample(load_records(), args.size, args.seed, {e["group"] for e in before}, args.split)
    for e in entries:
        e["tranche"] = 1 + max((b.get("tranche", 1) for b in before), default=0)
    entries = sorted(before + entries, key=lambda e: e["id"])
    atomic_write_text(args.output, "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    counts = Counter((e["split"], e["source"]) for e in entries)
    print(f"wrote {len(entries)} records to {args.output}: " + ", ".join(f"{k[0]}/{k[1]} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    from atlas_eval import run_module

    run_module(main)
