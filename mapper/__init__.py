"""atlas-mapper: map incident write-ups to MITRE ATLAS techniques.

Pipeline, in import order: data -> kb -> text -> encoders -> index -> rank -> outputs.
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
