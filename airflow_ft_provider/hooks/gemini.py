"""Hook for Gemini API tuned models (read and list; cancel is answered as unsupported)."""

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
from airflow_ft_provider.platforms.gemini import DEFAULT_BASE_URL, GeminiDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


class GeminiTuningHook(TuningJobHook):
    """Gemini API tuned models. API key in Password; ``host`` may point at a proxy or emulator."""

    conn_type = "ft_gemini"
    default_conn_name = "ft_gemini_default"
    platform = Platform.GEMINI

    def configure(self, conn: Connection) -> PlatformSetup:
        key = require_secret(conn, conn.password, "Gemini API key")
        # A header, never ?key=: URLs are logged, headers are not.
        auth = BearerAuth(key, header="x-goog-api-key", scheme=None)
        dialect = GeminiDialect(base_url(conn, DEFAULT_BASE_URL))
        return PlatformSetup(dialect, auth, client_settings(conn), secrets=[key])
