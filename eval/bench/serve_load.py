"""Load benchmark of the workbench: 20 concurrent clients on ``/api/map`` and the review endpoint.

    .venv/bin/python eval/bench/serve_load.py [--atlas PATH] [--clients 20] [--rounds 10]

Starts ``atlas-mapper serve`` on a free loopback port with a fresh database and the real model, twice:
with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in the server's environment (what users get) and set
as the CI machines set them (Haswell, 512), the BLAS kernel of each read with threadpoolctl. Each client sends, per round, one novel write-up of 40-80 words to
``/api/map`` (spliced from case-study sentences, so the encoder's cache cannot answer) and one review
decision. Reports p50/p95 latency per endpoint, errors, and whether every acknowledged review is
stored. Writes eval/results/serve-load.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import ROOT, machine, source_sentences, spliced_writeups  # noqa: E402

BIN = Path(sys.executable).parent
DEFAULT_ATLAS = ROOT.parent / "shared" / "atlas" / "releases" / "v2026.05" / "ATLAS-2026.05.yaml"
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
FORCED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}  # what these CI machines set (../shared/notes/cpu.md)


def blas_info(env: dict) -> str:
    code = ("import numpy, threadpoolctl; i = [x for x in threadpoolctl.threadpool_info() if x['user_api'] == 'blas'][0]; "
            "print(f\"{i['internal_api']} {i.get('architecture')} kernel, {i['num_threads']} threads\")")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def start_server(atlas: Path, db: Path, env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(BIN / "atlas-mapper"), "serve", "--port", "0", "--db", str(db), "--atlas", str(atlas)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    deadline = time.time() + 600
    while time.time() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+)/", line or "")
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"server failed: {proc.stderr.read()[-2000:]}")
    proc.kill()
    raise SystemExit("server did not start in 10 minutes")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(q * (len(ordered) - 1))), len(ordered) - 1)]


async def load(url: str, texts: list[str], clients: int, rounds: int) -> dict:
    import httpx

    async with httpx.AsyncClient(timeout=300) as warm:
        report = (await warm.post(f"{url}/api/reports", json={"text": texts[-1], "title": "load test"})).json()
        await warm.post(f"{url}/api/map", json={"text": texts[-2]})  # first call pays for lazy loading
    tech = (report["result"]["techniques"] or [{"id": "AML.T0051"}])[0]["id"]
    latency: dict[str, list[float]] = {"map": [], "review": []}
    errors: list[str] = []
    acknowledged: list[str] = []

    async def client(i: int):
        async with httpx.AsyncClient(timeout=300) as http:
            for j in range(rounds):
                for kind in ("map", "review"):
                    began = time.perf_counter()
                    if kind == "map":
                        r = await http.post(f"{url}/api/map", json={"text": texts[i * rounds + j]})
                    else:
                        note = f"client {i} round {j}"
                        r = await http.post(f"{url}/api/reports/{report['id']}/reviews",
                                            json={"technique": tech, "decision": "accept", "note": note})
                        if r.status_code == 201:
                            acknowledged.append(note)
                    latency[kind].append(time.perf_counter() - began)
                    if r.status_code not in (200, 201):
                        errors.append(f"{kind}: {r.status_code} {r.text[:200]}")

    began = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.perf_counter() - began
    async with httpx.AsyncClient(timeout=60) as http:
        stored = {r["note"] for r in (await http.get(f"{url}/api/reports/{report['id']}")).json()["reviews"]}
    return {
        "wall_s": round(wall, 2), "requests": sum(map(len, latency.values())), "errors": errors[:10], "n_errors": len(errors),
        "reviews_acknowledged": len(acknowledged), "reviews_lost": len(set(acknowledged) - stored),
        **{f"{kind}_{name}_ms": round(1000 * fn(v), 1) for kind, v in latency.items()
           for name, fn in (("p50", statistics.median), ("p95", lambda x: pct(x, 0.95)))},
        "map_per_s": round(len(latency["map"]) / wall, 2),
    }


def run_config(label: str, env: dict, atlas: Path, texts: list[str], clients: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(atlas, Path(tmp) / "workbench.sqlite3", env)
        try:
            result = asyncio.run(load(url, texts, clients, rounds))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return {"config": label, "blas": blas_info(env), **result}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Workbench under load", "",
             f"Machine: {m.get('cpu')}, {m.get('cores')} cores; {report['date']}. Command: `{report['command']}`.", "",
             f"{report['clients']} concurrent clients, {report['rounds']} rounds each; a round is one `POST /api/map` with "
             "a novel 40-80-word write-up and one `POST /api/reports/{id}/reviews`. One server process (uvicorn, "
             "mapping in its thread pool) with the real model.", "",
             "| configuration | BLAS | map p50 | map p95 | review p50 | review p95 | maps/s | errors | reviews lost |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        lines.append(f"| {r['config']} | {r['blas']} | {r['map_p50_ms']:.0f} ms | {r['map_p95_ms']:.0f} ms | "
                     f"{r['review_p50_ms']:.0f} ms | {r['review_p95_ms']:.0f} ms | {r['map_per_s']:.1f} | "
                     f"{r['n_errors']} | {r['reviews_lost']} of {r['reviews_acknowledged']} |")
    lines += ["", "Latency is the client's: it includes waiting for the other 19 clients' work on 2 cores.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atlas", type=Path, default=DEFAULT_ATLAS)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "eval" / "results")
    args = parser.parse_args()
    texts = spliced_writeups(source_sentences(args.atlas), args.clients * args.rounds + 2, 40, 80, seed=13)
    user_env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    forced_env = {**user_env, **FORCED}
    runs = [run_config("user (BLAS variables unset)", user_env, args.atlas, texts, args.clients, args.rounds),
            run_config("CI (" + ", ".join(f"{k}={v}" for k, v in FORCED.items()) + ")", forced_env, args.atlas, texts,
                       args.clients, args.rounds)]
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "clients": args.clients, "rounds": args.rounds,
              "command": f"python eval/bench/serve_load.py --clients {args.clients} --rounds {args.rounds}", "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve-load.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (args.out / "serve-load.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
