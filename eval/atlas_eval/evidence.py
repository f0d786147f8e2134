"""Does the evidence point where a careful reader would? Cited sentences against the wild benchmark's rationales.

Every label of the wild benchmark's dev half has a one-line rationale. Two annotators, working apart, marked
which sentences of the write-up each rationale line relies on (``data/labelling/evidence/``: their instructions
and answers). For every labelled technique the mapper lists, this scores the sentences it cites:

- ``precision``: the share of cited sentences that a rationale line points at (the issue's measure);
- ``recall``: the share of pointed-at sentences that are cited;
- ``cited per technique``.

"Pointed at" is scored two ways: by either annotator (lenient) and by both (strict). The mapper is the product's
(:meth:`Mapper.map`), trained as shipped, by the harness's 5-fold cross-validation over the dev half (the same
folds as ``atlas-mapper eval --subset dev``): no write-up is scored by a model that learned from it. Each citing
rule is applied to the same unit scores: the product's (:func:`mapper.pipeline.cited_units`) and the rules it
replaced or was weighed against (the strongest three sentences, the single strongest).

Run: ``python -m atlas_eval.evidence --atlas ATLAS-2026.05.yaml -o eval/results/evidence`` (five trainings with
the corpus: about 20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from atlas_eval.harness import build_context
from atlas_eval.runner import WRITEUP_FOLDS, _writeup_folds
from mapper.errors import InputError
from mapper.files import atomic_write_text
from mapper.model.writeups import bundled_writeups, load_writeups
from mapper.pipeline import MAX_EVIDENCE, Mapper, cited_units, strongest_first
from mapper.text import text_units

LABELS = Path(__file__).resolve().parents[2] / "data" / "labelling" / "evidence"
WILD = Path(__file__).resolve().parents[2] / "data" / "eval" / "wild"
ANNOTATORS = ("a", "b")


def rules(threshold: float) -> dict:
    """Citing rules, each (unit scores of one technique) -> cited sentence indices."""
    return {"shipped (calibrated cut)": lambda s: cited_units(s, threshold),
            f"strongest {MAX_EVIDENCE} (before)": lambda s: strongest_first(s)[:MAX_EVIDENCE],
            "strongest 1": lambda s: strongest_first(s)[:1]}


def read_pointers(folder: Path = LABELS) -> dict[str, dict[tuple[str, str], set[int]]]:
    """Annotator -> (write-up id, technique) -> the sentence indices its rationale line points at."""
    out = {}
    for who in ANNOTATORS:
        rows = [json.loads(line) for line in (folder / f"pointers-{who}.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip()]
        out[who] = {(r["id"], r["technique"]): set(r["sentences"]) for r in rows}
    return out


def check_pointers(pointers: dict, writeups) -> None:
    """Every label of every write-up has a pointer from each annotator, to sentences the splitter still makes."""
    for w in writeups:
        n = len(text_units(w.text)[1])
        for tid in w.techniques:
            for who, given in pointers.items():
                if (w.id, tid) not in given:
                    raise InputError(f"annotator {who} has no pointer for {w.id} {tid}")
                if any(not 0 <= i < n for i in given[(w.id, tid)]):
                    raise InputError(f"annotator {who}'s pointer for {w.id} {tid} names a sentence the text no longer "
                                     f"has ({n} sentences): the splitter or the text changed; annotate again")


def agreement(pointers: dict) -> dict:
    a, b = (pointers[w] for w in ANNOTATORS)
    keys = sorted(a)
    jaccard = [len(a[k] & b[k]) / max(len(a[k] | b[k]), 1) for k in keys]
    return {"labels": len(keys), "identical": sum(a[k] == b[k] for k in keys), "mean Jaccard": round(float(np.mean(jaccard)), 4),
            "sentences a": sum(len(a[k]) for k in keys), "sentences b": sum(len(b[k]) for k in keys)}


def score(rows: list[dict], seed: int = 0, n_boot: int = 2000) -> dict:
    """Micro precision/recall over (write-up, technique) rows, with 95% bootstrap intervals over write-ups."""
    ids = sorted({r["id"] for r in rows})
    by_id = {q: [r for r in rows if r["id"] == q] for q in ids}

    def sums(chosen):
        cited = sum(len(r["cited"]) for q in chosen for r in by_id[q])
        return {kind: (sum(len(r["cited"] & r[kind]) for q in chosen for r in by_id[q]), cited,
                       sum(len(r[kind]) for q in chosen for r in by_id[q])) for kind in ("either", "both")}

    def figures(chosen) -> dict:
        out = {}
        for kind, (hit, cited, pointed) in sums(chosen).items():
            out[f"precision ({kind})"] = hit / cited if cited else 0.0
            out[f"recall ({kind})"] = hit / pointed if pointed else 0.0
        out["cited per technique"] = sum(len(r["cited"]) for q in chosen for r in by_id[q]) / max(
            sum(len(by_id[q]) for q in chosen), 1)
        return out

    point = figures(ids)
    rng = np.random.default_rng(seed)
    boots = [figures([ids[i] for i in rng.integers(0, len(ids), len(ids))]) for _ in range(n_boot)]
    return {name: {"value": round(value, 4),
                   "ci95": [round(float(np.percentile([b[name] for b in boots], p)), 4) for p in (2.5, 97.5)]}
            for name, value in point.items()}


def measure(ctx, cache: Path) -> dict:
    """Train the shipped model on each fold and score each rule's citations on the held-out write-ups."""
    pointers = read_pointers()
    dev = load_writeups(WILD / "ai.yaml", "dev")
    check_pointers(pointers, dev)
    shipped = bundled_writeups()
    trained_on = {w.id for w in shipped}
    dev_ids = [w.id for name in ("ai.yaml", "non_ai.yaml") for w in load_writeups(WILD / name, "dev")]
    folds = _writeup_folds([q for q in dev_ids if q in trained_on], WRITEUP_FOLDS)
    rows: dict[str, list[dict]] = {}
    thresholds = []
    for held in map(set, folds):
        mapper = Mapper.from_parts(ctx.kb, ctx.encoder, ctx.index, cache, writeups=[w for w in shipped if w.id not in held])
        thresholds.append(mapper.threshold)
        for w in (w for w in dev if w.id in held):
            listed = {h.id for h in mapper.map(w.text).techniques}
            _, units, _, vectors, per_unit = mapper.score_text(w.text)
            labelled = [t for t in w.techniques if t in listed]
            if not labelled:
                continue
            columns = [mapper.index.ids.index(t) for t in labelled]
            unit_scores = mapper.ranker.unit_scores(per_unit, vectors, columns)
            for name, rule in rules(mapper.threshold).items():
                for j, tid in enumerate(labelled):
                    a, b = (pointers[who][(w.id, tid)] for who in ANNOTATORS)
                    rows.setdefault(name, []).append({"id": w.id, "technique": tid, "cited": set(rule(unit_scores[:, j])),
                                                      "either": a | b, "both": a & b})
    first = next(iter(rows.values()))
    return {"write-ups": len({r["id"] for r in first}), "labelled techniques listed": len(first),
            "fold thresholds": thresholds, "agreement": agreement(pointers),
            "rules": {name: score(r) for name, r in rows.items()}}


def render(result: dict, command: str) -> str:
    cols = ["precision (either)", "precision (both)", "recall (either)", "recall (both)", "cited per technique"]
    agree = result["agreement"]
    lines = ["# Evidence against the wild dev half's rationale lines", "",
             f"{result['labelled techniques listed']} labelled techniques that the mapper lists, in "
             f"{result['write-ups']} write-ups of the dev half, each scored by a model that did not learn from it "
             "(5-fold cross-validation, the shipped training). Precision: the share of cited sentences that a "
             "rationale line points at, by either annotator or by both; 95% bootstrap intervals over write-ups.", "",
             f"Annotators: {agree['identical']} of {agree['labels']} labels point at identical sentences, mean "
             f"Jaccard {agree['mean Jaccard']}.", "", "Reproduce with:", "", f"    {command}", "",
             "| rule | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, figures in result["rules"].items():
        cells = [f"{figures[c]['value']:.3f} [{figures[c]['ci95'][0]:.3f}, {figures[c]['ci95'][1]:.3f}]" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlas_eval.evidence", description=__doc__.split("\n\n")[0])
    parser.add_argument("--atlas", type=Path, required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=None, help="Keep the fold models here (default: a temporary folder).")
    args = parser.parse_args(argv)
    ctx = build_context(args.atlas)
    with tempfile.TemporaryDirectory() as scratch:
        result = measure(ctx, args.cache or Path(scratch))
    command = f"python -m atlas_eval.evidence --atlas {args.atlas} -o {args.output}"
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output / "evidence.json", json.dumps({"command": command, **result}, indent=1) + "\n")
    atomic_write_text(args.output / "evidence.md", render(result, command))
    print(render(result, command))
    return 0


if __name__ == "__main__":
    from atlas_eval import run_module

    run_module(main)
