"""Which hook serves a connection: the connection's type picks the platform."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from airflow_ft_provider.connection_fields import CONNECTION_FORMS
from airflow_ft_provider.jobs import Platform

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import TuningJobHook

_HOOK_PATHS: dict[str, str] = {conn_type: form.hook_class for conn_type, form in CONNECTION_FORMS.items()}
# A user's existing Google Cloud connection works for Vertex AI as well.
_HOOK_PATHS["google_cloud_platform"] = CONNECTION_FORMS["ft_vertex_ai"].hook_class

#: The provider's own connection type of each platform.
CONN_TYPE_BY_PLATFORM: dict[Platform, str] = {
    Platform.VERTEX_AI: "ft_vertex_ai",
    Platform.GEMINI: "ft_gemini",
    Platform.DASHSCOPE: "ft_dashscope",
    Platform.TOGETHER: "ft_together",
    Platform.OPENAI: "ft_openai",
}


def _load(path: str) -> type[TuningJobHook]:
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def hook_class_for_conn_type(conn_type: str | None, conn_id: str = "") -> type[TuningJobHook]:
    path = _HOOK_PATHS.get(conn_type or "")
    if path is None:
        known = ", ".join(sorted(_HOOK_PATHS))
        raise ValueError(
            f"Connection {conn_id!r} has type {conn_type!r}, which is not a fine-tuning platform. "
            f"Use a connection of one of these types: {known}."
        )
    return _load(path)


def hook_class_for_platform(platform: Platform | str) -> type[TuningJobHook]:
    return _load(_HOOK_PATHS[CONN_TYPE_BY_PLATFORM[Platform(platform)]])


def get_hook(conn_id: str) -> TuningJobHook:
    """The hook for ``conn_id``, chosen by the connection's type (reads the connection)."""
    from airflow.providers.common.compat.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return hook_class_for_conn_type(conn.conn_type, conn_id)(conn_id=conn_id)
