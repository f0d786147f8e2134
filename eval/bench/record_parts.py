"""What each per-record change of issue 23 saves, measured alone, in one process.

    ATLAS_MAPPER_CACHE=... .venv/bin/python eval/bench/record_parts.py [--records 500]

Maps novel 3-sentence write-ups (as the batch benchmark does) with the shipped model, then times each piece of
per-record work the old way and the new way, alternating, on the same inputs:
- the result as JSON-ready data: ``dataclasses.asdict`` against ``result.hit_dict``;
- splitting the text twice, as batch does (to encode a chunk, then to map each record), uncached and cached;
- the scoring products on two BLAS threads against one (one record at a time; the host's load matters here);
- TF-IDF rows as scipy matrices (what every transform built before) against plain arrays.
Writes eval/results/record-parts.md and .json; each figure is milliseconds per record, the median of 5 passes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import bench


def timed(fn, records: list, passes: int = 5) -> float:
    """Median over ``passes`` of the milliseconds per record that ``fn(record)`` takes."""
    runs = []
    for _ in range(passes):
        start = time.perf_counter()
        for record in records:
            fn(record)
        runs.append(1000 * (time.perf_counter() - start) / len(records))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atlas", type=Path, default=bench.V6_ATLAS)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--out", type=Path, default=bench.ROOT / "eval" / "results")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from mapper import Mapper
    from mapper.encode.threads import one_blas_thread
    from mapper.result import hit_dict
    from mapper.text import split_sentences, text_units

    texts = bench.three_sentence_writeups(bench.source_sentences(args.atlas), args.records, seed=3)
    mapper = Mapper.load(atlas=args.atlas)
    mapper.prefetch(texts)
    results = [mapper.map(t) for t in texts]
    scored = [(mapper.encoder.encode(text_units(t)[0]), text_units(t)[0]) for t in texts]
    sparse = mapper.index.sparse
    parts = {
        "result to dict": (lambda r: [dataclasses.asdict(h) for h in r.techniques],
                           lambda r: [hit_dict(h) for h in r.techniques], results),
        # batch splits a record to encode its chunk, then again to map it: twice, the second from the cache
        "split the text (twice, as batch does)": (lambda t: [[s for s in split_sentences(t) if s.clean] for _ in "ab"],
                                                  lambda t: [text_units(t) for _ in "ab"], texts),
        "TF-IDF rows, technique index": (lambda t: sparse.transform(text_units(t)[0]),
                                         lambda t: sparse.rows(text_units(t)[0]), texts),
    }
    figures = {}
    for name, (old, new, inputs) in parts.items():
        figures[name] = {"old_ms": timed(old, inputs), "new_ms": timed(new, inputs)}
    with threadpool_limits(2, user_api="blas"):
        two = timed(lambda s: mapper.ranker.score(*s), scored)
    with one_blas_thread():
        one = timed(lambda s: mapper.ranker.score(*s), scored)
    figures["scoring products, 2 BLAS threads -> 1"] = {"old_ms": two, "new_ms": one}
    report = {"records": args.records, "atlas": str(args.atlas), "machine": bench.machine(), "parts": figures,
              "command": " ".join(["python", "eval/bench/record_parts.py", *sys.argv[1:]])}
    lines = ["# Per-record work, old way against new (ms per record, median of 5 passes)", "",
             f"{args.records} novel 3-sentence write-ups; {report['machine']['cpu']}, {report['machine']['date']}. "
             f"Command: `{report['command']}`.", "", "| piece | old | new | saved |", "|---|---|---|---|"]
    lines += [f"| {name} | {f['old_ms']:.3f} | {f['new_ms']:.3f} | {f['old_ms'] - f['new_ms']:.3f} |"
              for name, f in figures.items()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "record-parts.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (args.out / "record-parts.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
