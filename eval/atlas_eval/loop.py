"""Does the review loop teach the model a team's wording? A simulation on the write-ups in the wild.

The pool is the dev half of the wild benchmark (data/eval/wild: 30 write-ups about AI, 20 not); the frozen
test half is never pooled, so the curve never sees what the final scores are measured on.
The starting model learns from the case studies and our first write-ups only, so no wild write-up
is in it. For each of several random orders of the pool, the last ``len(pool) - max(ks)`` write-ups
are the evaluation set of that order, and for each k the first k write-ups are reviewed:

1. the starting model maps the write-up (what the reviewer would see);
2. the reviewer, played by the gold labels, accepts the suggestions that are gold, rejects the
   others, adds the gold techniques it missed, and attaches to each kept technique the sentence of
   the text nearest its gold rationale line, exactly through the product's own review path
   (:func:`mapper.model.reviews.reviewed_techniques`, :func:`mapper.model.reviews.review_writeup`);
3. the model is retrained with the k reviewed write-ups added (``Workbench.retrain`` does the same);
4. the evaluation set is scored: ranking metrics on the AI write-ups, and on the others whether
   nothing is listed, as the product lists it.

Nothing is tuned here: the ranker's parameters are the shipped defaults. Differences with k = 0 are
paired per write-up and order, with a 95% bootstrap interval over write-ups.

    python -m atlas_eval.loop --atlas ../shared/atlas/releases/v2026.05/ATLAS-2026.05.yaml -o eval/results
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from atlas_eval.harness import build_context
from atlas_eval.methods import Pipeline
from atlas_eval.metrics import canonical_ranking, predicted_sets, ranking_metrics
from mapper.files import data_dir
from mapper.model.reviews import Review, review_writeup, reviewed_techniques
from mapper.model.writeups import FIRST_FILES, WILD_FILES, WriteUp, load_writeups
from mapper.pipeline import Mapper
from mapper.text import text_units

KS = (0, 5, 10, 20, 30)
METRICS = ("AP", "R@10", "Success@1")
NOTHING = "nothing listed"  # on a write-up not about AI: the right answer
N_BOOT = 1000


def pool_and_base() -> tuple[list[WriteUp], list[WriteUp]]:
    folder = data_dir() / "eval"
    pool = [w for name in WILD_FILES for w in load_writeups(folder / name, "dev")]
    base = [w for name in FIRST_FILES for w in load_writeups(folder / name)]
    return pool, base


def nearest_sentence(encoder, text: str, line: str) -> tuple[int, int] | None:
    spans = text_units(text)[1]
    if not spans or not line.strip():
        return None
    sims = encoder.encode([s.text for s in spans]) @ encoder.encode([line])[0]
    best = spans[int(np.argmax(sims))]
    return best.start, best.end


def simulated_review(mapper: Mapper, w: WriteUp) -> WriteUp:
    """What a reviewer with the gold labels would leave, through the product's review path."""
    kb = mapper.kb
    result = mapper.map(w.text).to_dict()
    gold = {kb.resolve_id(t) for t in w.techniques} - {None}
    listed = [h["id"] for h in result["techniques"]]
    reviews = []
    for tid in listed:
        reviews.append(Review(tid, "accept" if tid in gold else "reject"))
    for tid in sorted(gold - set(listed)):
        reviews.append(Review(tid, "add"))
    with_evidence = []
    for r in reviews:
        line = next((v for t, v in w.rationale.items() if kb.resolve_id(t) == r.technique), "")
        span = nearest_sentence(mapper.encoder, w.text, line) if r.decision != "reject" else None
        with_evidence.append(Review(r.technique, r.decision, (span,) if span else ()))
    kept = reviewed_techniques(result, with_evidence, kb, w.text)
    rejected = [r.technique for r in with_evidence if r.decision == "reject"]
    return review_writeup(w.id, w.text, kept, rejected)


def score(method: Pipeline, items: list[WriteUp], kb) -> dict[str, dict]:
    """Per write-up: AP, R@10, Success@1 (AI) or whether nothing was listed (not AI)."""
    run = method.rank({w.id: w.text for w in items})
    listed = predicted_sets(run, method.query_thresholds(run))
    qrels = {w.id: {kb.resolve_id(t): 1 for t in w.techniques if kb.resolve_id(t)} for w in items if w.ai}
    _, per_query = ranking_metrics(qrels, canonical_ranking(run))
    out = {}
    for w in items:
        out[w.id] = ({m: per_query[w.id][m] for m in METRICS} if w.ai
                     else {NOTHING: float(not listed.get(w.id))})
    return out


def simulate(ctx, orders: int = 5, ks=KS, seed: int = 0, log=print) -> dict:
    pool, base = pool_and_base()
    kb = ctx.kb
    start = Pipeline(ctx).fit(kb.case_studies, base)
    start_mapper = Mapper(kb, ctx.encoder, ctx.index, start.ranker_)
    rng = np.random.default_rng(seed)
    per_item: dict[str, dict] = {}  # "order/k" -> {item: metrics}
    for order in range(orders):
        shuffled = [pool[i] for i in rng.permutation(len(pool))]
        held_out = shuffled[max(ks):]
        for k in ks:
            began = time.time()
            reviewed = [simulated_review(start_mapper, w) for w in shuffled[:k]]
            method = start if k == 0 else Pipeline(ctx).fit(kb.case_studies, base + reviewed)
            per_item[f"{order}/{k}"] = score(method, held_out, kb)
            log(f"order {order} k={k}: {time.time() - began:.0f} s")
    return summarise(per_item, orders, ks, len(pool), len(pool) - max(ks), seed)


def summarise(per_item: dict, orders: int, ks, n_pool: int, n_eval: int, seed: int) -> dict:
    """Means over orders and write-ups; the change from k = 0 paired per write-up and order, its interval a
    bootstrap over write-ups (a write-up scored in several orders is one unit, its changes averaged)."""
    rng = np.random.default_rng(seed)
    table = {}
    for k in ks:
        row = {}
        for metric in (*METRICS, NOTHING):
            values, deltas = [], {}
            for order in range(orders):
                now, before = per_item[f"{order}/{k}"], per_item[f"{order}/0"]
                for q in (q for q in now if metric in now[q]):
                    values.append(now[q][metric])
                    deltas.setdefault(q, []).append(now[q][metric] - before[q][metric])
            units = np.array([np.mean(d) for d in deltas.values()])
            weights = np.array([len(d) for d in deltas.values()], dtype=float)
            draws = rng.integers(0, len(units), size=(N_BOOT, len(units))) if len(units) else np.zeros((1, 0), int)
            boot = [(units[i] * weights[i]).sum() / weights[i].sum() if len(i) else 0.0 for i in draws]
            mean_delta = float((units * weights).sum() / weights.sum()) if len(units) else 0.0
            row[metric] = {"mean": round(float(np.mean(values)), 4), "n": len(values), "writeups": len(units),
                           "vs_k0": round(mean_delta, 4),
                           "vs_k0_ci": [round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)]}
        table[str(k)] = row
    return {"ks": list(ks), "orders": orders, "pool": n_pool, "evaluated_per_order": n_eval, "seed": seed,
            "table": table, "per_item": per_item}


def render_markdown(report: dict, command: str) -> str:
    names = {"AP": "MAP", "R@10": "R@10", "Success@1": "Success@1", NOTHING: "non-AI: nothing listed"}
    lines = ["# Review loop: learning curve on write-ups in the wild", "",
             f"{report['orders']} random orders of the {report['pool']} wild write-ups; in each, the last "
             f"{report['evaluated_per_order']} are scored after k of the first ones were reviewed (by their gold labels) "
             "and the model retrained. Start: case studies and our first write-ups, no wild write-up. "
             "Mean over orders and write-ups; in brackets the change from k = 0, paired, with its 95% bootstrap interval "
             "over write-ups.", "",
             "| k reviewed | " + " | ".join(names.values()) + " |", "|---|" + "---|" * len(names)]
    for k, row in report["table"].items():
        cells = []
        for metric in names:
            cell = row[metric]
            lo, hi = cell["vs_k0_ci"]
            cells.append(f"{cell['mean']:.3f}" + ("" if k == "0" else f" ({cell['vs_k0']:+.3f} [{lo:+.3f}, {hi:+.3f}])"))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def render_plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = report["ks"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for metric, label in (("AP", "MAP"), ("R@10", "R@10"), ("Success@1", "Success@1"), (NOTHING, "non-AI: nothing listed")):
        means = [report["table"][str(k)][metric]["mean"] for k in ks]
        base = means[0]
        lo = [base + report["table"][str(k)][metric]["vs_k0_ci"][0] for k in ks]
        hi = [base + report["table"][str(k)][metric]["vs_k0_ci"][1] for k in ks]
        ax.plot(ks, means, marker="o", label=label)
        ax.fill_between(ks, lo, hi, alpha=0.15)
    ax.set_xlabel("write-ups reviewed and learned from (k)")
    ax.set_ylabel("score on the write-ups not reviewed")
    ax.set_ylim(0, 1)
    ax.set_title("Review loop on write-ups in the wild\n(bands: 95% interval of the change from k = 0)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atlas", default=None)
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--ks", default=",".join(map(str, KS)), help="comma-separated numbers of reviewed write-ups")
    parser.add_argument("-o", "--out", type=Path, default=Path("eval/results"))
    parser.add_argument("--summarise", action="store_true", help="recompute the tables from the saved per-item scores")
    args = parser.parse_args(argv)
    ks = tuple(sorted({int(k) for k in args.ks.split(",")} | {0}))
    if args.summarise:
        saved = json.loads((args.out / "review-loop.json").read_text(encoding="utf-8"))
        ks, orders = tuple(saved["ks"]), saved["orders"]
        report = summarise(saved["per_item"], orders, ks, saved["pool"], saved["evaluated_per_order"], saved["seed"])
    else:
        report = simulate(build_context(atlas=args.atlas), orders=args.orders, ks=ks)
    args.out.mkdir(parents=True, exist_ok=True)
    command = ("python -m atlas_eval.loop" + (f" --atlas {args.atlas}" if args.atlas else "")
               + f" --orders {report['orders']} --ks {','.join(map(str, report['ks']))}")
    (args.out / "review-loop.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (args.out / "review-loop.md").write_text(render_markdown(report, command), encoding="utf-8")
    render_plot(report, args.out / "review-loop.png")
    print(render_markdown(report, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
