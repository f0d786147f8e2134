"""Batch on a Dask LocalCluster (real worker processes on 127.0.0.1): the same bytes as one process,
a worker killed mid-run, --resume, and the refusals."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from conftest import FIXTURE_ATLAS, HERE  # noqa: E402
from fixture_cluster import build  # noqa: E402
from mapper.io.batch import run_batch  # noqa: E402
from mapper.io.cluster import (  # noqa: E402
    _verified_place, connect, plan, run_cluster_batch, worker_spec)
from mapper.errors import ModelError, UsageError  # noqa: E402

pytestmark = pytest.mark.slow
OPTIONS = {"top_k": 5, "threshold": None, "max_chars": 2_000_000, "platform": None, "min_suggestions": 3}
SENTENCES = ["The attackers crafted adversarial examples to evade the malware classifier model.",
             "They queried the public model API thousands of times to build a copy of it.",
             "Poisoned samples were slipped into the training data of the next release.",
             "A prompt hidden in a web page made the assistant leak its system prompt.",
             "Quarterly revenue grew by four percent."]


def write_input(path: Path, n: int = 300) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            if i == 70:
                handle.write("not json\n")
            elif i == 200:
                handle.write(json.dumps({"id": "r5", "text": "an id first used in the first partition"}) + "\n")
            else:
                words = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(1 + i % 3))
                handle.write(json.dumps({"id": f"r{i}", "text": f"Case {i}. {words}"}) + "\n")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster") / "models"
    mapper = build(FIXTURE_ATLAS, root)
    source = write_input(root.parent / "in.jsonl")
    expected = root.parent / "single.jsonl"
    run_batch(mapper, source, expected, **OPTIONS)
    before = dict(os.environ)
    with pytest.MonkeyPatch.context() as patch:  # the workers import the fixture factory; later tests must not
        patch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
        client, _ = connect("local:2")
    assert dict(os.environ) == before  # the nanny's worker settings do not leak into this process
    yield {"client": client, "mapper": mapper, "root": root, "source": source, "expected": expected.read_bytes()}
    cluster = client.cluster
    client.close()
    cluster.close()


def spec(setup, ship=False):
    return worker_spec(setup["mapper"], setup["root"], ship=ship, loader="fixture_cluster:load")


def test_partitions_are_whole_chunks_and_duplicates_are_found(setup):
    parts = plan(setup["source"], 128)
    assert [(p.first_line, p.n_records) for p in parts] == [(1, 128), (129, 128), (257, 44)]
    assert parts[1].duplicates == [201]
    with pytest.raises(UsageError, match="multiple of 64"):
        plan(setup["source"], 100)


@pytest.mark.parametrize("ship", [False, True])
def test_cluster_output_is_byte_identical_to_one_process(setup, tmp_path, ship):
    out = tmp_path / "out.jsonl"
    stats = run_cluster_batch(setup["client"], spec(setup, ship), setup["source"], out, partition_size=64, **OPTIONS)
    assert out.read_bytes() == setup["expected"]
    assert stats["written"] == 300 and stats["errors"] == 2 and stats["workers"] == 2


def test_resume_on_the_cluster_finishes_a_torn_run(setup, tmp_path):
    out = tmp_path / "out.jsonl"
    lines = setup["expected"].splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:100]) + lines[100][:20])  # killed mid-line, inside a chunk
    stats = run_cluster_batch(setup["client"], spec(setup), setup["source"], out, resume=True, partition_size=64,
                              **OPTIONS)
    assert out.read_bytes() == setup["expected"]
    assert stats["skipped"] == 100 and stats["written"] == 200


def test_a_killed_worker_loses_and_duplicates_nothing(setup, tmp_path):
    client = setup["client"]
    big = write_input(tmp_path / "big.jsonl", 1500)
    expected = tmp_path / "single.jsonl"
    run_batch(setup["mapper"], big, expected, **OPTIONS)
    out = tmp_path / "out.jsonl"
    pids = client.run(os.getpid)
    result = {}
    runner = threading.Thread(target=lambda: result.update(run_cluster_batch(
        client, spec(setup), big, out, partition_size=64, **OPTIONS)))
    runner.start()
    deadline = time.time() + 120
    while (not out.exists() or out.stat().st_size == 0) and time.time() < deadline:
        time.sleep(0.01)
    os.kill(next(iter(pids.values())), signal.SIGKILL)  # a real worker process, part-way through the run
    runner.join(timeout=300)
    assert result["written"] == 1500
    assert out.read_bytes() == expected.read_bytes()
    deadline = time.time() + 60
    while len(client.scheduler_info()["workers"]) < 2 and time.time() < deadline:
        time.sleep(0.2)  # the nanny restarts it for the next test
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_worker_refuses_files_that_differ(setup, tmp_path):
    bad = spec(setup)
    bad["atlas_sha256"] = "0" * 64
    with pytest.raises(ModelError, match="differs from the client's"):
        _verified_place(bad, str(tmp_path))
    shipped = spec(setup, ship=True)
    name = next(iter(shipped["files"]))
    shipped["shipped"][name] = b"tampered"
    with pytest.raises(ModelError, match="does not match its sha256"):
        _verified_place(shipped, str(tmp_path))


def test_an_unreachable_scheduler_is_named():
    with pytest.raises(UsageError, match=r"tcp://127\.0\.0\.1:9 "):
        connect("tcp://127.0.0.1:9", timeout=2)
    with pytest.raises(UsageError, match="local:2"):
        connect("local:zero")
