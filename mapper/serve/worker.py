"""Training a model version in its own process, so that mapping never waits on it.

The workbench writes a job (JSON: how to rebuild the base model, what to learn from, where the cache is) and
starts ``python -m mapper.serve.worker JOB``. The worker runs on one BLAS thread at the idle CPU priority (Linux's
SCHED_IDLE: it gets a core only when the server leaves one unused; elsewhere the lowest nice level), so the
server's requests keep their speed; it trains, saves the model into the shared cache (atomic
writes, the manifest last) and exits. The server then loads the saved model without training anything.

How the base model is rebuilt is a *recipe*: ``{"load": {...}}`` holds :meth:`Mapper.load`'s arguments (the
command line's case), ``{"factory": "module:function", "path": [...]}`` names a function that takes the cache
folder and returns the base Mapper (an embedding application's or a test's own parts).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from mapper.errors import UsageError
from mapper.files import atomic_write_text

# One thread for every numerical library the worker may load: the server's requests get the other cores.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def write_job(path: Path, recipe: dict, root: Path, params: dict, writeups: list[dict]) -> Path:
    atomic_write_text(path, json.dumps({"recipe": recipe, "root": str(root), "params": params, "writeups": writeups},
                                       default=list))
    return path


def start(job: Path) -> subprocess.Popen:
    """The worker process for ``job``; its progress and errors go to the server's own stderr (its log)."""
    return subprocess.Popen([sys.executable, "-m", "mapper.serve.worker", str(job)], env={**os.environ, **ONE_THREAD},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            preexec_fn=_lower_priority if os.name == "posix" else None)


def _lower_priority() -> None:
    """Runs in the child before it starts: idle priority where the system has it, else nice 19."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def base_mapper(recipe: dict, root: Path):
    """The base Mapper a recipe describes (see the module's docstring)."""
    if "load" in recipe:
        from mapper.pipeline import Mapper

        return Mapper.load(**recipe["load"])
    if "factory" in recipe:
        module, _, name = recipe["factory"].partition(":")
        sys.path[:0] = [p for p in recipe.get("path", []) if p not in sys.path]
        return getattr(importlib.import_module(module), name)(root)
    raise UsageError("a retraining recipe needs 'load' (Mapper.load's arguments) or 'factory' ('module:function')")


def run(job_path: Path) -> str:
    """Train and save the model a job describes; returns its cache key."""
    from mapper.model.ranker import TechniqueRanker
    from mapper.model.writeups import bundled_writeups
    from mapper.pipeline import Mapper
    from mapper.serve.training import writeup_from_dict

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    root = Path(job["root"])
    base = base_mapper(job["recipe"], root)
    reviewed = [writeup_from_dict(d) for d in job["writeups"]]
    trained = Mapper.from_parts(base.kb, base.encoder, base.index, root, TechniqueRanker.params_from_json(job["params"]),
                                writeups=bundled_writeups() + reviewed)
    return trained.key


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m mapper.serve.worker JOB.json", file=sys.stderr)
        return 2
    key = run(Path(argv[0]))
    print(f"atlas-mapper worker: trained model {key[:16]}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
