"""``atlas-mapper batch --cluster``: the same batch on a Dask cluster (the ``[dask]`` extra).

Dask's ``distributed`` scheduler runs the work: a LocalCluster of N worker processes on this machine
(``local:N``), or an existing scheduler (``tcp://host:8786``) whose workers may run over SSH,
Kubernetes or an HPC queue. We only plan partitions, set workers up and write the output.

- **Partitions** are whole chunks of :data:`mapper.io.batch.CHUNK` records (line ranges of a JSONL file
  read by byte offsets, slices of a folder's files, or row ranges of a Parquet file). A record's
  embeddings depend only on its chunk, so the output is byte-identical to a single-process ``batch``.
  Ids repeated across partitions are found by the client's planning pass and marked as they would be.
- **Workers** are set up once each by :class:`WorkerSetup`: it checks the sha256 of the ATLAS file
  and of every model artefact (from a shared path, or shipped by the client as bytes and written to
  the worker's own folder), loads the model, and refuses a model whose key differs from the
  client's. The client checks that every worker runs the same package version and model key.
- **Faults**: a worker that dies has its partitions rerun by the scheduler elsewhere; output is
  written in input order, one line per input line, so nothing is lost or duplicated; ``--resume``
  skips the partitions already written.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mapper import __version__
from mapper.errors import InputError, ModelError, UsageError
from mapper.files import sha256_bytes, sha256_file
from mapper.io.batch import CHUNK, _done_lines, output_lines
from mapper.io.inputs import folder_records, is_parquet, jsonl_records, parquet_records, parquet_rows, text_files
from mapper.text import MAX_TEXT_CHARS

PARTITION_CHUNKS = 16  # records per partition: 16 chunks (1,024); see eval/bench for the scheduler overhead
PLUGIN_NAME = "atlas-mapper"
_WORKER_MAPPERS: dict[str, object] = {}  # model key -> the Mapper this worker process loaded


@dataclass
class Partition:
    index: int
    kind: str  # jsonl | folder | parquet
    path: str
    first_line: int
    n_records: int
    start: int = 0  # jsonl: byte offset; parquet: row
    end: int = 0
    files: list[str] = field(default_factory=list)  # folder: the file names, in order
    duplicates: list[int] = field(default_factory=list)  # lines repeating an id first seen in an earlier partition


# -- planning (client) ---------------------------------------------------------------------
def plan(source: Path, records_per_partition: int, max_chars: int = MAX_TEXT_CHARS) -> list[Partition]:
    if records_per_partition % CHUNK:
        raise UsageError(f"--partition-size must be a multiple of {CHUNK} (whole chunks keep the output identical)")
    source = Path(source)
    if source.is_dir():
        files = [p.name for p in text_files(source)]
        return [Partition(i, "folder", str(source), s + 1, len(files[s:s + records_per_partition]),
                          files=files[s:s + records_per_partition])
                for i, s in enumerate(range(0, len(files), records_per_partition))]
    if not source.is_file():
        raise InputError(f"{source} does not exist; give a JSONL or Parquet file or a folder of .txt/.md files")
    if is_parquet(source):
        n = parquet_rows(source)
        repeated = _repeated(parquet_records(source, 0, n, max_chars))
        return [Partition(i, "parquet", str(source), s + 1, min(records_per_partition, n - s), start=s,
                          end=min(s + records_per_partition, n),
                          duplicates=[r for r in repeated if s < r <= s + records_per_partition])
                for i, s in enumerate(range(0, n, records_per_partition))]
    return _plan_jsonl(source, records_per_partition, max_chars)


def _plan_jsonl(source: Path, size: int, max_chars: int) -> list[Partition]:
    """One pass over the file: the byte range of every ``size`` lines, and the lines whose id repeats one
    that a good record of an earlier partition used (a worker sees only its own partition)."""
    offsets, total = [0], 0
    with open(source, "rb") as handle:
        def lines():
            nonlocal total
            pos = 0
            for total, raw in enumerate(handle, 1):
                pos += len(raw)
                if total % size == 0:
                    offsets.append(pos)
                yield raw

        repeated = _repeated(jsonl_records(lines(), max_chars))
        end = handle.tell()
    if offsets[-1] != end:
        offsets.append(end)
    parts = []
    for i in range(len(offsets) - 1):
        first = i * size + 1
        last = min(first + size - 1, total)
        parts.append(Partition(i, "jsonl", str(source), first, last - first + 1, offsets[i], offsets[i + 1],
                               duplicates=[n for n in repeated if first <= n <= last]))
    return parts


def _repeated(records) -> list[int]:
    return [r.line for r in records if r.error and r.error.startswith("duplicate id")]


# -- reading a partition (worker) ------------------------------------------------------
def partition_records(part: Partition, max_chars: int = MAX_TEXT_CHARS):
    if part.kind == "folder":
        folder = Path(part.path)
        return folder_records([folder / name for name in part.files], max_chars, part.first_line)
    if part.kind == "parquet":
        return parquet_records(Path(part.path), part.start, part.end, max_chars, frozenset(part.duplicates))
    with open(part.path, "rb") as handle:
        handle.seek(part.start)
        data = handle.read(part.end - part.start)
    return jsonl_records(io.BytesIO(data), max_chars, part.first_line, frozenset(part.duplicates))


# -- worker set-up ------------------------------------------------------------------------
def model_files(mapper, root: Path) -> dict[str, str]:
    """Every artefact the model is loaded from, relative to the cache root, with its sha256."""
    out = {}
    folders = [root / "index" / mapper.kb.source.sha256[:16], root / "ranker" / mapper.key[:16]]
    for folder in folders:
        if not folder.is_dir():
            raise ModelError(f"{folder} is missing; run 'atlas-mapper train' before a cluster run")
        for path in sorted(folder.iterdir()):
            if path.is_file():
                out[str(path.relative_to(root))] = sha256_file(path)
    return out


def worker_spec(mapper, root: Path, ship: bool, model: str | None = None,
                loader: str = "mapper.io.cluster:load_mapper") -> dict:
    """Plain data that tells a worker what to load and how to check it (no pickled model)."""
    atlas = Path(mapper.kb.source.path)
    files = model_files(mapper, root)
    spec = {"version": __version__, "key": mapper.key, "model": model, "loader": loader,
            "atlas": str(atlas), "atlas_sha256": mapper.kb.source.sha256, "root": str(root), "files": files}
    if ship:  # workers without our file system get the bytes, checked against the same digests
        spec["shipped"] = {"atlas": atlas.read_bytes(), **{rel: (root / rel).read_bytes() for rel in files}}
    return spec


def _verified_place(spec: dict, local_dir: str) -> tuple[Path, Path]:
    """(ATLAS file, cache root) on this worker, every file checked against the client's sha256."""
    shipped = spec.get("shipped")
    if shipped is None:
        atlas, root = Path(spec["atlas"]), Path(spec["root"])
        checks = [(atlas, spec["atlas_sha256"], None)] + [(root / rel, d, None) for rel, d in spec["files"].items()]
    else:
        root = Path(tempfile.mkdtemp(prefix="atlas-mapper-", dir=local_dir))
        atlas = root / Path(spec["atlas"]).name
        checks = [(atlas, spec["atlas_sha256"], shipped["atlas"])] + [
            (root / rel, d, shipped[rel]) for rel, d in spec["files"].items()]
    for path, digest, data in checks:
        if data is not None:
            if sha256_bytes(data) != digest:
                raise ModelError(f"shipped {path.name} does not match its sha256; resend it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        elif not path.is_file() or sha256_file(path) != digest:
            raise ModelError(f"{path} on this worker is missing or differs from the client's (sha256); "
                             "share the same files, or run without a shared path so the client ships them")
    return atlas, root


def load_mapper(spec: dict, atlas: Path, root: Path):
    from mapper.pipeline import Mapper

    return Mapper.load(atlas=atlas, model=spec["model"], cache=root, download=False)


def _loader(spec: dict):
    module, _, name = spec["loader"].partition(":")
    return getattr(importlib.import_module(module), name)


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the [dask] extra is not installed: cluster runs say so (see connect)
    WorkerPlugin = object


class WorkerSetup(WorkerPlugin):
    """Runs once in each worker process (also in one started to replace a dead one)."""

    name = PLUGIN_NAME

    def __init__(self, spec: dict):
        self.spec = spec

    def setup(self, worker):
        atlas, root = _verified_place(self.spec, worker.local_directory)
        mapper = _loader(self.spec)(self.spec, atlas, root)
        if mapper.key != self.spec["key"]:
            raise ModelError(f"the worker's model key {str(mapper.key)[:12]} differs from the client's "
                             f"{self.spec['key'][:12]}; use the same atlas-mapper version and files")
        _WORKER_MAPPERS[self.spec["key"]] = mapper


def worker_identity() -> dict:
    return {"version": __version__, "keys": sorted(_WORKER_MAPPERS)}


def map_partition(key: str, part: dict, skip: int, options: dict) -> tuple[bytes, int]:
    """(the partition's output lines, how many are errors), on a worker."""
    mapper = _WORKER_MAPPERS.get(key)
    if mapper is None:
        raise ModelError("this worker has no model loaded; its set-up failed (see the worker's log)")
    part = Partition(**part)
    out, errors = [], 0
    for line, error in output_lines(mapper, partition_records(part, options["max_chars"]), skip, **options):
        out.append(line)
        errors += error
    return b"".join(out), errors


# -- the client ----------------------------------------------------------------------------
@contextmanager
def _environment_restored():
    """Dask's nanny sets its workers' variables (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED, ...)
    in the caller's own environment before spawning them, and leaves them there: every process the caller starts
    afterwards would inherit one BLAS thread (a model trained there came out different in the third decimal).
    The workers have their copy by the time the cluster is up."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        # only what changed: clearing first would leave the process without an environment for a moment, while
        # the cluster's own threads run
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


def connect(spec: str, timeout: float = 10.0):
    """A dask Client for ``local:N`` (a LocalCluster on 127.0.0.1) or ``tcp://host:port``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--cluster needs the [dask] extra: pip install 'atlas-mapper[dask]'") from None
    if spec.startswith("local:"):
        try:
            n = int(spec[len("local:"):])
        except ValueError:
            n = 0
        if n < 1:
            raise UsageError(f"--cluster {spec}: give the number of workers, e.g. local:2")
        with _environment_restored():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=50)
        return Client(cluster), True
    if not spec.startswith(("tcp://", "tls://")):
        raise UsageError(f"--cluster {spec!r}: use local:N or a scheduler address such as tcp://host:8786")
    try:
        return Client(spec, timeout=timeout), False
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {spec} ({type(exc).__name__}); check the address "
                         "and that the scheduler is running") from None


def check_workers(client, key: str) -> int:
    identities = client.run(worker_identity)
    if not identities:
        raise UsageError("the cluster has no workers; start some (dask worker SCHEDULER) and try again")
    for address, who in identities.items():
        if who["version"] != __version__ or key not in who["keys"]:
            raise ModelError(f"worker {address} runs atlas-mapper {who['version']} with models {who['keys']}; "
                             f"the client runs {__version__} with model {key[:12]}; install the same version")
    return len(identities)


def prepare_workers(client, spec: dict) -> int:
    """Set every worker up (now and any that joins later) and check them; returns how many there are."""
    client.register_plugin(WorkerSetup(spec), name=PLUGIN_NAME)
    return check_workers(client, spec["key"])


def run_cluster_batch(client, spec: dict, source: Path, out: Path, resume: bool = False,
                      partition_size: int = CHUNK * PARTITION_CHUNKS, progress: bool = False, prepared: bool = False,
                      **options) -> dict:
    """Map ``source`` on the cluster; ``out`` is written in input order as results arrive.
    ``prepared``: :func:`prepare_workers` has run with this ``spec`` already."""
    from distributed import as_completed

    parts = plan(source, partition_size, options["max_chars"])
    total = sum(p.n_records for p in parts)
    skip = _done_lines(out) if resume else 0
    workers = len(client.scheduler_info()["workers"]) if prepared else prepare_workers(client, spec)
    todo = [p for p in parts if p.first_line + p.n_records - 1 > skip]
    futures = {client.submit(map_partition, spec["key"], asdict(p), skip, options, pure=False): p.index for p in todo}
    stats = {"written": 0, "errors": 0, "skipped": skip, "partitions": len(todo), "workers": workers}
    ready: dict[int, tuple[bytes, int]] = {}
    order = [p.index for p in todo]
    started = time.perf_counter()
    with open(out, "ab" if resume else "wb") as handle:
        for future in as_completed(futures):
            ready[futures[future]] = future.result()
            future.release()
            while order and order[0] in ready:  # in input order: one line per input line
                data, errors = ready.pop(order.pop(0))
                handle.write(data)
                handle.flush()
                stats["written"] += data.count(b"\n")
                stats["errors"] += errors
                if progress:
                    done = stats["written"] + skip
                    rate = stats["written"] / max(time.perf_counter() - started, 1e-9)
                    alive = len(client.scheduler_info()["workers"])
                    print(f"\r{done:,}/{total:,} records, {rate:,.0f}/s, {alive} workers alive", end="",
                          file=sys.stderr, flush=True)
        os.fsync(handle.fileno())
    if progress:
        print(file=sys.stderr)
    return stats

