"""Collect the headline figures of committed results into summary.json and a Markdown table.

    python -m atlas_eval.summary eval/results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mapper.files import atomic_write_text

CV = "case studies + other write-ups (5-fold CV over write-ups)"
HEADLINE = [
    # write-ups in the wild first: what users meet. The test half is scored once, with the model the dev half chose.
    ("ai-test-external", "wild AI write-ups (test half)", "case studies + dev-half write-ups",
     ["reported", "MAP", "R@10", "Success@1", "covered", "ECE"]),
    ("non_ai-test-external", "wild non-AI write-ups (test half)", "case studies + dev-half write-ups", ["abstention"]),
    ("ai-dev-external", "wild AI write-ups (dev half)", CV, ["reported", "MAP", "R@10", "Success@1", "covered", "ECE"]),
    ("non_ai-dev-external", "wild non-AI write-ups (dev half)", CV, ["abstention"]),
    ("steps-loco", "steps", "loco", ["Success@1", "Success@5", "Success@10", "RR"]),
    ("narrative-loco", "narrative", "loco", ["MAP", "R@10", "nDCG@10", "F1-micro", "covered"]),
    ("summary-loco", "summary", "loco", ["MAP", "R@10", "nDCG@10", "F1-micro"]),
    ("narrative-temporal-v5.0.0", "narrative", "temporal (trained on the v5.0.0 release as it was)",
     ["MAP", "R@10", "nDCG@10", "F1-micro"]),
    ("steps-temporal-v5.0.0", "steps", "temporal (trained on the v5.0.0 release as it was)", ["Success@1", "Success@5"]),
    ("non_ai_incidents-external", "non-AI write-ups (ours)", CV, ["abstention"]),
    ("ai_incidents-external", "AI write-ups (ours)", CV, ["MAP", "R@10", "Success@1"]),
]


def figure(method: dict, metric: str) -> dict:
    """{"value": x, "ci": [lo, hi]}; either is None where it could not be computed (or an older file lacks it).
    ECE (expected calibration error of the technique scores, all pairs) has no interval."""
    if metric == "ECE":
        return {"value": method.get("calibration", {}).get("ECE"), "ci": None}
    return {"value": method["metrics"].get(metric), "ci": method.get("ci", {}).get(metric)}


def quoted(fig: dict) -> str:
    """'0.580 [0.52, 0.64]': every figure with its 95% bootstrap interval."""
    if fig["value"] is None:
        return "-"
    return f"{fig['value']:.3f}" + (f" [{fig['ci'][0]:.2f}, {fig['ci'][1]:.2f}]" if fig["ci"] else "")


def best_baseline(methods: dict, metric: str) -> str:
    # baselines only: variants of the default pipeline ("default:...") are ablations, not baselines
    others = {k: figure(v, metric) for k, v in methods.items() if k.split(":")[0] != "default"}
    others = {k: f for k, f in others.items() if f["value"] is not None}
    if not others:
        return "-"
    lower_is_better = metric == "ECE"
    name, fig = (min if lower_is_better else max)(others.items(), key=lambda kv: kv[1]["value"])
    return f"{quoted(fig)} ({name})"


def summarise(directory: Path) -> tuple[dict, str]:
    summary = {}
    lines = ["| task | protocol | metric | default | best baseline |", "|---|---|---|---|---|"]
    for stem, task, protocol, metrics in HEADLINE:
        path = directory / f"{stem}.json"
        if not path.is_file():
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        methods = report["methods"]
        if "default" not in methods:
            continue
        if "atlas" in report:  # which release the figures were measured on (model cards quote it)
            summary.setdefault("atlas", report["atlas"])
        summary[stem] = {m: figure(methods["default"], m) for m in metrics}
        for metric in metrics:
            lines.append(f"| {task} | {protocol} | {metric} | {quoted(summary[stem][metric])} | "
                         f"{best_baseline(methods, metric)} |")
    lines += ["", "Brackets: 95% bootstrap interval, resampling whole case studies (an external write-up is its own unit)."]
    return summary, "\n".join(lines) + "\n"


def main(argv=None) -> int:
    directory = Path((argv or sys.argv[1:] or ["eval/results"])[0])
    summary, table = summarise(directory)
    atomic_write_text(directory / "summary.json", json.dumps(summary, indent=1, allow_nan=False) + "\n")
    atomic_write_text(directory / "headline.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
