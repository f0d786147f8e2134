"""The learning curve of the labelled corpus: the default pipeline trained on growing shares of the corpus's
training texts, scored on one fixed fold of the training split's reports that no point trains on.

Every point trains on the case studies, the benchmark write-ups (the wild dev half, our first write-ups) and a
random share of the corpus's training texts (attacks and both kinds of negative, in proportion), less the
held-out fold and the records about any evaluation item's event. The held-out fold is the first of the five
folds ``atlas-mapper eval --task corpus:train`` uses, so the full-corpus point is that run's first fold.

Run: ``python -m atlas_eval.curve --atlas ATLAS-2026.05.yaml -o eval/results/corpus-dev`` (one training per
point: about ten minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from atlas_eval.corpus import training_writeups
from atlas_eval.datasets import corpus_task
from atlas_eval.harness import build_context
from atlas_eval.methods import parse_method
from atlas_eval.metrics import canonical_ranking, predicted_sets, ranking_metrics
from atlas_eval.runner import WRITEUP_FOLDS, _writeup_folds
from mapper.files import atomic_write_text
from mapper.model.corpus import DEFAULT_NEGATIVES
from mapper.model.writeups import benchmark_writeups

SHARES = (0.0, 0.125, 0.25, 0.5, 1.0)


def curve(ctx, shares=SHARES, seed: int = 0) -> tuple[list[dict], int]:
    """(one point per share, how many reports the held-out fold scores)."""
    data = corpus_task(ctx.kb, "train")
    corpus = training_writeups("+".join(("attack", *DEFAULT_NEGATIVES)))
    held = set(_writeup_folds([q for q in data.queries if q in {w.id for w in corpus}], WRITEUP_FOLDS)[0])
    pool = [w for w in corpus if w.id not in held]
    order = np.random.default_rng(seed).permutation(len(pool))  # nested shares: each point adds to the last
    qrels = {q: r for q, r in data.qrels.items() if q in held and r}
    others = [q for q in held if q in data.out_of_scope]
    _, cls, params = parse_method("default")
    points = []
    for share in shares:
        chosen = [pool[i] for i in order[:round(share * len(pool))]]
        method = cls(ctx, **params).fit(ctx.kb.case_studies, benchmark_writeups() + chosen)
        run = method.rank({q: data.queries[q] for q in held})
        predicted = predicted_sets(run, method.query_thresholds(run))
        agg, _ = ranking_metrics(qrels, canonical_ranking(run))
        points.append({"share": share, "corpus_texts": len(chosen), "MAP": round(agg["MAP"], 4),
                       "R@10": round(agg["R@10"], 4), "Success@1": round(agg["Success@1"], 4),
                       "attacks given a technique": round(float(np.mean([bool(predicted[q]) for q in qrels])), 4),
                       "others left alone": round(float(np.mean([not predicted[q] for q in others])), 4)})
        print(json.dumps(points[-1]), flush=True)
    return points, len(held)


def render(points: list[dict], held: int, command: str) -> str:
    cols = ["corpus_texts", "MAP", "R@10", "Success@1", "attacks given a technique", "others left alone"]
    lines = ["# Learning curve: the corpus's training texts", "",
             f"Scored on one fixed fold of the training split ({held} reports) that no point trains on.", "",
             "Reproduce with:", "", f"    {command}", "", "| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    lines += ["| " + " | ".join(str(p[c]) for c in cols) + " |" for p in points]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlas_eval.curve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--atlas", type=Path, required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    ctx = build_context(args.atlas)
    points, held = curve(ctx)
    command = f"python -m atlas_eval.curve --atlas {args.atlas} -o {args.output}"
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output / "curve.json", json.dumps({"command": command, "points": points}, indent=1) + "\n")
    atomic_write_text(args.output / "curve.md", render(points, held, command))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = [p["corpus_texts"] for p in points]
    for name in ("MAP", "Success@1", "attacks given a technique", "others left alone"):
        ax.plot(x, [p[name] for p in points], marker="o", label=name)
    ax.set_xlabel("corpus training texts")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("Learning curve (held-out fold of the corpus's training split)")
    fig.tight_layout()
    fig.savefig(args.output / "curve.png", dpi=100)
    return 0


if __name__ == "__main__":
    from atlas_eval import run_module

    run_module(main)
