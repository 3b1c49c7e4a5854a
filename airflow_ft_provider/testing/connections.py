"""Airflow connections that point the provider's hooks at an emulator.

Use the result as ``AIRFLOW_CONN_<ID>`` (``json.dumps`` it) in tests or local runs of your DAGs.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from airflow_ft_provider.hooks.registry import CONN_TYPE_BY_PLATFORM
from airflow_ft_provider.platforms.registry import Platform


class _EmulatorLike(Protocol):
    def base_url(self, platform: Platform | str) -> str: ...
    def api_key(self, platform: Platform | str) -> str: ...
    def service_account_info(self, project_id: str) -> dict[str, str]: ...


def airflow_connection(
    emu: _EmulatorLike,
    platform: Platform | str,
    *,
    key: str | None = None,
    project: str = "emulator-project",
    location: str = "us-central1",
    **extra: Any,
) -> dict[str, Any]:
    """A connection (JSON form) for ``platform`` on ``emu``.

    Vertex AI gets a real service-account key whose ``token_uri`` is the emulator's OAuth
    endpoint, so google-auth's whole token exchange runs. ``key`` replaces the valid
    credentials (on Vertex AI: a bearer token the emulator never issued), to test refusals.
    """
    platform = Platform(platform)
    conn: dict[str, Any] = {"conn_type": CONN_TYPE_BY_PLATFORM[platform], "host": emu.base_url(platform)}
    extras = dict(extra)
    if platform is Platform("vertex_ai"):
        extras.setdefault("project", project)
        extras.setdefault("location", location)
        if key is not None:
            extras["access_token"] = key
        else:
            conn["password"] = json.dumps(emu.service_account_info(project))
    else:
        conn["password"] = key if key is not None else emu.api_key(platform)
    conn["extra"] = extras
    return conn
