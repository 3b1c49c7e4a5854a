"""Hook for Together AI fine-tuning jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks.base import (
    BearerAuth,
    PlatformSetup,
    TuningJobHook,
    base_url,
    client_settings,
    require_secret,
)
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.together import DEFAULT_BASE_URL, TogetherDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


class TogetherFineTuningHook(TuningJobHook):
    """Together AI fine-tuning jobs. API key in Password; ``host`` overrides the base URL (with ``/v1``)."""

    conn_type = "ft_together"
    default_conn_name = "ft_together_default"
    platform = Platform.TOGETHER

    def configure(self, conn: Connection) -> PlatformSetup:
        key = require_secret(conn, conn.password, "Together AI API key")
        dialect = TogetherDialect(base_url(conn, DEFAULT_BASE_URL))
        return PlatformSetup(dialect, BearerAuth(key), client_settings(conn), secrets=[key])
