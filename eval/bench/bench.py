"""Speed and memory benchmark of atlas-mapper on this machine.

    .venv/bin/python eval/bench/bench.py [--atlas PATH] [--short 10000] [--quick]
    .venv/bin/python eval/bench/bench.py --against REF [--rounds 3] [--records 1000] [--quick]

The second form compares the working tree with another commit in one run (eval/bench/against.py).

Writes eval/results/bench.json and eval/results/bench.md. Every figure comes from a
separate process, so its peak resident memory (ru_maxrss) is its own. Timings are
medians where several runs are made; the number of runs is in the report.

Each single-process figure is taken twice: with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
unset (what users get; threadpoolctl names the kernel) and set as the CI machines set
them. The Dask runs (LocalCluster, 1 and 2 workers) use the user configuration.

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFAULT_ATLAS = ROOT.parent / "shared" / "atlas" / "releases" / "v5.6.1" / "ATLAS.yaml"
V6_ATLAS = ROOT.parent / "shared" / "atlas" / "releases" / "v2026.05" / "ATLAS-2026.05.yaml"  # the product default


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


def timed_cli(args: list[str], env: dict, program: list[str] | None = None) -> dict:
    """Run the CLI under /usr/bin/time-like accounting: wall seconds and the child's own peak RSS.
    ``program`` starts the CLI (default: the venv's atlas-mapper script)."""
    wrapper = [sys.executable, str(Path(__file__)), "--child-rss", "--", *(program or [str(BIN / "atlas-mapper")]), *args]
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
    from mapper.encode.encoders import get_encoder
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


def part_limit(corpus: str, sample: str) -> dict:
    """Where the encoder's time goes: its FLOP/s against the CPU's, from the tokens it really encodes."""
    from threadpoolctl import threadpool_info

    from mapper.encode.bert import NumpyBert
    from mapper.encode.encoders import _resolve, default_encoder_name
    from mapper.text import text_units

    texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
    sentences = sorted({u for t in texts for u in text_units(t)[0]})
    sentences = random.Random(1).sample(sentences, min(int(sample), len(sentences)))
    directory = _resolve(default_encoder_name())[1]
    bert = NumpyBert(directory)
    cfg = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    hidden, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    lengths = [len(e.ids) for e in bert.tokenizer.encode_batch(sentences)]  # the tokenizer truncates as encode does
    # multiply-adds per token: the four attention projections and the two feed-forward matrices, plus the
    # attention itself (scores and weighted sum over the sentence's own length L)
    macs = sum(n * layers * (4 * hidden * hidden + 2 * hidden * inter + 2 * n * hidden) for n in lengths)
    bert.encode(sentences[:64])
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        bert.encode(sentences)
        runs.append(time.perf_counter() - start)
    wall = statistics.median(runs)
    sgemm = sgemm_gflops()
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    mhz = max((float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz")), default=0.0)
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    lanes = 16 if " avx512f" in flags else 8  # float32 lanes per FMA: AVX-512 or AVX2
    kernel = blas[0].get("architecture") if blas else "?"
    simd = 16 if kernel in ("SkylakeX", "Cooperlake", "SapphireRapids", "Zen5") else 8
    peak = 2 * 2 * min(simd, lanes) * mhz / 1000 * (os.cpu_count() or 1)  # 2 FMA units x 2 flops x lanes x GHz x cores
    return {"sentences": len(sentences), "tokens": sum(lengths), "gflop_per_encode": 2 * macs / 1e9,
            "wall_s": wall, "tokens_per_s": sum(lengths) / wall, "gflops": 2 * macs / wall / 1e9,
            "sgemm_gflops": sgemm, "peak_gflops": peak, "cpu_mhz": mhz, "blas": _blas_text(blas),
            "peak_rss_mb": _peak_rss_mb()}


def _blas_text(blas: list[dict]) -> str:
    return ", ".join(f"{i['internal_api']} {i.get('architecture')} kernel, {i['num_threads']} threads" for i in blas) or "none"


def part_blas() -> dict:
    from threadpoolctl import threadpool_info

    import numpy  # loads the BLAS that threadpoolctl reports

    return {"blas": _blas_text([i for i in threadpool_info() if i.get("user_api") == "blas"]), "numpy": numpy.__version__}


def sgemm_gflops(reps: int = 200) -> float:
    """numpy float32 matmul 512x384 @ 384x1536 (the encoder's feed-forward shape), GFLOP/s: the BLAS's practical
    peak on this host, a gauge of how fast the host is right now."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((512, 384), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((384, 1536), dtype=np.float32)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * 512 * 384 * 1536 * reps / (time.perf_counter() - start) / 1e9


def part_gauge() -> dict:
    """The host gauge that --against takes each round: the matmul above and the kernel that ran it."""
    return {**part_blas(), "sgemm_gflops": sgemm_gflops()}


def part_dask(atlas: str, corpus: str, workers: str, partition: str, out: str) -> dict:
    """Batch on a LocalCluster of ``workers`` processes: the mapping time alone (workers set up first),
    and each worker's peak memory."""
    import resource as _resource

    from mapper import Mapper
    from mapper.io.cluster import connect, prepare_workers, run_cluster_batch, worker_spec
    from mapper.files import cache_dir

    mapper = Mapper.load(atlas=atlas)
    client, _ = connect(f"local:{workers}")
    try:
        spec = worker_spec(mapper, cache_dir(), ship=False)
        start = time.perf_counter()
        prepare_workers(client, spec)
        setup_s = time.perf_counter() - start
        options = {"top_k": 10, "threshold": None, "max_chars": 2_000_000, "platform": None, "min_suggestions": 3}
        start = time.perf_counter()
        stats = run_cluster_batch(client, spec, Path(corpus), Path(out), partition_size=int(partition), prepared=True,
                                  **options)
        wall = time.perf_counter() - start
        peaks = client.run(lambda: _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / 1024)
        # the scheduler's own cost per task: empty tasks, as many as the cluster can take at once
        client.gather(client.map(_noop, range(50), pure=False))
        start = time.perf_counter()
        client.gather(client.map(_noop, range(1000), pure=False))
        task_s = (time.perf_counter() - start) * int(workers) / 1000  # worker-seconds per task
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    return {"workers": int(workers), "partition": int(partition), "records": stats["written"], "wall_s": wall,
            "setup_s": setup_s, "per_s": stats["written"] / wall, "worker_peak_rss_mb": max(peaks.values()),
            "task_overhead_s": task_s}


def _noop(i: int) -> int:
    return i


def part_precision(atlas: str, n: str) -> dict:
    """Lower precision for the encoder (torch, sentence-transformers): speed, and cosine to float32 embeddings
    on case-study procedure steps. Measured only: nothing is adopted without the harness agreeing."""
    import numpy as np
    import torch

    from mapper.encode.encoders import get_encoder
    from mapper.kb import load_kb

    kb = load_kb(atlas)
    steps = [s.description for c in kb.case_studies for s in c.steps][: int(n)]
    base = get_encoder(backend="torch")
    base.encode(steps[:16])
    model = base._load()  # the verified SentenceTransformer

    def rate_and_vectors(module) -> tuple[float, np.ndarray]:
        module.encode(steps[:16], batch_size=32)
        start = time.perf_counter()
        vectors = module.encode(steps, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return len(steps) / (time.perf_counter() - start), np.asarray(vectors, dtype=np.float32)

    out = {}
    rate, ref = rate_and_vectors(model)
    out["float32"] = {"sentences_per_s": rate}
    import copy

    variants = {"bfloat16": lambda m: m.to(torch.bfloat16),
                "int8 dynamic, per-channel weights": lambda m: torch.ao.quantization.quantize_dynamic(
                    m, {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8)}
    for name, make in variants.items():
        rate, vectors = rate_and_vectors(make(copy.deepcopy(model)))
        cos = (ref * vectors).sum(axis=1) / np.linalg.norm(vectors, axis=1)
        out[name] = {"sentences_per_s": rate, "cosine_min": float(cos.min()), "cosine_median": float(np.median(cos))}
    return {"steps": len(steps), "variants": out}


PARTS = {"precision": part_precision, "warm": part_warm, "encoder": part_encoder, "rcatt": part_rcatt, "limit": part_limit, "blas": part_blas,
         "gauge": part_gauge, "dask": part_dask}


# -- the report ---------------------------------------------------------------------
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    import numpy

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "numpy": numpy.__version__, "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d")}


# Issue 14's targets, for the user configuration (BLAS variables unset).
TARGETS = {
    "batch_three_per_s": (">=", 250), "warm_p50_ms": ("<=", 40), "cold_map_s": ("<=", 0.5),
    "dask_speedup": (">=", 1.7), "dask_worker_rss_mb": ("<=", 400), "first_run_s": ("<=", 60),
}
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
FORCED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}  # what the CI machines set


def clean_env() -> dict:
    """This process's environment without the BLAS variables or a backend override: the user configuration."""
    return {k: v for k, v in os.environ.items() if k not in BLAS_VARS and k != "ATLAS_MAPPER_BACKEND"}


def three_sentence_writeups(sentences: list[str], n: int, seed: int) -> list[str]:
    """Write-ups of exactly three novel (spliced) sentences, as in issue 14's batch target."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(3):
            a, b = rng.choice(sentences).split(), rng.choice(sentences).split()
            parts.append(" ".join(a[: len(a) // 2] + b[len(b) // 2:]).rstrip(".") + ".")
        out.append(" ".join(parts))
    return out


def run_config(env: dict, atlas: Path, work: Path, corpora: dict, runs: int, quick: bool, full: bool) -> dict:
    """Every single-process figure under one BLAS configuration (``full``: also the ones BLAS does not drive)."""
    results = {"blas": python_part("blas", env)["blas"]}
    if full:
        print("first run on an empty cache ...", file=sys.stderr)
        firsts = []
        for i in range(1 if quick else 3):
            env_first = dict(env, ATLAS_MAPPER_CACHE=str(work / f"first-{i}"))
            firsts.append(timed_cli(["map", str(work / "narrative.md"), "--atlas", str(atlas)], env_first))
        results["first_run"] = {"runs": len(firsts), "walls": [f["wall_s"] for f in firsts],
                                "wall_s": statistics.median(f["wall_s"] for f in firsts),
                                "peak_rss_mb": max(f["peak_rss_mb"] for f in firsts)}
    timed_cli(["map", str(work / "narrative.md"), "--atlas", str(atlas)], env)  # the shared cache, built once
    print("cold map ...", file=sys.stderr)
    colds = [timed_cli(["map", str(work / "narrative.md"), "--format", "json", "--atlas", str(atlas)], env)
             for _ in range(runs + 2)]
    results["cold"] = {"runs": len(colds), "walls": [c["wall_s"] for c in colds],
                       "wall_s": statistics.median(c["wall_s"] for c in colds),
                       "peak_rss_mb": max(c["peak_rss_mb"] for c in colds)}
    print("warm map ...", file=sys.stderr)
    results["warm"] = python_part("warm", env, str(atlas), str(work / "narrative.md"), str(10 if quick else 50))
    for name, texts in corpora.items():
        print(f"{name} ...", file=sys.stderr)
        out = work / f"{name}.{'user' if full else 'ci'}.out.jsonl"
        run = timed_cli(["batch", str(work / f"{name}.jsonl"), str(out), "--force", "--atlas", str(atlas)], env)
        n_sent = count_sentences(texts)
        results[name] = {"writeups": len(texts), "sentences": n_sent, "wall_s": run["wall_s"],
                         "writeups_per_s": len(texts) / run["wall_s"], "sentences_per_s": n_sent / run["wall_s"],
                         "peak_rss_mb": run["peak_rss_mb"], "runs": 1, "output": str(out)}
    print("encoder alone and its share of the CPU ...", file=sys.stderr)
    sample = "300" if quick else "3000"
    results["encoder_numpy"] = python_part("encoder", env, str(work / "batch_short.jsonl"), sample, "numpy")
    results["limit"] = python_part("limit", env, str(work / "batch_three.jsonl"), "600" if quick else "2000")
    if full:
        results["encoder_torch"] = python_part("encoder", env, str(work / "batch_short.jsonl"), sample, "torch")
        print("rcATT-style baseline ...", file=sys.stderr)
        results["rcatt"] = python_part("rcatt", env, str(atlas), str(work / "batch_short.jsonl"))
    return results


def run_dask(env: dict, atlas: Path, work: Path, single: dict, quick: bool) -> dict:
    """LocalCluster runs: 1 against 2 workers on the three-sentence corpus (output compared byte for byte
    with the single-process batch), the cost of a partition, and worker memory on the large corpus."""
    def run(corpus: str, workers: int, partition: int) -> dict:
        out = work / f"dask-{corpus}-{workers}-{partition}.jsonl"
        print(f"dask: {corpus}, {workers} worker(s), partitions of {partition} ...", file=sys.stderr)
        result = python_part("dask", env, str(atlas), str(work / f"{corpus}.jsonl"), str(workers), str(partition), str(out))
        result["identical"] = out.read_bytes() == Path(single[corpus]["output"]).read_bytes()
        return result

    size = 64 if quick else 256
    one, two = run("batch_three", 1, size), run("batch_three", 2, size)
    small = run("batch_three", 2, 64)
    big = run("batch_three", 2, 1024 if not quick else 128)
    large = run("batch_short", 2, 1024 if not quick else 128)
    # the cost of a partition beyond its mapping: the scheduler's round trip for a task (measured with empty
    # tasks, in worker-seconds) and the transfer of its output to the client (in the mapping walls above)
    overhead = statistics.median(d["task_overhead_s"] for d in (two, small, big, large))
    per_worker = two["per_s"] / 2
    return {"one": one, "two": two, "small_partitions": small, "large_partitions": big, "large": large,
            "speedup": two["per_s"] / one["per_s"], "overhead_per_partition_s": overhead,
            "small_vs_large_partitions": small["per_s"] / big["per_s"], "per_worker_per_s": per_worker,
            # records a partition needs for the overhead to stay under 5% of its worker's time: o / (o + P / r) < 0.05
            "records_for_5pct": 19 * overhead * per_worker}


def markdown(report: dict) -> str:
    m, user, ci, dask = report["machine"], report["user"], report["ci"], report.get("dask")
    lines = [
        "# atlas-mapper speed and memory",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, numpy {m['numpy']}; "
        f"{m['date']}. Command: `{report['command']}`.",
        "",
        "Two BLAS configurations, each in its own processes: **user** has OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE "
        f"unset, as on users' machines ({user['blas']}); **CI** sets them as these machines do "
        f"({', '.join(f'{k}={v}' for k, v in FORCED.items())}: {ci['blas']}). Targets apply to the user configuration.",
        "",
        "| figure | user | CI | target | met |",
        "|---|---|---|---|---|",
    ]
    rows = [
        ("batch_three_per_s", f"batch, {user['batch_three']['writeups']:,} novel 3-sentence write-ups", "/s",
         user["batch_three"]["writeups_per_s"], ci["batch_three"]["writeups_per_s"]),
        ("warm_p50_ms", f"warm `Mapper.map`, 350 words, p50 ({user['warm']['runs']} runs)", "ms",
         user["warm"]["p50_ms"], ci["warm"]["p50_ms"]),
        ("cold_map_s", f"cold `map --format json`, whole process (median of {user['cold']['runs']})", "s",
         user["cold"]["wall_s"], ci["cold"]["wall_s"]),
        ("first_run_s", f"first run on an empty cache: index + model (median of {user['first_run']['runs']})", "s",
         user["first_run"]["wall_s"], None),
    ]
    if dask:
        rows += [("dask_speedup", "Dask LocalCluster, 2 workers against 1, same corpus (identical output: "
                  f"{'yes' if dask['one']['identical'] and dask['two']['identical'] else 'NO'})", "x",
                  dask["speedup"], None),
                 ("dask_worker_rss_mb", f"peak memory per worker, {dask['large']['records']:,} write-ups", "MB",
                  dask["large"]["worker_peak_rss_mb"], None)]
    for key, label, unit, value, other in rows:
        op, target = TARGETS[key]
        met = value <= target if op == "<=" else value >= target
        fmt = (lambda v: f"{v:.2f}") if unit in ("s", "x") else (lambda v: f"{v:.0f}")
        lines.append(f"| {label} | {fmt(value)} {unit} | {fmt(other) + ' ' + unit if other is not None else '-'} | "
                     f"{op} {target} {unit} | {'yes' if met else 'no'} |")
    lines += ["", "## Details", "", "| run | user | CI |", "|---|---|---|"]
    for key in ("batch_three", "batch_short", "batch_narratives"):
        u, c = user[key], ci[key]
        lines.append(f"| batch: {u['writeups']:,} write-ups, {u['sentences']:,} sentences: write-ups/s, sentences/s, "
                     f"peak RSS | {u['writeups_per_s']:.1f}, {u['sentences_per_s']:.0f}, {u['peak_rss_mb']:.0f} MB | "
                     f"{c['writeups_per_s']:.1f}, {c['sentences_per_s']:.0f}, {c['peak_rss_mb']:.0f} MB |")
    lines += [
        f"| cold map, each run (s) | {', '.join(f'{t:.2f}' for t in user['cold']['walls'])} | "
        f"{', '.join(f'{t:.2f}' for t in ci['cold']['walls'])} |",
        f"| warm Mapper.map p50 / p95 | {user['warm']['p50_ms']:.0f} / {user['warm']['p95_ms']:.0f} ms | "
        f"{ci['warm']['p50_ms']:.0f} / {ci['warm']['p95_ms']:.0f} ms |",
        f"| encoder alone, numpy backend (the default), sentences/s | {user['encoder_numpy']['sentences_per_s']:.0f} | "
        f"{ci['encoder_numpy']['sentences_per_s']:.0f} |",
        f"| encoder alone, sentence-transformers (torch, its own BLAS), best batch size "
        f"{user['encoder_torch']['best_batch_size']}, sentences/s | {user['encoder_torch']['sentences_per_s']:.0f} | - |",
        f"| first run on an empty cache, each run (s) | {', '.join(f'{t:.1f}' for t in user['first_run']['walls'])} | - |",
        f"| rcATT-style baseline, same {user['batch_short']['writeups']:,} write-ups | "
        f"{user['rcatt']['writeups_per_s']:.0f} /s ({user['rcatt']['fit_s']:.1f} s fit) | - |",
    ]
    lu, lc = user["limit"], ci["limit"]
    lines += [
        "", "## Where the encoder's time goes", "",
        f"all-MiniLM-L6-v2 costs {lu['gflop_per_encode'] * 1e3 / lu['tokens']:.1f} MFLOP per token (6 layers: the four "
        "384x384 attention projections, the 384x1536 and 1536x384 feed-forward matrices, and attention over the "
        f"sentence itself). Encoding {lu['sentences']:,} sentences of the 3-sentence corpus ({lu['tokens']:,} tokens):",
        "",
        "| | user | CI |", "|---|---|---|",
        f"| tokens/s | {lu['tokens_per_s']:,.0f} | {lc['tokens_per_s']:,.0f} |",
        f"| encoder GFLOP/s | {lu['gflops']:.0f} | {lc['gflops']:.0f} |",
        f"| numpy float32 matmul 512x384 @ 384x1536, GFLOP/s (the BLAS's practical peak here) | "
        f"{lu['sgemm_gflops']:.0f} | {lc['sgemm_gflops']:.0f} |",
        f"| encoder as a share of that matmul | {lu['gflops'] / lu['sgemm_gflops']:.0%} | "
        f"{lc['gflops'] / lc['sgemm_gflops']:.0%} |",
        f"| nominal peak of the kernel's instruction set: 2 FMA units x lanes x 2 x {lu['cpu_mhz'] / 1000:.1f} GHz x "
        f"{m['cores']} cores | {lu['peak_gflops']:.0f} | {lc['peak_gflops']:.0f} |",
        f"| encoder as a share of the nominal peak | {lu['gflops'] / lu['peak_gflops']:.0%} | "
        f"{lc['gflops'] / lc['peak_gflops']:.0%} |",
        "",
    ]
    prec = report["precision"]
    lines += ["", "## Lower precision (measured, not adopted)", "",
              f"sentence-transformers on torch, {prec['steps']} case-study procedure steps, batch size 32, user configuration:",
              "", "| precision | sentences/s | cosine to float32: min / median |", "|---|---|---|"]
    for name, v in prec["variants"].items():
        cos = f"{v['cosine_min']:.3f} / {v['cosine_median']:.3f}" if "cosine_min" in v else "-"
        lines.append(f"| {name} | {v['sentences_per_s']:.0f} | {cos} |")
    if dask:
        lines += [
            "", "## Dask", "",
            "| run | records | partition | mapping wall | records/s | worker set-up | worker peak RSS | identical to one process |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key in ("one", "two", "small_partitions", "large_partitions", "large"):
            d = dask[key]
            lines.append(f"| {d['workers']} worker(s) | {d['records']:,} | {d['partition']} | {d['wall_s']:.1f} s | "
                         f"{d['per_s']:.1f} | {d['setup_s']:.1f} s | {d['worker_peak_rss_mb']:.0f} MB | "
                         f"{'yes' if d['identical'] else 'NO'} |")
        lines += [
            "",
            f"Projection for N machines: a worker (one process, one BLAS thread) maps {dask['per_worker_per_s']:.1f} "
            f"records/s here. The scheduler costs {dask['overhead_per_partition_s'] * 1000:.1f} ms of worker time per "
            f"task (1,000 empty tasks on the same cluster), so partitions of at least "
            f"{max(dask['records_for_5pct'], 1):.0f} records keep it under 5%; the default 1,024 puts it near "
            f"{dask['overhead_per_partition_s'] / (dask['overhead_per_partition_s'] + 1024 / dask['per_worker_per_s']):.3%}. "
            f"64-record partitions ran at {dask['small_vs_large_partitions']:.2f}x the speed of 1,024-record ones, "
            "so within noise the output transfer adds nothing measurable either. N such workers would map about "
            f"N x {dask['per_worker_per_s']:.1f} records/s while the client writes the output (one process, which only "
            "concatenates lines). This rests on one 2-core host: no network between scheduler and workers, workers "
            "sharing a memory bus and 2 cores (so 2 workers compete with the client), and no slower machine in the pool.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atlas", type=Path, help=f"default: {DEFAULT_ATLAS} ({V6_ATLAS} with --against)")
    parser.add_argument("--short", type=int, default=10_000, help="short write-ups in the batch corpus")
    parser.add_argument("--three", type=int, default=2_000, help="3-sentence write-ups in the batch corpus")
    parser.add_argument("--narratives", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results")
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller corpora (a smoke test)")
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster runs")
    parser.add_argument("--dask-only", action="store_true",
                        help="rerun only the LocalCluster runs, into the existing bench.json (after a full run)")
    parser.add_argument("--against", metavar="REF", help="compare the working tree with git REF, side by side")
    parser.add_argument("--rounds", type=int, help="--against: rounds, sides alternating (default 3; --quick 1)")
    parser.add_argument("--records", type=int, help="--against: batch write-ups (default 1000; --quick 200)")
    parser.add_argument("--warm-runs", type=int, help="--against: map calls per warm figure (default 30; --quick 10)")
    parser.add_argument("--part", choices=sorted(PARTS))
    parser.add_argument("--child-rss", action="store_true")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.child_rss:
        return child_rss(args.rest)
    if args.part:
        print(json.dumps(PARTS[args.part](*args.rest)))
        return
    if args.against:
        from against import run_against

        return run_against(args)
    atlas = (args.atlas or DEFAULT_ATLAS).resolve()
    if not atlas.is_file():
        raise SystemExit(f"no ATLAS file at {atlas}; pass --atlas PATH")
    runs = 2 if args.quick else 5
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    base = clean_env()
    base["ATLAS_MAPPER_CACHE"] = str(work / "cache")
    user_env, ci_env = base, {**base, **FORCED}

    sentences = source_sentences(atlas)
    (work / "narrative.md").write_text(spliced_writeups(sentences, 1, 345, 355, seed=7)[0], encoding="utf-8")
    corpora = {
        "batch_three": three_sentence_writeups(sentences, 300 if args.quick else args.three, seed=3),
        "batch_short": spliced_writeups(sentences, 300 if args.quick else args.short, 40, 80, seed=1),
        "batch_narratives": spliced_writeups(sentences, 20 if args.quick else args.narratives, 300, 400, seed=2),
    }
    for name, texts in corpora.items():
        write_jsonl(work / f"{name}.jsonl", texts)
    if args.dask_only:
        report = json.loads((args.out / "bench.json").read_text(encoding="utf-8"))
        for name in ("batch_three", "batch_short"):  # the single-process outputs the cluster's must equal
            out = work / f"{name}.user.out.jsonl"
            timed_cli(["batch", str(work / f"{name}.jsonl"), str(out), "--force", "--atlas", str(atlas)], user_env)
            report["user"][name]["output"] = str(out)
        report["dask"] = run_dask(user_env, atlas, work, report["user"], args.quick)
        report["headline"].update(dask_speedup=report["dask"]["speedup"],
                                  dask_worker_rss_mb=report["dask"]["large"]["worker_peak_rss_mb"])
        report["command"] += " && python eval/bench/bench.py --dask-only"
        write_report(report, args.out)
        shutil.rmtree(work, ignore_errors=True)
        return
    print("== user configuration (BLAS variables unset)", file=sys.stderr)
    user = run_config(user_env, atlas, work, corpora, runs, args.quick, full=True)
    print("== CI configuration (BLAS variables set)", file=sys.stderr)
    ci = run_config(ci_env, atlas, work, corpora, runs, args.quick, full=False)
    dask = None if args.no_dask else run_dask(user_env, atlas, work, user, args.quick)
    print("lower precision ...", file=sys.stderr)
    precision = python_part("precision", user_env, str(atlas), "100" if args.quick else "400")
    headline = {
        "batch_three_per_s": user["batch_three"]["writeups_per_s"], "warm_p50_ms": user["warm"]["p50_ms"],
        "cold_map_s": user["cold"]["wall_s"], "first_run_s": user["first_run"]["wall_s"],
        **({"dask_speedup": dask["speedup"], "dask_worker_rss_mb": dask["large"]["worker_peak_rss_mb"]} if dask else {}),
    }
    command = "python eval/bench/bench.py" + (" --quick" if args.quick else "")
    report = {"machine": machine(), "command": command, "headline": headline, "targets": TARGETS,
              "user": user, "ci": ci, "dask": dask, "precision": precision}
    write_report(report, args.out)
    shutil.rmtree(work, ignore_errors=True)


def write_report(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out / "bench.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
