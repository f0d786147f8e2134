"""Small readers shared by the two file-format parsers."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from mapper.errors import AtlasDataError


def require(obj: object, key: str, path: Path, what: str):
    """``obj[key]``, or a one-line error naming the damaged object."""
    if not isinstance(obj, dict) or key not in obj:
        raise AtlasDataError(f"{path}: a {what} lacks '{key}'; the file is damaged or not ATLAS data")
    return obj[key]


def iso(value: object) -> str | None:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return str(value) if value not in (None, "") else None


def attack_id(obj: dict, key: str) -> str | None:
    return (obj.get(key) or {}).get("id")


def maturity(value: object) -> str | None:
    """One spelling across formats: legacy files write 'demonstrated', v6 'Demonstrated'."""
    return str(value).strip().capitalize() if value else None
