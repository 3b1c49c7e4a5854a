"""The platforms this provider speaks: the built-in ones, and those other packages register.

A platform is a :class:`PlatformRecord` named ``RECORD`` in its module. The built-in platforms are
the members of :class:`Platform`, each in ``airflow_ft_provider.platforms.<name>``. Another
distribution adds one with an entry point in the group :data:`GROUP`, named for the platform and
naming its record::

    [project.entry-points."airflow_ft_provider.platforms"]
    acme = "acme_ft.platform:RECORD"

The built-ins are not registered through the group as well: the enum already lists them, and a
provider run from a source tree or from metadata that predates a platform still finds them all.
A name is known without importing anything (entry points are read from the distributions'
metadata); a platform's module is imported the first time its record is asked for. The views that
need every record (the provider info, the hook of a connection type) import them all.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points

from airflow_ft_provider.errors import PlatformRegistryError
from airflow_ft_provider.platforms.record import PlatformRecord

log = logging.getLogger(__name__)

#: The entry point group through which a distribution registers a platform.
GROUP = "airflow_ft_provider.platforms"


class Platform(StrEnum):
    """The built-in platforms, by name; a ``str`` enum, so members compare equal to their names."""

    AZURE_OPENAI = "azure_openai"
    BEDROCK = "bedrock"
    DASHSCOPE = "dashscope"
    FIREWORKS = "fireworks"
    GEMINI = "gemini"
    OPENAI = "openai"
    REPLICATE = "replicate"
    SAGEMAKER = "sagemaker"
    TOGETHER = "together"
    VERTEX_AI = "vertex_ai"
    WATSONX = "watsonx"


_BUILT_IN_NAMES = frozenset(platform.value for platform in Platform)


def _built_in(platform: Platform) -> EntryPoint:
    return EntryPoint(platform.value, f"{__package__}.{platform.value}:RECORD", GROUP)


class PlatformRegistry(Mapping[str, PlatformRecord]):
    """Every platform's record by name: the names without importing anything, a record on first use."""

    def __init__(self, registered: tuple[EntryPoint, ...] | None = None) -> None:
        #: None: read the installed distributions' entry points, once, when first needed.
        self._registered = registered
        self._loaded: dict[str, PlatformRecord] = {}

    @functools.cached_property
    def _sources(self) -> dict[str, EntryPoint]:
        sources = {platform.value: _built_in(platform) for platform in Platform}
        found = entry_points(group=GROUP) if self._registered is None else self._registered
        for entry in sorted(found, key=lambda e: (e.name, e.value)):
            taken = sources.get(entry.name)
            if taken is not None:
                if taken.value != entry.value:  # the same distribution seen twice is no conflict
                    log.warning(
                        "Ignoring the fine-tuning platform %r registered as %s: %s already has that name.",
                        entry.name,
                        entry.value,
                        "a built-in platform" if entry.name in _BUILT_IN_NAMES else taken.value,
                    )
                continue
            sources[entry.name] = entry
        return sources

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._sources

    def __getitem__(self, name: str) -> PlatformRecord:
        record = self._loaded.get(name)
        if record is None:
            record = self._loaded[name] = _load(self._sources[name])
        return record

    @functools.cached_property
    def by_conn_type(self) -> Mapping[str, PlatformRecord]:
        """Every record by the connection types its hook serves (imports every platform)."""
        found: dict[str, PlatformRecord] = {}
        for record in self.values():
            for conn_type in record.conn_types:
                other = found.setdefault(conn_type, record)
                if other is not record:
                    raise PlatformRegistryError(
                        f"Platforms {other.name!r} and {record.name!r} both serve connection type {conn_type!r}."
                    )
        return found


def _load(entry: EntryPoint) -> PlatformRecord:
    try:
        record = entry.load()
    except (ImportError, AttributeError) as exc:
        raise PlatformRegistryError(
            f"The fine-tuning platform {entry.name!r} is registered as {entry.value}, which cannot be loaded: {exc}"
        ) from exc
    if not isinstance(record, PlatformRecord) or record.name != entry.name or record.dialect.platform != entry.name:
        raise PlatformRegistryError(
            f"The fine-tuning platform {entry.name!r} is registered as {entry.value}, which is not a "
            f"PlatformRecord named {entry.name!r} whose dialect's platform is {entry.name!r}."
        )
    return record


#: The platforms of this process: the built-ins and what the installed distributions register.
RECORDS = PlatformRegistry()


def record_for(platform: str) -> PlatformRecord:
    """The record of ``platform`` (a name or a :class:`Platform` member), imported on first use."""
    if platform not in RECORDS:
        raise _unknown(platform)
    return RECORDS[platform]


def known_platform(name: str) -> str:
    """``name`` as a platform: the :class:`Platform` member of a built-in, else a registered name as is."""
    if name in _BUILT_IN_NAMES:
        return Platform(name)
    if name not in RECORDS:
        raise _unknown(name)
    return name


def _unknown(name: object) -> PlatformRegistryError:
    return PlatformRegistryError(
        f"Unknown platform {name!r:.80}; known platforms: {', '.join(RECORDS)}. A platform of another "
        f"package is known once that package is installed (it registers in the entry point group {GROUP!r})."
    )
