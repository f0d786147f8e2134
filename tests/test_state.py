"""Caches under concurrency and on read-only disks, with real processes and real files."""

import sys
from pathlib import Path

import pytest

from conftest import run_in_processes

HERE = Path(__file__).resolve().parent


def _build(target: str, fixture: str, queue) -> None:
    sys.path.insert(0, str(HERE))
    from conftest import TinyEncoder

    from mapper.encode.index import TechniqueIndex
    from mapper.kb import load_kb

    kb = load_kb(fixture)
    encoder = TinyEncoder()
    index = TechniqueIndex.load_or_build(Path(target), kb, encoder)
    queue.put((encoder.calls, index.dense.tobytes()))


def test_two_processes_building_one_index_build_it_once(tmp_path, fixture_atlas):
    results = run_in_processes(_build, (str(tmp_path / "idx"), str(fixture_atlas)))
    calls = sorted(c for c, _ in results)
    assert calls == [0, 1]  # the second process waited for the lock and reused the first one's index
    assert results[0][1] == results[1][1]
    from mapper.encode.index import TechniqueIndex

    TechniqueIndex.load(tmp_path / "idx")  # complete and verified


def test_unwritable_cache_still_maps(mini_kb, tiny_encoder, tmp_path):
    """A cache location that cannot be created (a file stands where a folder should; root ignores chmod)."""
    from mapper.encode.encoders import CachedEncoder
    from mapper.encode.index import TechniqueIndex
    from mapper.pipeline import Mapper

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    cache = blocker / "cache"
    encoder = CachedEncoder(tiny_encoder)
    with pytest.warns(UserWarning, match="could not save"):
        index = TechniqueIndex.load_or_build(cache / "index", mini_kb, encoder)
    with pytest.warns(UserWarning, match="could not save"):
        from mapper.model.writeups import benchmark_writeups
        mapper = Mapper.from_parts(mini_kb, encoder, index, cache, {"C_grid": (1.0,)}, writeups=benchmark_writeups())
    assert mapper.map("poison the training data", threshold=0.0).techniques
    assert blocker.read_text() == ""  # nothing written anywhere else
