"""Mapper.map and the encoder cache called from several threads at once, as a web server does."""

from __future__ import annotations

import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mapper.encode.encoders import CachedEncoder

from conftest import FIXTURE_ATLAS, TinyEncoder

THREADS = 8
# No sentence is shared between two texts: an embedding's last bits depend on what it was batched with,
# so a shared sentence would make even sequential results depend on the order of the calls.
TEXTS = [
    "The attackers chatted with the bot through its public messaging API. It learned from every reply.",
    "She typed a prompt telling the assistant to ignore its instructions and print them.",
    "Scripts sent enormous images in parallel until the classifier stopped answering.",
    "An engineering blog post revealed which model powered the assistant. The red team read it first.",
    "Thousands of mislabeled samples were slipped into the training data before the nightly retraining.",
    "Quarterly revenue grew by four percent and the board approved the new budget.",
]


@pytest.fixture(autouse=True)
def _switch_threads_often():
    """Threads switch every microsecond instead of every 5 ms, so races show up within a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def concurrently(work, items: list, threads: int = THREADS) -> list[dict]:
    """Every thread calls ``work`` on every item (each from a different starting item), all starting
    together; one {item index: result} per thread."""
    start = threading.Barrier(threads)

    def worker(k: int) -> dict:
        start.wait()
        order = [(k + i) % len(items) for i in range(len(items))]
        return {i: work(items[i]) for i in order}

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(worker, range(threads)))


def _map_json(mapper):
    return lambda text: mapper.map(text, threshold=0.0).to_json()


def test_mini_mapper_from_threads_matches_sequential(mini_mapper):
    sequential = [_map_json(mini_mapper)(text) for text in TEXTS]
    mini_mapper.encoder.clear()  # the threads start from the same cold cache
    for results in concurrently(_map_json(mini_mapper), TEXTS):
        assert [results[i] for i in range(len(TEXTS))] == sequential


class YieldingText(str):
    """A text whose hashing yields to the other threads: every cache operation becomes a point where
    another thread can run, so the interleavings the GIL makes rare happen hundreds of times a test."""

    def __hash__(self):
        time.sleep(0)
        return str.__hash__(self)


class LookupEncoder:
    """Precomputed rows: encoding costs next to nothing, so the threads spend their time in the cache."""

    name = fingerprint = "lookup"

    def __init__(self, texts: list[str]):
        self.rows = dict(zip(texts, TinyEncoder().encode(texts)))

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.rows[t] for t in texts])


def test_cached_encoder_hammered_by_threads_stays_consistent():
    """A two-row LRU over seven texts, so threads evict the rows other threads are looking up all the
    time: every row returned is its own text's encoding, and the cache keeps its bound and right rows."""
    texts = [YieldingText(f"text number {i} about model {i}") for i in range(7)]
    reference = LookupEncoder(texts)
    cached = CachedEncoder(LookupEncoder(texts), max_items=2)
    cached.prime(texts[:1], reference.encode(texts[:1]))
    start = threading.Barrier(THREADS)

    def hammer(seed: int) -> int:
        rng = random.Random(seed)
        start.wait()
        wrong = 0
        for _ in range(300):
            batch = rng.choices(texts, k=rng.randint(1, 3))  # duplicates included
            wrong += not np.array_equal(cached.encode(batch), reference.encode(batch))
        return wrong

    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(hammer, range(THREADS))) == [0] * THREADS
    kept = list(cached._recent)
    assert len(kept) <= 2
    np.testing.assert_array_equal(np.stack([cached._recent[t] for t in kept]), reference.encode(kept))


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.mark.encoder
@pytest.mark.filterwarnings("ignore:.*is not a known ATLAS release")
def test_real_encoder_mapper_from_threads_matches_sequential(tmp_path, monkeypatch):
    from mapper.encode.encoders import OnnxBertEncoder
    from mapper.pipeline import Mapper

    first = Mapper.load(atlas=FIXTURE_ATLAS, cache=tmp_path)  # builds the index and trains the ranker
    assert isinstance(first.encoder.encoder, OnnxBertEncoder)
    # the mapper that trained has encoded thousands of texts, the threads' one none: a sentence's embedding must
    # not depend on what was encoded before it (int8 activations are quantised per token)
    sequential = [_map_json(first)(text) for text in TEXTS]

    builds = []
    build = OnnxBertEncoder._build
    monkeypatch.setattr(OnnxBertEncoder, "_build", lambda self: builds.append(1) or build(self))
    second = Mapper.load(atlas=FIXTURE_ATLAS, cache=tmp_path)  # from the caches: its encoder is not loaded yet
    blas_before = _blas_threads()
    for results in concurrently(_map_json(second), TEXTS):
        assert [results[i] for i in range(len(TEXTS))] == sequential
    assert builds == [1], "the threads loaded the encoder more than once"
    # the BLAS thread count is process-wide: overlapping scorings must not leave it on one thread for good
    assert _blas_threads() == blas_before


def test_one_blas_thread_overlapping_in_threads_restores_the_setting():
    import threading

    from mapper.encode import threads as blas

    def limited() -> list[int]:  # the BLAS libraries the limiter controls (those loaded at its first use)
        return [lib["num_threads"] for lib in blas._controller().info() if lib["user_api"] == "blas"]

    before, given_before = limited(), blas.blas_threads()
    inside, started, release = [], threading.Barrier(5), threading.Event()

    def score():
        with blas.one_blas_thread():
            started.wait()
            inside.append(blas.blas_threads())
            release.wait(5)

    workers = [threading.Thread(target=score) for _ in range(4)]
    for t in workers:
        t.start()
    started.wait()  # all four are inside
    while len(inside) < 4:
        pass
    release.set()
    for t in workers:
        t.join()
    assert inside == [given_before] * 4  # what the process was given is still reported as it was
    assert limited() == before  # restored when the last one left
    # from the caller's own thread, as `map` and `batch` set it (set from a worker thread, the limit did not
    # always show in this process once other threads had mapped: not relied on)
    with blas.one_blas_thread(), blas.one_blas_thread():
        assert limited() == [1] * len(before)
    assert limited() == before
