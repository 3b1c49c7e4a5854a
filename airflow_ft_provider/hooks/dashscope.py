"""Hook for Alibaba Cloud Model Studio (DashScope) fine-tuning jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks.base import (
    BearerAuth,
    ConnectionConfigError,
    PlatformSetup,
    TuningJobHook,
    base_url,
    client_settings,
    extra_value,
    require_secret,
)
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.dashscope import BASE_URLS, DEFAULT_REGION, DashScopeDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


class DashScopeFineTuningHook(TuningJobHook):
    """DashScope fine-tunes. API key in Password; the ``region`` extra (cn or intl) picks the
    endpoint unless ``host`` overrides it; the ``workspace`` extra selects a workspace."""

    conn_type = "ft_dashscope"
    default_conn_name = "ft_dashscope_default"
    platform = Platform.DASHSCOPE

    def configure(self, conn: Connection) -> PlatformSetup:
        key = require_secret(conn, conn.password, "DashScope API key")
        dialect = DashScopeDialect(base_url(conn, BASE_URLS[_region(conn)]), workspace=_workspace(conn))
        return PlatformSetup(dialect, BearerAuth(key), client_settings(conn), secrets=[key])


def _region(conn: Connection) -> str:
    # Checked even when host overrides the URL: a wrong value is a mistake either way.
    region = str(extra_value(conn, "region", DEFAULT_REGION)).strip().lower()
    if region not in BASE_URLS:
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: region {region!r} is not one of {', '.join(BASE_URLS)}. "
            "Use cn for Beijing or intl for the international (Singapore) endpoint."
        )
    return region


def _workspace(conn: Connection) -> str | None:
    # Refused here, not by httpx at send time, where it would look like a network error.
    workspace = extra_value(conn, "workspace")
    if workspace is None:
        return None
    workspace = str(workspace).strip()
    if not workspace.isprintable():
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: the workspace extra contains unprintable characters. "
            "Set it to the workspace ID shown in the Model Studio console."
        )
    return workspace or None
