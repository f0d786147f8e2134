"""Speed and memory benchmark of atlas-mapper on this machine.

    .venv/bin/python eval/bench/bench.py [--atlas PATH] [--short 10000] [--quick]

Writes eval/results/bench.json and eval/results/bench.md. Every figure comes from a
separate process, so its peak resident memory (ru_maxrss) is its own. Timings are
medians where several runs are made; the number of runs is in the report.

The batch corpora are built reproducibly (seeded) from the case-study texts of the
loaded release: sentences are spliced at word level (the first half of one with the
second half of another), so almost every sentence is new and cannot be served from
the encoder's cache, and joined into write-ups of 40 to 80 words (short) or 300 to
400 words (narratives).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFAULT_ATLAS = ROOT.parent / "shared" / "atlas" / "releases" / "v5.6.1" / "ATLAS.yaml"


# -- measuring a child process ---------------------------------------------------------
def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Wall seconds, peak RSS (MB) and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    # Peak memory is not read here: RUSAGE_CHILDREN keeps only the largest child so far, so each
    # measured command is run under child_rss (or measures itself) and reports its own peak.
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}\n{err.decode(errors='replace')[-2000:]}")
    return {"wall_s": wall, "stdout": out.decode("utf-8", errors="replace"), "stderr": err.decode(errors="replace")}


def timed_cli(args: list[str], env: dict) -> dict:
    """Run the CLI under /usr/bin/time-like accounting: wall seconds and the child's own peak RSS."""
    wrapper = [sys.executable, str(Path(__file__)), "--child-rss", "--", str(BIN / "atlas-mapper"), *args]
    result = measure(wrapper, env)
    report = json.loads(result["stdout"].splitlines()[-1])
    return {"wall_s": report["wall_s"], "peak_rss_mb": report["peak_rss_mb"]}


def child_rss(cmd: list[str]) -> None:
    """Helper mode: run ``cmd``, print its wall time and peak RSS as JSON (its output is discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-2000:]}")
    print(json.dumps({"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}))


def python_part(part: str, env: dict, *extra: str) -> dict:
    """Run one in-process measurement in a fresh interpreter; it prints JSON with its own peak RSS."""
    result = measure([sys.executable, str(Path(__file__)), "--part", part, *extra], env)
    return json.loads(result["stdout"].splitlines()[-1])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- corpora --------------------------------------------------------------------------
def source_sentences(atlas: Path) -> list[str]:
    from mapper.kb import load_kb
    from mapper.text import text_units

    kb = load_kb(atlas)
    texts = [s.description for c in kb.case_studies for s in c.steps] + [c.summary for c in kb.case_studies]
    sentences = [u for t in texts if t for u in text_units(t)[0] if len(u.split()) >= 6]
    return sorted(set(sentences))


def spliced_writeups(sentences: list[str], n: int, low: int, high: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target, words, parts = rng.randint(low, high), 0, []
        while words < target:
            a, b = rng.choice(sentences).split(), rng.choice(sentences).split()
            spliced = a[: len(a) // 2] + b[len(b) // 2:]
            parts.append(" ".join(spliced).rstrip(".") + ".")
            words += len(spliced)
        out.append(" ".join(parts))
    return out


def write_jsonl(path: Path, texts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"id": f"w{i}", "text": text}) + "\n")


def count_sentences(texts: list[str]) -> int:
    from mapper.text import text_units

    return sum(len(text_units(t)[0]) for t in texts)


# -- in-process parts (run in a fresh interpreter each) --------------------------------
def part_warm(atlas: str, text_file: str, runs: int) -> dict:
    from mapper import Mapper

    runs = int(runs)
    text = Path(text_file).read_text(encoding="utf-8")
    mapper = Mapper.load(atlas=atlas)
    for _ in range(3):
        mapper.encoder.clear()
        mapper.map(text)
    times = []
    for _ in range(runs):
        mapper.encoder.clear()  # a new write-up: nothing of it is cached
        start = time.perf_counter()
        mapper.map(text)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"runs": runs, "p50_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
            "peak_rss_mb": _peak_rss_mb()}


def part_encoder(corpus: str, sample: int, backend: str) -> dict:
    from mapper.encoders import get_encoder
    from mapper.text import text_units

    texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
    sentences = sorted({u for t in texts for u in text_units(t)[0]})
    sentences = random.Random(1).sample(sentences, min(int(sample), len(sentences)))
    encoder = get_encoder(backend=backend)
    encoder.encode(sentences[:32])  # load and warm up
    if backend == "torch":
        rates = {}
        for size in (16, 32, 64, 128):
            encoder.batch_size = size
            start = time.perf_counter()
            encoder.encode(sentences)
            rates[size] = len(sentences) / (time.perf_counter() - start)
        best = max(rates, key=rates.get)
        return {"sentences": len(sentences), "per_batch_size": rates, "best_batch_size": best,
                "sentences_per_s": rates[best], "peak_rss_mb": _peak_rss_mb()}
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        encoder.encode(sentences)
        runs.append(len(sentences) / (time.perf_counter() - start))
    return {"sentences": len(sentences), "runs": 3, "sentences_per_s": statistics.median(runs),
            "peak_rss_mb": _peak_rss_mb()}


def part_rcatt(atlas: str, corpus: str) -> dict:
    from atlas_eval.harness import build_context
    from atlas_eval.methods import RcattStyle

    texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
    ctx = build_context(atlas)
    start = time.perf_counter()
    method = RcattStyle(ctx).fit(ctx.kb.case_studies)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(texts), 1000):
        method.rank({str(j): texts[j] for j in range(i, min(i + 1000, len(texts)))})
    wall = time.perf_counter() - start
    return {"fit_s": fit_s, "rank_s": wall, "writeups_per_s": len(texts) / wall, "peak_rss_mb": _peak_rss_mb()}


PARTS = {"warm": part_warm, "encoder": part_encoder, "rcatt": part_rcatt}


# -- the report ---------------------------------------------------------------------
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    import numpy

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "numpy": numpy.__version__, "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d")}


TARGETS = {
    "cold_map_s": ("<=", 2.5), "warm_p50_ms": ("<=", 60), "batch_short_per_s": (">=", 100),
    "batch_vs_encoder": (">=", 0.8), "first_run_s": ("<=", 60), "batch_peak_rss_mb": ("<=", 1536),
}


def markdown(report: dict) -> str:
    r, m = report["results"], report["machine"]
    lines = [
        "# atlas-mapper speed and memory",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, numpy {m['numpy']}; "
        f"{m['date']}. Command: `{report['command']}`.",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for key, label, unit in [
        ("cold_map_s", f"cold `map --format json`, 350-word write-up, whole process (median of {r['cold']['runs']})", "s"),
        ("warm_p50_ms", f"warm `Mapper.map` p50 ({r['warm']['runs']} runs; p95 {r['warm']['p95_ms']:.0f} ms)", "ms"),
        ("batch_short_per_s", f"batch, {r['batch_short']['writeups']:,} short write-ups", "/s"),
        ("batch_vs_encoder", "batch sentences/s as a share of the encoder's own", ""),
        ("first_run_s", f"first run on an empty cache: index + model (median of {r['first_run']['runs']})", "s"),
        ("batch_peak_rss_mb", f"peak memory, batch of {r['batch_short']['writeups']:,}", "MB"),
    ]:
        op, target = TARGETS[key]
        value = report["headline"][key]
        met = value <= target if op == "<=" else value >= target
        shown = f"{value:.2f}" if unit in ("", "s") else f"{value:.0f}"
        lines.append(f"| {label} | {shown} {unit} | {op} {target} {unit} | {'yes' if met else 'no'} |")
    lines += ["", "## Details", "", "| run | wall | write-ups/s | sentences/s | peak RSS |", "|---|---|---|---|---|"]
    for key in ("batch_small", "batch_short", "batch_narratives"):
        b = r[key]
        lines.append(f"| batch: {b['writeups']:,} write-ups, {b['sentences']:,} sentences | {b['wall_s']:.1f} s | "
                     f"{b['writeups_per_s']:.1f} | {b['sentences_per_s']:.0f} | {b['peak_rss_mb']:.0f} MB |")
    enc, st = r["encoder_numpy"], r["encoder_torch"]
    lines += [
        f"| cold map (each run) | {', '.join(f'{t:.2f}' for t in r['cold']['walls'])} s | | | {r['cold']['peak_rss_mb']:.0f} MB |",
        f"| first run (each run) | {', '.join(f'{t:.1f}' for t in r['first_run']['walls'])} s | | | "
        f"{r['first_run']['peak_rss_mb']:.0f} MB |",
        f"| warm Mapper.map | p50 {r['warm']['p50_ms']:.0f} ms, p95 {r['warm']['p95_ms']:.0f} ms | | | "
        f"{r['warm']['peak_rss_mb']:.0f} MB |",
        f"| encoder alone, numpy backend (the default), {enc['sentences']:,} sentences | | | "
        f"{enc['sentences_per_s']:.0f} | {enc['peak_rss_mb']:.0f} MB |",
        f"| encoder alone, sentence-transformers (torch), best batch size {st['best_batch_size']} | | | "
        f"{st['sentences_per_s']:.0f} | {st['peak_rss_mb']:.0f} MB |",
        f"| rcATT-style baseline (TF-IDF + linear SVMs), same {r['batch_short']['writeups']:,} short write-ups | "
        f"{r['rcatt']['rank_s']:.1f} s (+{r['rcatt']['fit_s']:.1f} s fit) | {r['rcatt']['writeups_per_s']:.0f} | | "
        f"{r['rcatt']['peak_rss_mb']:.0f} MB |",
        "",
        f"The encoder reference for `batch_vs_encoder` is the faster of the two encoder-only rates "
        f"({report['headline']['encoder_best_sentences_per_s']:.0f} sentences/s).",
        f"Batch memory with {r['batch_small']['writeups']:,} write-ups: {r['batch_small']['peak_rss_mb']:.0f} MB; "
        f"with {r['batch_short']['writeups']:,}: {r['batch_short']['peak_rss_mb']:.0f} MB.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atlas", type=Path, default=DEFAULT_ATLAS)
    parser.add_argument("--short", type=int, default=10_000, help="short write-ups in the batch corpus")
    parser.add_argument("--narratives", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results")
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller corpora (a smoke test)")
    parser.add_argument("--part", choices=sorted(PARTS))
    parser.add_argument("--child-rss", action="store_true")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.child_rss:
        return child_rss(args.rest)
    if args.part:
        print(json.dumps(PARTS[args.part](*args.rest)))
        return
    atlas = args.atlas.resolve()
    if not atlas.is_file():
        raise SystemExit(f"no ATLAS file at {atlas}; pass --atlas PATH")
    runs = 2 if args.quick else 5
    short_n = 300 if args.quick else args.short
    narr_n = 20 if args.quick else args.narratives
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    env = dict(os.environ, ATLAS_MAPPER_CACHE=str(work / "cache"))
    env.pop("ATLAS_MAPPER_BACKEND", None)

    sentences = source_sentences(atlas)
    narrative = spliced_writeups(sentences, 1, 345, 355, seed=7)[0]
    (work / "narrative.md").write_text(narrative, encoding="utf-8")
    corpora = {
        "batch_small": spliced_writeups(sentences, max(1, short_n // 4), 40, 80, seed=1),
        "batch_short": spliced_writeups(sentences, short_n, 40, 80, seed=1),
        "batch_narratives": spliced_writeups(sentences, narr_n, 300, 400, seed=2),
    }
    for name, texts in corpora.items():
        write_jsonl(work / f"{name}.jsonl", texts)
    results = {}
    print("first run on an empty cache ...", file=sys.stderr)
    firsts = []
    for i in range(3 if not args.quick else 1):
        env_first = dict(env, ATLAS_MAPPER_CACHE=str(work / f"first-{i}"))
        firsts.append(timed_cli(["map", str(work / "narrative.md"), "--atlas", str(atlas)], env_first))
    results["first_run"] = {"runs": len(firsts), "walls": [f["wall_s"] for f in firsts],
                            "wall_s": statistics.median(f["wall_s"] for f in firsts),
                            "peak_rss_mb": max(f["peak_rss_mb"] for f in firsts)}
    timed_cli(["map", str(work / "narrative.md"), "--atlas", str(atlas)], env)  # build the shared cache once
    print("cold map ...", file=sys.stderr)
    colds = [timed_cli(["map", str(work / "narrative.md"), "--format", "json", "--atlas", str(atlas)], env)
             for _ in range(runs + 2)]
    results["cold"] = {"runs": len(colds), "walls": [c["wall_s"] for c in colds],
                       "wall_s": statistics.median(c["wall_s"] for c in colds),
                       "peak_rss_mb": max(c["peak_rss_mb"] for c in colds)}
    print("warm map ...", file=sys.stderr)
    results["warm"] = python_part("warm", env, str(atlas), str(work / "narrative.md"), str(10 if args.quick else 50))
    for name, texts in corpora.items():
        print(f"{name} ...", file=sys.stderr)
        run = timed_cli(["batch", str(work / f"{name}.jsonl"), str(work / f"{name}.out.jsonl"), "--atlas", str(atlas)], env)
        n_sent = count_sentences(texts)
        results[name] = {"writeups": len(texts), "sentences": n_sent, "wall_s": run["wall_s"],
                         "writeups_per_s": len(texts) / run["wall_s"], "sentences_per_s": n_sent / run["wall_s"],
                         "peak_rss_mb": run["peak_rss_mb"], "runs": 1}
    print("encoder alone ...", file=sys.stderr)
    sample = "300" if args.quick else "3000"
    results["encoder_numpy"] = python_part("encoder", env, str(work / "batch_short.jsonl"), sample, "numpy")
    results["encoder_torch"] = python_part("encoder", env, str(work / "batch_short.jsonl"), sample, "torch")
    print("rcATT-style baseline ...", file=sys.stderr)
    results["rcatt"] = python_part("rcatt", env, str(atlas), str(work / "batch_short.jsonl"))

    encoder_best = max(results["encoder_numpy"]["sentences_per_s"], results["encoder_torch"]["sentences_per_s"])
    headline = {
        "cold_map_s": results["cold"]["wall_s"],
        "warm_p50_ms": results["warm"]["p50_ms"],
        "batch_short_per_s": results["batch_short"]["writeups_per_s"],
        "batch_vs_encoder": results["batch_short"]["sentences_per_s"] / encoder_best,
        "encoder_best_sentences_per_s": encoder_best,
        "first_run_s": results["first_run"]["wall_s"],
        "batch_peak_rss_mb": results["batch_short"]["peak_rss_mb"],
    }
    command = "python eval/bench/bench.py" + (" --quick" if args.quick else "")
    report = {"machine": machine(), "command": command, "headline": headline, "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bench-quick" if args.quick else "bench"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{stem}.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
