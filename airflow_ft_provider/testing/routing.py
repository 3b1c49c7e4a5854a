"""Which platform serves a request: each under its own prefix, ``/<platform>``, the vendor's paths beneath.

``/openai/v1/fine_tuning/jobs`` is OpenAI's ``/v1/fine_tuning/jobs``: an official SDK whose vendor
host is replaced by ``<emulator>/openai`` runs unchanged, and platforms with the same paths (OpenAI
and the OpenAI-compatible hosts) never collide. The prefix is the platform's name, the one it has
everywhere else (``Platform``, connection types, the admin API). A platform may also serve auxiliary
routes at the root, for a service whose clients need a bare host (:meth:`PlatformSpec.root_routes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Scope

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms import SPECS
from airflow_ft_provider.testing.platforms._base import vendor_path
from airflow_ft_provider.testing.platforms._routes import JobApi

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

__all__ = ["PlatformRouter", "Served", "mount_path"]


def mount_path(platform: Platform | str) -> str:
    """The prefix a platform is served under: ``/openai``, ``/azure_openai``."""
    return "/" + Platform(platform).value


@dataclass(frozen=True)
class Served:
    """Who serves a request: the platform, its ASGI app, and whether the path is auxiliary
    (an OAuth or STS endpoint: never metered, hit only by a fault naming it, body never logged)."""

    platform: Platform
    app: ASGIApp
    auxiliary: bool


class PlatformRouter:
    """Every platform's :class:`Mount`, and the root routes some platforms add."""

    def __init__(self, core: EmulatorCore) -> None:
        self._mounts: list[tuple[Mount, Platform]] = []
        self._roots: list[tuple[list[BaseRoute], ASGIApp, Platform]] = []
        for platform, spec in SPECS.items():
            api = JobApi(core, spec)
            self._mounts.append((Mount(mount_path(platform), app=api.router()), platform))
            roots = spec.root_routes(api)
            if roots:
                self._roots.append((roots, Router(roots, redirect_slashes=False, default=api.no_route), platform))

    def route(self, scope: Scope) -> Served | None:
        """The platform serving ``scope``; under a prefix, ``scope`` is updated as Starlette's
        :class:`Mount` does (``root_path``), so :func:`vendor_path` gives the vendor's path. The
        bare prefix is the vendor's root, ``/`` (botocore posts an AWS JSON 1.1 call to the endpoint
        as given, ``<emulator>/sagemaker``); the signed ``raw_path`` is left as sent."""
        for mount, platform in self._mounts:
            if scope["path"] == mount.path:
                scope["path"] = mount.path + "/"
            match, child = mount.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return Served(platform, mount.app, SPECS[platform].is_auxiliary(vendor_path(scope)))
        for routes, app, platform in self._roots:
            if any(route.matches(scope)[0] is not Match.NONE for route in routes):
                return Served(platform, app, True)
        return None
