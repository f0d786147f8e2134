"""Model versions in the workbench: training in a worker process, rebuilding a missing model aside, never a
request that waits on either."""

from __future__ import annotations

import shutil
import time

import pytest

from fixture_parts import RECIPE
from mapper.errors import Busy, UsageError
from mapper.model.reviews import Review
from mapper.serve import worker
from mapper.serve.workbench import Workbench

TEXT = "The attackers crafted adversarial examples to evade the malware classifier model."


def _done_review(bench: Workbench) -> str:
    report = bench.create_report(TEXT)
    bench.review(report["id"], Review(report["result"]["techniques"][0]["id"], "accept"))
    bench.set_status(report["id"], "done")
    return report["id"]


def _wait(bench: Workbench, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while bench.models()["training"]:
        assert time.time() < deadline, "training never finished"
        time.sleep(0.2)


@pytest.fixture
def bench(mini_mapper, tmp_path):
    wb = Workbench(tmp_path / "w.sqlite3", mini_mapper, tmp_path / "models", recipe=RECIPE)
    yield wb
    wb.close()


def test_retraining_happens_in_a_worker_process_while_mapping_goes_on(bench, monkeypatch):
    from mapper.pipeline import Mapper

    started = []
    real_start = worker.start
    monkeypatch.setattr(worker, "start", lambda job: started.append(real_start(job)) or started[-1])
    real_from_parts = Mapper.from_parts.__func__

    def load_only(cls, *args, train=True, **kwargs):  # this process may load models, never train one
        assert train is False or kwargs.get("writeups") is None, "the server process trained a model"
        return real_from_parts(cls, *args, train=train, **kwargs)

    monkeypatch.setattr(Mapper, "from_parts", classmethod(load_only))
    _done_review(bench)
    version = bench.retrain()
    assert version == 2 and bench.db.model(2)["status"] == "training"
    assert bench.map(TEXT)["model"]["version"] == 1  # answered by the active version meanwhile
    with pytest.raises(UsageError, match="already being trained"):
        bench.retrain()
    _wait(bench)
    assert len(started) == 1 and started[0].returncode == 0
    assert bench.db.model(2)["status"] == "ready" and bench.version == 2
    assert bench.map(TEXT)["model"]["version"] == 2
    assert not list((bench.root / "jobs").glob("*.json"))  # the job file is cleaned up


def test_a_failed_worker_marks_the_version_failed_in_plain_words(bench, monkeypatch):
    _done_review(bench)
    monkeypatch.setattr(worker, "start", lambda job: worker.subprocess.Popen(["false"]))
    bench.retrain()
    _wait(bench)
    model = bench.db.model(2)
    assert model["status"] == "failed" and model["error"] == "training failed; see the server's log"
    assert bench.version == 1


def _train_version_2_then_lose_its_saved_model(bench, tmp_path) -> None:
    """Version 2 trained and recorded, the workbench closed, and version 2's saved model deleted from the cache."""
    _done_review(bench)
    bench.retrain()
    _wait(bench)
    key = bench.db.model(2)["key"]
    bench.close()
    shutil.rmtree(tmp_path / "models" / "ranker" / key[:16])


def test_a_missing_model_is_rebuilt_aside_and_never_trained_inline(bench, mini_mapper, tmp_path):
    _train_version_2_then_lose_its_saved_model(bench, tmp_path)
    began = time.time()
    reopened = Workbench(tmp_path / "w.sqlite3", mini_mapper, tmp_path / "models", recipe=RECIPE)
    try:
        assert time.time() - began < 10  # it did not train before answering
        assert reopened.map(TEXT)["model"]["version"] == 1  # the loaded model answers, and says which it is
        assert reopened.models()["training"]
        with pytest.raises(Busy) as busy:
            reopened.activate(2)
        assert busy.value.retry_after > 0
        _wait(reopened)
        assert reopened.map(TEXT)["model"]["version"] == 2
    finally:
        reopened.close()


def test_without_a_recipe_the_workbench_maps_but_cannot_train(mini_mapper, tmp_path):
    bench = Workbench(tmp_path / "w.sqlite3", mini_mapper, tmp_path / "models")
    _done_review(bench)
    with pytest.raises(UsageError, match="cannot retrain"):
        bench.retrain()
    bench.close()


def test_a_recipe_must_say_how_to_rebuild_the_model(tmp_path):
    with pytest.raises(UsageError, match="'load'"):
        worker.base_mapper({}, tmp_path)
    assert worker.main([]) == 2


def test_closing_stops_a_training_and_says_so(bench):
    _done_review(bench)
    bench.retrain()
    deadline = time.time() + 30
    while not bench._workers and time.time() < deadline:  # the worker process has started
        time.sleep(0.05)
    bench.close()
    process = bench._workers[0]
    process.wait(timeout=30)  # ended, not left to train on after the server is gone
    _wait(bench, timeout=30)
    assert bench.db.model(2)["status"] == "failed" and bench.db.model(2)["error"] == "interrupted: the server stopped"


def test_a_failed_rebuild_is_not_retried_by_every_request(bench, mini_mapper, tmp_path, monkeypatch):
    _train_version_2_then_lose_its_saved_model(bench, tmp_path)
    started = []
    monkeypatch.setattr(worker, "start", lambda job: started.append(job) or worker.subprocess.Popen(["false"]))
    reopened = Workbench(tmp_path / "w.sqlite3", mini_mapper, tmp_path / "models", recipe=RECIPE)
    try:
        _wait(reopened, timeout=30)
        for _ in range(3):
            assert reopened.map(TEXT)["model"]["version"] == 1
        assert len(started) == 1  # the requests did not start a worker each
        with pytest.raises(Busy):
            reopened.activate(2)  # asking for the version again does retry it
        _wait(reopened, timeout=30)
        assert len(started) == 2
    finally:
        reopened.close()
