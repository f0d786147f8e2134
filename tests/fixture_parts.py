"""The tiny fixture pipeline as a plain function, so that other processes can rebuild it: the workbench's
training worker (a recipe ``{"factory": "fixture_parts:mini_mapper", "path": [tests]}``) and the fixture server."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
RECIPE = {"factory": "fixture_parts:mini_mapper", "path": [str(HERE)]}


def mini_mapper(root: Path, encoder=None):
    """The mini ATLAS, the hashed bag-of-words encoder and the learned ranker, cached under ``root``."""
    from conftest import FIXTURE_ATLAS, TinyEncoder
    from mapper.encode.encoders import CachedEncoder
    from mapper.encode.index import TechniqueIndex
    from mapper.kb import load_kb
    from mapper.model.writeups import benchmark_writeups
    from mapper.pipeline import Mapper

    kb = load_kb(FIXTURE_ATLAS)
    encoder = CachedEncoder(encoder or TinyEncoder())
    return Mapper.from_parts(kb, encoder, TechniqueIndex.build(kb, encoder), Path(root), {"C_grid": (1.0,)},
                             writeups=benchmark_writeups())
