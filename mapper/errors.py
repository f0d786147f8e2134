"""The project's own exceptions.

The library raises only these; the CLI turns them into a one-line message and
an exit code in one place (``mapper.cli``). Each message names the problem and
the fix.
"""


class MapperError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(MapperError):
    """The caller asked for something that cannot work (bad option, bad value)."""

    exit_code = 2


class InputError(MapperError):
    """A user-supplied file or text cannot be used."""

    exit_code = 3


class AtlasDataError(MapperError):
    """ATLAS data is missing, unreadable, not ATLAS, or fails its checksum."""

    exit_code = 4


class DownloadError(AtlasDataError):
    """A download failed or did not match its pinned sha256."""


class ModelError(MapperError):
    """An encoder or a built model/index cannot be loaded or trusted."""

    exit_code = 5


class OutputError(MapperError):
    """An output file cannot be written (exists without --force, bad place)."""

    exit_code = 6


class Busy(MapperError):
    """The work asked for waits on something held elsewhere (a model loading, a lock); ask again shortly.

    ``retry_after``: seconds after which asking again is likely to succeed (HTTP's Retry-After)."""

    exit_code = 7

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


class NotFoundError(InputError):
    """A stored object (a report, a model version) that does not exist."""
