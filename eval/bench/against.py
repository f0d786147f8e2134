"""``bench.py --against REF``: the working tree against another commit, measured side by side in one run.

Absolute speeds drift about 2x from host to host, so the figures that matter are ratios taken in the same run,
round by round, with the sides alternating (round r runs ref first when r is even, the tree first when odd) and
a host gauge (bench.sgemm_gflops) taken every round beside them. REF is checked out into a temporary git
worktree; each side runs the same interpreter with its own tree on PYTHONPATH and its own model cache, kept
between runs under ~/.cache/atlas-mapper-bench. Writes eval/results/bench-against.json and .md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import bench

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "atlas-mapper-bench"
MAPPER = [sys.executable, "-m", "mapper"]
SIDES = ("ref", "tree")
CODE = ("mapper", "data", "eval/atlas_eval", "pyproject.toml")  # what a side runs
CONFIGS = {"user": {}, "ci": bench.FORCED}
# Issue targets for the tree against dbe6ffc: ratios (higher is better) and the cold map's wall seconds.
TARGETS = {"batch": 5.0, "warm_p50": 4.0}
COLD_TARGET_S = 0.5
# the working tree's encoder backends, timed alone each round (sentences of the batch corpus)
ENCODERS = ("numpy", "onnx", "onnx-int8")
ENCODER_SENTENCES = 600
WARMUP_TEXT = "The attacker crafted adversarial examples to evade the malware classifier and exfiltrated the model."


# -- the two trees ---------------------------------------------------------------------
def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(bench.ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@contextmanager
def ref_worktree(ref: str, work: Path):
    """A detached worktree of REF for the length of the run; yields its folder and full sha."""
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = work / "ref"
    git("worktree", "add", "--detach", str(folder), sha)
    try:
        yield folder, sha
    finally:
        git("worktree", "remove", "--force", str(folder))


def side_env(base: dict, tree: Path, cache: Path) -> dict:
    # The tree and its eval/ (where the CLI's 'eval' plugin lives), as the venv's editable install lists them:
    # PYTHONPATH comes before that install of this checkout. PYTHONSAFEPATH keeps `python -m` from putting the
    # current folder first, which would pick up the checkout the bench was started from.
    return {**base, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "eval")]), "PYTHONSAFEPATH": "1",
            "ATLAS_MAPPER_CACHE": str(cache)}


def check_import(env: dict, tree: Path) -> None:
    """Fail loudly unless a child with ``env`` imports the mapper package and the eval plugin of ``tree``."""
    code = "import mapper, atlas_eval; print(mapper.__file__); print(atlas_eval.__file__)"
    found = bench.measure([sys.executable, "-c", code], env)["stdout"].split()
    expected = [tree / "mapper" / "__init__.py", tree / "eval" / "atlas_eval" / "__init__.py"]
    if [Path(f).resolve() for f in found] != [e.resolve() for e in expected]:
        raise SystemExit(f"with PYTHONPATH={env['PYTHONPATH']} the child imported {found}, not {tree}'s; aborting")


def warm_up(name: str, env: dict, atlas: Path, text: Path) -> bool:
    """One `map` call, which builds the index and trains the model on a cache's first use (its progress is
    shown). False if it failed."""
    print(f"warming up {name} (a first use of its cache trains the model: minutes) ...", file=sys.stderr)
    return subprocess.run([*MAPPER, "map", str(text), "--atlas", str(atlas)], env=env,
                          stdout=subprocess.DEVNULL).returncode == 0


def tree_state() -> dict:
    """HEAD, whether anything is uncommitted, and a fingerprint of the uncommitted code that runs (taken at the
    start and the end: someone may be editing the tree while the bench runs)."""
    untracked = git("ls-files", "--others", "--exclude-standard", "--", *CODE).splitlines()
    digest = hashlib.sha256(git("diff", "HEAD", "--binary", "--", *CODE).encode())
    for name in untracked:
        path = bench.ROOT / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b""))
    return {"sha": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain")),
            "code_changes": git("diff", "--name-only", "HEAD", "--", *CODE).splitlines() + untracked,
            "code_fingerprint": digest.hexdigest()[:16]}


# -- one side's figures in one BLAS configuration -----------------------------------------
def measure_side(env: dict, atlas: Path, work: Path, tag: str, records: int, warm_runs: int, colds: int) -> dict:
    """Batch throughput (whole process), warm Mapper.map p50/p95 and cold map walls, each in fresh processes."""
    corpus, narrative = work / "batch_three.jsonl", work / "narrative.md"
    out = work / f"out-{tag}.jsonl"
    run = bench.timed_cli(["batch", str(corpus), str(out), "--force", "--atlas", str(atlas)], env, MAPPER)
    lines = sum(1 for _ in open(out, encoding="utf-8"))
    if lines != records:
        raise SystemExit(f"{tag}: batch wrote {lines} lines for {records} records")
    batch = {"wall_s": run["wall_s"], "per_s": records / run["wall_s"], "peak_rss_mb": run["peak_rss_mb"],
             "lines": lines}
    warm = bench.python_part("warm", env, str(atlas), str(narrative), str(warm_runs))
    walls = [bench.timed_cli(["map", str(narrative), "--format", "json", "--atlas", str(atlas)], env, MAPPER)["wall_s"]
             for _ in range(colds)]
    return {"batch": batch, "warm": warm, "cold": {"walls": walls, "wall_s": statistics.median(walls)}}


def cache_entries(env: dict) -> set[str]:
    cache = Path(env["ATLAS_MAPPER_CACHE"])
    return {str(p.relative_to(cache)) for p in cache.glob("*/*")}


def measure_built(env: dict, atlas: Path, work: Path, tag: str, sizes: dict) -> dict:
    """measure_side, once more if the side's cache gained an entry meanwhile: a model or index built inside a
    timed run (the tree's code changed under it) is not the speed being measured."""
    for _ in range(2):
        before = cache_entries(env)
        figures = measure_side(env, atlas, work, tag, **sizes)
        built = sorted(cache_entries(env) - before)
        if not built:
            return figures
        print(f"{tag}: its cache built {', '.join(built)} during the measurement; measuring again", file=sys.stderr)
    raise SystemExit(f"{tag}: its cache is rebuilt on every run (is its code changing?)")


def run_round(r: int, envs: dict, atlas: Path, work: Path, sizes: dict) -> dict:
    order = SIDES if r % 2 == 0 else SIDES[::-1]
    result = {"round": r, "order": list(order)}
    for config in CONFIGS:
        gauge = bench.python_part("gauge", envs["tree"][config])
        encoders = {b: bench.python_part("encoder", envs["tree"][config], str(work / "batch_three.jsonl"),
                                         str(ENCODER_SENTENCES), b)["sentences_per_s"] for b in ENCODERS}
        result[config] = {"gauge": gauge, "encoders": encoders}
        for side in order:
            print(f"round {r + 1}, {config} configuration, {side} ...", file=sys.stderr)
            result[config][side] = measure_built(envs[side][config], atlas, work, f"{side}-{config}", sizes)
    return result


# -- summary and report ---------------------------------------------------------------------
def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "per_round": values}


def summarise(rounds: list[dict]) -> dict:
    """Per configuration: the tree-against-ref ratios (above 1 = the tree is faster) and each side's absolutes."""
    out = {}
    for config in CONFIGS:
        rows = [r[config] for r in rounds]
        out[config] = {
            "ratios": {
                "batch": spread([x["tree"]["batch"]["per_s"] / x["ref"]["batch"]["per_s"] for x in rows]),
                "warm_p50": spread([x["ref"]["warm"]["p50_ms"] / x["tree"]["warm"]["p50_ms"] for x in rows]),
                "cold": spread([x["ref"]["cold"]["wall_s"] / x["tree"]["cold"]["wall_s"] for x in rows]),
            },
            "gauge_gflops": spread([x["gauge"]["sgemm_gflops"] for x in rows]),
            "encoders": {b: spread([x["encoders"][b] for x in rows]) for b in ENCODERS},
            **{side: {"batch_per_s": spread([x[side]["batch"]["per_s"] for x in rows]),
                      "warm_p50_ms": spread([x[side]["warm"]["p50_ms"] for x in rows]),
                      "warm_p95_ms": spread([x[side]["warm"]["p95_ms"] for x in rows]),
                      "cold_s": spread([x[side]["cold"]["wall_s"] for x in rows])} for side in SIDES},
        }
    return out


def _range(s: dict, fmt: str, unit: str = "") -> str:
    return f"{s['median']:{fmt}}{unit} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def markdown(report: dict) -> str:
    m, s, ref, tree = report["machine"], report["summary"], report["ref"], report["tree"]
    n = len(report["rounds"])
    lines = [
        f"# atlas-mapper: working tree against {ref['name']}",
        "",
        f"Ref {ref['sha'][:10]} against the working tree at {tree['sha'][:10]}"
        f"{' with uncommitted changes' if tree['dirty'] else ''}; ATLAS {Path(report['atlas']).name}. "
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}; {m['date']}. "
        f"Command: `{report['command']}`.",
        "",
        f"{n} round(s); in each, both BLAS configurations (**user**: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, "
        f"{report['kernels']['user']}; **CI**: "
        f"{', '.join(f'{k}={v}' for k, v in bench.FORCED.items())}, {report['kernels']['ci']}), the sides "
        "alternating in order. Every figure is its own process. Ratios are taken within a round, then the median "
        "over rounds is shown with the min-max range.",
    ]
    if report["atlas_note"]:
        lines += ["", report["atlas_note"]]
    if tree["code_fingerprint"] != tree["code_fingerprint_at_end"]:
        lines += ["", "**The working tree's code changed during the run**, so its figures may mix versions."]
    lines += [
        "", "## Ratios: working tree against ref (above 1 = the tree is faster)", "",
        "| figure | user | CI | target (against dbe6ffc) | met (user / CI) |", "|---|---|---|---|---|",
    ]
    sizes = report["sizes"]
    labels = {"batch": f"batch throughput, {sizes['records']:,} novel 3-sentence write-ups",
              "warm_p50": f"warm `Mapper.map` p50 speed-up, 350 words ({sizes['warm_runs']} calls)",
              "cold": f"cold `map --format json` speed-up, whole process (median of {sizes['colds']})"}
    for key, label in labels.items():
        u, c = s["user"]["ratios"][key], s["ci"]["ratios"][key]
        target = TARGETS.get(key)
        met = " / ".join("yes" if x["median"] >= target else "no" for x in (u, c)) if target else "-"
        lines.append(f"| {label} | {_range(u, '.2f', 'x')} | {_range(c, '.2f', 'x')} | "
                     f"{f'>= {target:g}x' if target else '-'} | {met} |")
    lines += [
        "", "## Absolute figures, each round", "",
        "The host gauge is numpy's float32 matmul 512x384 @ 384x1536 in that configuration, taken in the same round.",
        "",
        "| config | round | gauge GFLOP/s | batch /s ref / tree | warm p50 ms ref / tree | warm p95 ms ref / tree | "
        "cold s ref / tree |",
        "|---|---|---|---|---|---|---|",
    ]
    for config in CONFIGS:
        for r in report["rounds"]:
            x = r[config]
            lines.append(
                f"| {config} | {r['round'] + 1} | {x['gauge']['sgemm_gflops']:.0f} | "
                f"{x['ref']['batch']['per_s']:.1f} / {x['tree']['batch']['per_s']:.1f} | "
                f"{x['ref']['warm']['p50_ms']:.0f} / {x['tree']['warm']['p50_ms']:.0f} | "
                f"{x['ref']['warm']['p95_ms']:.0f} / {x['tree']['warm']['p95_ms']:.0f} | "
                f"{x['ref']['cold']['wall_s']:.2f} / {x['tree']['cold']['wall_s']:.2f} |")
    lines += ["", f"## The working tree's encoder alone ({ENCODER_SENTENCES} novel sentences, sentences/s, median "
              "over rounds with min-max)", "", "| backend | user | CI |", "|---|---|---|"]
    lines += [f"| {b} | {_range(s['user']['encoders'][b], '.0f')} | {_range(s['ci']['encoders'][b], '.0f')} |"
              for b in ENCODERS]
    cold = {c: s[c]["tree"]["cold_s"]["median"] for c in CONFIGS}
    lines += [
        "",
        f"Cold map, working tree (median over rounds): {cold['user']:.2f} s user, {cold['ci']:.2f} s CI; target "
        f"<= {COLD_TARGET_S} s: {'met' if cold['user'] <= COLD_TARGET_S else 'not met'} (user), "
        f"{'met' if cold['ci'] <= COLD_TARGET_S else 'not met'} (CI).",
        "",
    ]
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------
def choose_atlas(args, envs: dict, text: Path) -> tuple[Path, str]:
    """Warm both sides up on the ATLAS file. Without --atlas: the v6 product default, or, if REF cannot read
    v6 files, v5.6.1 for both sides (said in the report)."""
    atlas, note = (args.atlas or bench.V6_ATLAS).resolve(), ""
    if not warm_up("ref", envs["ref"]["user"], atlas, text):
        if args.atlas:
            raise SystemExit(f"ref failed to map with {atlas}")
        atlas = bench.DEFAULT_ATLAS.resolve()
        note = f"The ref could not read {bench.V6_ATLAS.name}, so both sides used {atlas.parent.name}."
        print(note, file=sys.stderr)
        if not warm_up("ref", envs["ref"]["user"], atlas, text):
            raise SystemExit(f"ref failed to map with {atlas} as well")
    if not warm_up("tree", envs["tree"]["user"], atlas, text):
        raise SystemExit(f"the working tree failed to map with {atlas}")
    return atlas, note


def write_corpora(atlas: Path, work: Path, records: int) -> None:
    sentences = bench.source_sentences(atlas)
    (work / "narrative.md").write_text(bench.spliced_writeups(sentences, 1, 345, 355, seed=7)[0], encoding="utf-8")
    # spliced sentences are novel, so neither side's encoder cache can serve them
    bench.write_jsonl(work / "batch_three.jsonl", bench.three_sentence_writeups(sentences, records, seed=3))


def run_against(args) -> None:
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    sizes = {"records": args.records or (200 if quick else 1000), "warm_runs": args.warm_runs or (10 if quick else 30),
             "colds": 3 if quick else 5}
    tree = tree_state()
    work = Path(tempfile.mkdtemp(prefix="atlas-against-"))
    try:
        report = measure_both(args, work, rounds, sizes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["tree"] = {**tree, "code_fingerprint_at_end": tree_state()["code_fingerprint"]}
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-against.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out / "bench-against.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


def measure_both(args, work: Path, rounds: int, sizes: dict) -> dict:
    with ref_worktree(args.against, work) as (ref_dir, ref_sha):
        # the tree's cache is one per checkout: the mapper's own model key rebuilds what the code changes
        caches = {"ref": CACHE / ref_sha,
                  "tree": CACHE / f"tree-{hashlib.sha256(str(bench.ROOT).encode()).hexdigest()[:12]}"}
        dirs = {"ref": ref_dir, "tree": bench.ROOT}
        envs = {side: {config: side_env({**bench.clean_env(), **forced}, dirs[side], caches[side])
                       for config, forced in CONFIGS.items()} for side in SIDES}
        for side in SIDES:
            check_import(envs[side]["user"], dirs[side])
        warmup = work / "warmup.md"
        warmup.write_text(WARMUP_TEXT, encoding="utf-8")
        atlas, note = choose_atlas(args, envs, warmup)
        write_corpora(atlas, work, sizes["records"])
        results = [run_round(r, envs, atlas, work, sizes) for r in range(rounds)]
    kernels = {config: " | ".join(sorted({r[config]["gauge"]["blas"] for r in results})) for config in CONFIGS}
    return {
        "command": shlex.join(["python", "eval/bench/bench.py", *sys.argv[1:]]),
        "machine": bench.machine(), "ref": {"name": args.against, "sha": ref_sha},
        "caches": {k: str(v) for k, v in caches.items()}, "atlas": str(atlas), "atlas_note": note,
        "sizes": sizes, "kernels": kernels, "targets": {**TARGETS, "cold_s": COLD_TARGET_S},
        "summary": summarise(results), "rounds": results,
    }
