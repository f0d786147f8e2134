"""Shared fixtures: a tiny ATLAS file, a tiny deterministic encoder, the real releases."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURE_ATLAS = HERE / "fixtures" / "mini_atlas.yaml"
# v6-format fixtures of our own: 2026.07 applies the kinds of change ATLAS reported since 2026.05
V6_FIXTURES = HERE / "fixtures" / "v6"
SHARED_ATLAS = ROOT.parent / "shared" / "atlas"
RELEASES = SHARED_ATLAS / "releases"
LATEST = RELEASES / "v5.6.1" / "ATLAS.yaml"
V6 = RELEASES / "v2026.05" / "ATLAS-2026.05.yaml"
# The environment the session started with: a Dask nanny that restarts a killed worker sets one BLAS thread
# (and more) in this process's environment again, which a model trained in a child process would inherit.
SESSION_ENVIRONMENT = dict(os.environ)


class TinyEncoder:
    """Hashed bag of words: deterministic, instant, and good enough to rank the fixture."""

    name = "tiny-hash-encoder"
    fingerprint = "tiny-hash-encoder-v1"

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                word = "".join(ch for ch in word if ch.isalnum())
                if len(word) < 3:
                    continue
                h = int(hashlib.md5(word[:6].encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
            out[i] /= np.linalg.norm(out[i]) or 1.0
        return out


def run_in_processes(target, args: tuple, n: int = 2, timeout: float = 180) -> list:
    """Start ``n`` spawned processes of ``target(*args, queue)`` at once; what each put on the queue."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.fixture(scope="session")
def _encoder_exports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("encoder-exports")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch, _encoder_exports):
    """Every test gets its own cache folder and no ambient ATLAS data setting. A default model trained in a test
    leaves the labelled corpus out (minutes of training each); the tests of the shipped model's quality (the
    session's v2026.05 model, the model without Tay) learn from it, as the product does. The encoder's ONNX
    exports depend on its weights alone, so the tests share them (tests/test_onnx.py checks exporting itself)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "encoders").symlink_to(_encoder_exports, target_is_directory=True)
    monkeypatch.setenv("ATLAS_MAPPER_CACHE", str(cache))
    monkeypatch.setenv("ATLAS_MAPPER_CORPUS", "off")
    monkeypatch.delenv("ATLAS_MAPPER_DATA", raising=False)
    monkeypatch.delenv("ATLAS_MAPPER_MIRROR", raising=False)


@pytest.fixture
def fixture_atlas() -> Path:
    return FIXTURE_ATLAS


@pytest.fixture
def tiny_encoder():
    return TinyEncoder()


@pytest.fixture
def mini_kb():
    from mapper.kb import load_kb

    return load_kb(FIXTURE_ATLAS)


@pytest.fixture(scope="session")
def v6_old():
    from mapper.kb import load_kb

    return load_kb(V6_FIXTURES / "ATLAS-2026.05.yaml")


@pytest.fixture(scope="session")
def v6_new():
    from mapper.kb import load_kb

    return load_kb(V6_FIXTURES / "ATLAS-2026.07.yaml")


@pytest.fixture
def mini_mapper(tiny_encoder, tmp_path):
    from fixture_parts import mini_mapper

    return mini_mapper(tmp_path / "models", tiny_encoder)


def needs_shared():
    return pytest.mark.skipif(not LATEST.is_file(), reason="../shared/atlas not present")


@pytest.fixture(scope="session")
def v6_cache(tmp_path_factory):
    """One cache for every test of the default model on v2026.05, trained once per session (minutes) by the
    command line in a process of its own, with the environment the session started with, as a user's model is
    and as tests/fixtures/before_layout/record.sh trains the one its outputs come from. The trained model depends
    in its third decimal on the BLAS thread count: trained with the variables a Dask nanny had left in this
    process (one thread), the example's first score read 0.4646 against the recorded 0.4678."""
    import subprocess
    import sys

    cache = tmp_path_factory.mktemp("v6-cache")
    if V6.is_file():
        env = dict(SESSION_ENVIRONMENT, ATLAS_MAPPER_CACHE=str(cache), ATLAS_MAPPER_CORPUS="on", ATLAS_MAPPER_QUIET="1")
        subprocess.run([sys.executable, "-m", "mapper", "map", "--text", "a model was stolen", "--atlas", str(V6)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    return cache


@pytest.fixture(scope="session")
def real_mapper(v6_cache):
    """The production pipeline on v2026.05 with the real encoder, trained on the labelled corpus as shipped
    (built once per test session, in the cache every test of the shipped model shares)."""
    if not V6.is_file():
        pytest.skip("../shared/atlas not present")
    from mapper.pipeline import Mapper

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_MAPPER_CORPUS", "on")
        return Mapper.load(atlas=V6, cache=v6_cache)
