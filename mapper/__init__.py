"""atlas-mapper: map incident write-ups to MITRE ATLAS techniques.

The data flows one way, and the folders follow it (each imports only from those before it):

- ``errors``, ``files``, ``store``, ``progress``, ``text``, ``result``: helpers below everything;
- ``kb``: an ATLAS release (found, verified, downloaded) parsed into the knowledge base;
- ``encode``: sentence vectors (the numpy BERT), TF-IDF, the technique index and search;
- ``model``: per-technique features and the learned parts (scorers, stacked logistic stages with
  co-occurrence, operating point, AI relevance) composed in ``TechniqueRanker``;
- ``pipeline``: :class:`Mapper`, which loads or trains all of it and maps text to a ``MappingResult``;
- ``io``: inputs, outputs, exports, batch and the Dask cluster; ``serve``: the web app; ``cli``.

The evaluation harness (``eval/atlas_eval``) imports this package; this package never imports it.
"""

from mapper.errors import MapperError

__version__ = "0.1.0"  # the one place the version is set: pyproject.toml reads it from here
__all__ = ["Mapper", "MapperError", "__version__", "about"]


def __getattr__(name):
    # Imported lazily so that `import mapper` (and `--help`) stays cheap.
    if name == "Mapper":
        from mapper.pipeline import Mapper

        return Mapper
    raise AttributeError(name)


def about() -> dict:
    """The package version and its defaults (ATLAS release, encoder), read straight from the data files:
    ``atlas-mapper --version`` must not pay for importing numpy or the download code."""
    import json

    from mapper.files import data_dir

    def default(name: str) -> str:
        return json.loads((data_dir() / name).read_text(encoding="utf-8"))["default"]

    return {"version": __version__, "atlas_release": default("releases.json"), "encoder": default("encoders.json")}
