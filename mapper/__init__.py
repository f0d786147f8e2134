"""atlas-mapper: map incident write-ups to MITRE ATLAS techniques.

Pipeline, in import order: data -> kb -> text -> encoders -> index -> rank -> outputs.
"""

from mapper.errors import MapperError

__version__ = "0.1.0"
__all__ = ["Mapper", "MapperError", "__version__"]


def __getattr__(name):
    # Imported lazily so that `import mapper` (and `--help`) stays cheap.
    if name == "Mapper":
        from mapper.rank import Mapper

        return Mapper
    raise AttributeError(name)
