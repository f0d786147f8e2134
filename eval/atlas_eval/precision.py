"""Does the int8 encoder map as well as float32? Judged on the harness, paired query by query.

    python -m atlas_eval.precision --atlas ../shared/atlas/releases/v2026.05/ATLAS-2026.05.yaml \\
        -o eval/results/precision

The shipped pipeline is evaluated twice, its sentence encoder on ONNX Runtime in float32 and in int8, on the
same folds of two checks: the wild write-ups' dev half (cross-validated over write-ups) and leave-one-case-study-
out narratives (the first ``--max-folds`` studies). Each query's average precision under int8 is paired with
its own under float32; int8 passes a check when its MAP is within ``--tolerance`` (0.01) of float32's. The
interval is a 95% bootstrap of the paired difference, resampling queries. Writes each run's usual report to
``OUT/<backend>/`` and the comparison to ``OUT/precision.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from atlas_eval.metrics import percentile_interval, resample_weights

TOLERANCE = 0.01
REFERENCE, CANDIDATE = "onnx", "onnx-int8"
WILD = ["data/eval/wild/ai.yaml", "data/eval/wild/non_ai.yaml"]
# check name -> (run_eval arguments, the dataset whose MAP is judged, its report's file name as `eval -o` writes it)
CHECKS = {
    "wild dev MAP": (dict(tasks=WILD, subset="dev"), "ai-dev", "ai-dev-external"),
    "loco narrative MAP": (dict(tasks=["narrative"], protocol="loco"), "narrative", "narrative-loco"),
}


def per_query_ap(report: dict, method: str = "default") -> dict[str, float]:
    """Average precision per labelled query of one method in one harness report."""
    return {item["id"]: float(item["metrics"]["AP"]) for item in report["methods"][method]["items"]
            if "AP" in item.get("metrics", {})}


def paired(reference: dict, candidate: dict, tolerance: float = TOLERANCE, method: str = "default") -> dict:
    """MAP of both runs over the queries both scored, their paired difference with a 95% interval, and whether
    the candidate is within ``tolerance`` of the reference."""
    ref, cand = per_query_ap(reference, method), per_query_ap(candidate, method)
    qids = sorted(set(ref) & set(cand))
    if not qids or len(qids) != len(ref) or len(qids) != len(cand):
        raise ValueError("the two runs did not score the same queries; run them on the same folds")
    diffs = np.array([cand[q] - ref[q] for q in qids])
    weights = resample_weights(qids, {})
    delta = float(diffs.mean())
    return {
        "queries": len(qids),
        "reference_map": round(float(np.mean([ref[q] for q in qids])), 4),
        "candidate_map": round(float(np.mean([cand[q] for q in qids])), 4),
        "difference": round(delta, 4),
        "difference_ci": percentile_interval(weights @ diffs / weights.sum(axis=1)),
        "queries_changed": int((np.abs(diffs) > 1e-9).sum()),
        "tolerance": tolerance,
        "within_tolerance": bool(abs(delta) <= tolerance),
    }


def run_checks(atlas: str, backend: str, out: Path, max_folds: int, reuse: bool = False, checks=CHECKS,
               model: str | None = None) -> dict:
    """Every check's report for one encoder backend, written to ``out/<backend>/`` as ``eval -o`` writes it;
    ``reuse``: read a report already there instead of running its check again."""
    from atlas_eval.harness import build_context, run_eval
    from atlas_eval.report import write_outputs

    ctx = None
    reports = {}
    for name, (kwargs, dataset, stem) in checks.items():
        saved = out / backend / f"{stem}.json"
        if reuse and saved.is_file():
            reports[name] = json.loads(saved.read_text(encoding="utf-8"))
            continue
        ctx = ctx or build_context(atlas, model=model, backend=backend)
        result = run_eval(methods=["default"], ctx=ctx, progress=True,
                          max_folds=None if "subset" in kwargs else max_folds, **kwargs)
        write_outputs(result[dataset], out / backend, stem, command=" ".join(map(shlex.quote, sys.argv)))
        reports[name] = result[dataset]
    return reports


def compare(reference: dict, candidate: dict, tolerance: float = TOLERANCE) -> dict:
    """The paired comparison of every check, and the decision: int8 is adopted only if every check passes."""
    checks = {name: paired(reference[name], candidate[name], tolerance) for name in reference}
    return {"reference": REFERENCE, "candidate": CANDIDATE, "checks": checks,
            "adopt": all(c["within_tolerance"] for c in checks.values())}


def render(result: dict, command: str) -> str:
    lines = [
        "# int8 against float32 on the evaluation harness",
        "",
        f"The shipped pipeline with its encoder on ONNX Runtime in float32 ({result['reference']}) and in int8 "
        f"({result['candidate']}), the same folds. Paired by query; interval: 95% bootstrap over queries.",
        "",
        "| check | queries | float32 MAP | int8 MAP | int8 - float32 [95% CI] | queries whose AP moved | within 0.01 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in result["checks"].items():
        lo, hi = c["difference_ci"]
        lines.append(f"| {name} | {c['queries']} | {c['reference_map']:.4f} | {c['candidate_map']:.4f} | "
                     f"{c['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}] | {c['queries_changed']} | "
                     f"{'yes' if c['within_tolerance'] else 'no'} |")
    verdict = "adopted as the default" if result["adopt"] else "not adopted: float32 stays the default"
    lines += ["", f"int8: {verdict}.", "",
              f"Each run's own report is in `{result['reference']}/` and `{result['candidate']}/` beside this file "
              "(`atlas-mapper eval ... -o` with `ATLAS_MAPPER_BACKEND` set writes the same; `--reuse` compares "
              "reports already there).", "", f"Command: `{command}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atlas", required=True)
    parser.add_argument("-o", "--output", type=Path, default=Path("eval/results/precision"))
    parser.add_argument("--max-folds", type=int, default=12, help="leave-one-case-study-out folds (narratives)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--reuse", action="store_true", help="compare the reports already in OUT/<backend>/")
    args = parser.parse_args(argv)
    reports = {b: run_checks(args.atlas, b, args.output, args.max_folds, args.reuse) for b in (REFERENCE, CANDIDATE)}
    result = compare(reports[REFERENCE], reports[CANDIDATE], args.tolerance)
    command = "python -m atlas_eval.precision " + " ".join(map(shlex.quote, argv if argv is not None else sys.argv[1:]))
    result["command"] = command
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "precision.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (args.output / "precision.md").write_text(render(result, command), encoding="utf-8")
    print(render(result, command))


if __name__ == "__main__":
    main()
