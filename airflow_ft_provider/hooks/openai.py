"""Hook for OpenAI fine-tuning jobs and OpenAI-compatible hosts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks.base import (
    BearerAuth,
    PlatformSetup,
    TuningJobHook,
    base_url,
    client_settings,
    extra_value,
    require_secret,
)
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.openai import DEFAULT_BASE_URL, OpenAIDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


class OpenAIFineTuningHook(TuningJobHook):
    """OpenAI fine-tuning jobs. API key in Password; ``host`` may point at any compatible base URL."""

    conn_type = "ft_openai"
    default_conn_name = "ft_openai_default"
    platform = Platform.OPENAI

    def configure(self, conn: Connection) -> PlatformSetup:
        key = require_secret(conn, conn.password, "OpenAI API key")
        dialect = OpenAIDialect(
            base_url(conn, DEFAULT_BASE_URL),
            organization=extra_value(conn, "organization"),
            project=extra_value(conn, "project"),
        )
        return PlatformSetup(dialect, BearerAuth(key), client_settings(conn), secrets=[key])
