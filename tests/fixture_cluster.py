"""The tiny fixture model for Dask workers in tests: built by the client, loaded by each worker from the
same verified files (``WorkerSetup`` with ``loader="fixture_cluster:load"``)."""

from __future__ import annotations

from pathlib import Path

from conftest import TinyEncoder

PARAMS = {"C_grid": (1.0,)}


def build(atlas: Path, root: Path):
    from mapper.encode.encoders import CachedEncoder
    from mapper.kb import load_kb
    from mapper.pipeline import Mapper, open_index

    kb = load_kb(atlas)
    encoder = CachedEncoder(TinyEncoder())
    from mapper.model.writeups import benchmark_writeups
    return Mapper.from_parts(kb, encoder, open_index(kb, encoder, root), root, PARAMS, writeups=benchmark_writeups())


def load(spec: dict, atlas: Path, root: Path):
    return build(atlas, root)
