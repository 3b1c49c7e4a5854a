"""The platforms this provider speaks, collected from their modules' records.

Every module of this package that defines ``RECORD`` (a :class:`PlatformRecord`) is a platform;
nothing else lists them. ``Platform`` is the enum of their names (``Platform.OPENAI == "openai"``),
so a new ``platforms/<name>.py`` is picked up by the enum, the provider info, the hook registry and
the emulators without being written down anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil
from enum import StrEnum
from typing import TYPE_CHECKING

from airflow_ft_provider import platforms
from airflow_ft_provider.platforms.record import PlatformRecord

if TYPE_CHECKING:
    from collections.abc import Mapping


def _discover() -> dict[str, PlatformRecord]:
    found: dict[str, PlatformRecord] = {}
    for module in sorted(pkgutil.iter_modules(platforms.__path__), key=lambda m: m.name):
        record = getattr(importlib.import_module(f"{platforms.__name__}.{module.name}"), "RECORD", None)
        if isinstance(record, PlatformRecord):
            found[record.name] = record
    return found


RECORDS: Mapping[str, PlatformRecord] = _discover()
#: Every platform's record by the connection types its hook serves.
RECORDS_BY_CONN_TYPE: Mapping[str, PlatformRecord] = {
    conn_type: record for record in RECORDS.values() for conn_type in record.conn_types
}

#: The platforms, by name; a ``str`` enum, so members compare equal to their names.
Platform = StrEnum("Platform", {name.upper(): name for name in RECORDS})  # type: ignore[misc]


def record_for(platform: str) -> PlatformRecord:
    """The record of ``platform`` (a name or a :data:`Platform` member), or ValueError listing them."""
    record = RECORDS.get(str(platform))
    if record is None:
        raise ValueError(f"Unknown platform {platform!r}; known platforms: {', '.join(RECORDS)}.")
    return record
