"""Airflow connections that point the provider's hooks at an emulator.

Use the result as ``AIRFLOW_CONN_<ID>`` (``json.dumps`` it) in tests or local runs of your DAGs.
"""

from __future__ import annotations

from typing import Any

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms import SPECS
from airflow_ft_provider.testing.platforms._base import EmulatorLike

__all__ = ["airflow_connection", "default_conn_id"]


def airflow_connection(
    emu: EmulatorLike,
    platform: Platform | str,
    *,
    key: str | None = None,
    project: str = "emulator-project",
    location: str = "us-central1",
    **extra: Any,
) -> dict[str, Any]:
    """A connection (JSON form) for ``platform`` on ``emu``; ``extra`` become its extras.

    Vertex AI gets a real service-account key whose ``token_uri`` is the emulator's OAuth
    endpoint, so google-auth's whole token exchange runs, in ``project`` and ``location``
    (other platforms ignore both). ``key`` replaces the valid credentials (on Vertex AI: a
    bearer token, e.g. the emulator's static one or one it never issued, to test refusals).
    """
    spec = SPECS[Platform(platform)]
    return spec.connection(emu, key=key, project=project, location=location, extra=dict(extra))


def default_conn_id(platform: Platform | str) -> str:
    """The connection id the platform's hook uses by default (``ft_openai_default``)."""
    return f"{SPECS[Platform(platform)].conn_type}_default"
