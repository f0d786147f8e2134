"""Freezing a dev/test split of labelled write-up files (reading one: :func:`mapper.model.writeups.select`).

The test half is chosen once, before anything is tuned, and recorded in ``split.json`` beside
the files with a digest of each test record. Loading the test half checks every digest, so a
test record edited after the freeze (a label "fixed" after seeing a score) is refused. Tuning
uses the dev half only.

    python -m atlas_eval.split data/eval/wild/ai.yaml data/eval/wild/non_ai.yaml
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sys
from pathlib import Path

from mapper.errors import InputError
from mapper.files import atomic_write_text
from mapper.model.writeups import SPLIT_FILE, read_records, record_digest


def _order(rec_id: str) -> str:
    return hashlib.sha256(f"atlas-mapper-split:{rec_id}".encode()).hexdigest()


def choose_test(records: list[dict]) -> list[dict]:
    """Every other record of the file ordered by form, category and a hash of the id: half of the
    file (to one record), half of each form and category to one record, reproducible and blind."""
    ordered = sorted(records, key=lambda r: (str(r.get("form")), str(r.get("category")), _order(str(r["id"]))))
    return ordered[::2]


def freeze(paths: list[Path]) -> Path:
    folder = Path(paths[0]).parent
    target = folder / SPLIT_FILE
    if target.exists():
        raise InputError(f"{target} exists: the split is frozen; delete it only to start a new benchmark")
    test = {}
    for path in paths:
        for rec in choose_test(read_records(path)):
            test[str(rec["id"])] = record_digest(rec)
    split = {"frozen": _dt.date.today().isoformat(), "files": [Path(p).name for p in paths],
             "rule": "per file: records ordered by form, category and sha256('atlas-mapper-split:' + id), every other one",
             "test": dict(sorted(test.items()))}
    atomic_write_text(target, json.dumps(split, indent=1) + "\n")
    return target


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv or sys.argv[1:])]
    if not paths:
        print("usage: python -m atlas_eval.split FILE [FILE ...]", file=sys.stderr)
        return 2
    print(f"froze {freeze(paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
