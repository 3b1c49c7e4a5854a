"""One module per platform, each speaking that platform's wire format; found, not listed.

Every public module of this package that defines ``SPEC`` (a :class:`PlatformSpec`) is a
platform's emulator: adding a platform is adding its module. Helpers shared by several
platforms live in ``_``-prefixed modules, which are not platforms.
"""

from __future__ import annotations

import importlib
import pkgutil

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import PlatformSpec

__all__ = ["SPECS", "PlatformSpec", "seed_field_names"]


def _discover() -> dict[Platform, PlatformSpec]:
    found: dict[Platform, PlatformSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SPEC", None)
        if not isinstance(spec, PlatformSpec):
            continue
        if spec.platform in found:
            raise RuntimeError(f"two emulator modules claim {spec.platform}: {info.name} and another")
        found[spec.platform] = spec
    # In the order the provider lists its platforms, so every listing reads the same.
    return {p: found[p] for p in Platform if p in found}


#: Every emulated platform's spec.
SPECS: dict[Platform, PlatformSpec] = _discover()


def seed_field_names() -> frozenset[str]:
    """Every platform's scope keywords to ``seed()`` (``project``, ``location``, ``workspace``)."""
    return frozenset(name for spec in SPECS.values() for name in spec.seed_fields)
