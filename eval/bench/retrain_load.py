"""Mapping while the workbench retrains: does an analyst's request slow down?

    .venv/bin/python eval/bench/retrain_load.py [--atlas PATH] [--idle 60]

Starts ``atlas-mapper serve`` with the real model and a fresh database, twice: with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset in the server's environment (what users get) and set as the CI machines set them. In each,
one client maps novel write-ups of 40-80 words one after another (an analyst at work): first ``--idle`` requests
with nothing else running, then, after a review is marked done and ``POST /api/models/retrain`` is sent, for as
long as the new version trains (in its worker process). Reports p50/p95 latency of both phases, their ratio
(target: p95 during retraining at most 2x idle), errors, and how long the retraining took. Each run's review
text is new, so each retraining really trains. Writes eval/results/retrain-load.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import ROOT, machine, source_sentences, spliced_writeups  # noqa: E402
from serve_load import BLAS_VARS, DEFAULT_ATLAS, FORCED, blas_info, pct, start_server  # noqa: E402

PAUSE_S = 0.2  # an analyst's requests are not back to back; this also lets the trainer make progress


def timed_maps(http, url: str, texts, until) -> tuple[list[float], list[str]]:
    latency, errors = [], []
    for text in texts:
        if until():
            break
        began = time.perf_counter()
        r = http.post(f"{url}/api/map", json={"text": text})
        latency.append(time.perf_counter() - began)
        if r.status_code != 200:
            errors.append(f"{r.status_code} {r.text[:200]}")
        time.sleep(PAUSE_S)
    return latency, errors


def run_config(label: str, env: dict, atlas: Path, texts: list[str], idle: int, marker: str) -> dict:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(atlas, Path(tmp) / "workbench.sqlite3", env)
        try:
            with httpx.Client(timeout=300) as http:
                http.post(f"{url}/api/map", json={"text": texts[-1]})  # the first call pays for lazy loading
                idle_ms, idle_errors = timed_maps(http, url, texts[:idle], lambda: False)
                report = http.post(f"{url}/api/reports", json={"text": f"{texts[-2]} ({marker})"}).json()
                first = (report["result"]["techniques"] or [{"id": "AML.T0051"}])[0]["id"]
                http.post(f"{url}/api/reports/{report['id']}/reviews", json={"technique": first, "decision": "accept"})
                http.post(f"{url}/api/reports/{report['id']}/status", json={"status": "done"})
                began = time.perf_counter()
                started = http.post(f"{url}/api/models/retrain", json={})
                if started.status_code != 202:
                    raise SystemExit(f"retraining did not start: {started.status_code} {started.text}")
                trained = lambda: not http.get(f"{url}/api/models").json()["training"]  # noqa: E731
                busy_ms, busy_errors = timed_maps(http, url, texts[idle:-2], trained)
                while not trained():
                    time.sleep(1)
                trained_s = time.perf_counter() - began
                versions = http.get(f"{url}/api/models").json()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    figures = {f"{phase}_{name}_ms": round(1000 * fn(v), 1) for phase, v in (("idle", idle_ms), ("retraining", busy_ms))
               for name, fn in (("p50", statistics.median), ("p95", lambda x: pct(x, 0.95)))}
    return {"config": label, "blas": blas_info(env), "idle_requests": len(idle_ms), "retraining_requests": len(busy_ms),
            **figures, "p95_ratio": round(figures["retraining_p95_ms"] / figures["idle_p95_ms"], 2),
            "retrain_s": round(trained_s, 1), "new_version": versions["versions"][-1]["status"],
            "errors": (idle_errors + busy_errors)[:10]}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Mapping while the workbench retrains", "",
             f"Machine: {m.get('cpu')}, {m.get('cores')} cores; {report['date']}. Command: `{report['command']}`.", "",
             "One client maps novel 40-80-word write-ups one after another (0.2 s apart): first with nothing else "
             "running, then while a new model version trains in its worker process (one BLAS thread, idle CPU "
             "priority). Target: p95 while retraining at most 2x the idle p95.", "",
             "| configuration | BLAS | idle p50 | idle p95 | retraining p50 | retraining p95 | p95 ratio | requests during "
             "retraining | retraining took | errors |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        lines.append(f"| {r['config']} | {r['blas']} | {r['idle_p50_ms']:.0f} ms | {r['idle_p95_ms']:.0f} ms | "
                     f"{r['retraining_p50_ms']:.0f} ms | {r['retraining_p95_ms']:.0f} ms | {r['p95_ratio']:.2f} | "
                     f"{r['retraining_requests']} | {r['retrain_s']:.0f} s ({r['new_version']}) | {len(r['errors'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atlas", type=Path, default=DEFAULT_ATLAS)
    parser.add_argument("--idle", type=int, default=60, help="Requests timed before retraining starts.")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "eval" / "results")
    args = parser.parse_args()
    texts = spliced_writeups(source_sentences(args.atlas), 5000, 40, 80, seed=17)
    user_env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    runs = [run_config("user (BLAS variables unset)", user_env, args.atlas, texts, args.idle, f"user run {stamp}"),
            run_config("CI (" + ", ".join(f"{k}={v}" for k, v in FORCED.items()) + ")", {**user_env, **FORCED},
                       args.atlas, texts, args.idle, f"CI run {stamp}")]
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "idle": args.idle,
              "command": f"python eval/bench/retrain_load.py --idle {args.idle}", "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrain-load.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (args.out / "retrain-load.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
