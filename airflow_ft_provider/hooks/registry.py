"""Which hook serves a connection: the connection's type picks the platform's record and hook."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from airflow_ft_provider.errors import ConnectionConfigError
from airflow_ft_provider.platforms.registry import RECORDS, record_for

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import TuningJobHook


def _load(path: str) -> type[TuningJobHook]:
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def hook_class_for_conn_type(conn_type: str | None, conn_id: str = "") -> type[TuningJobHook]:
    record = RECORDS.by_conn_type.get(conn_type or "")
    if record is None:
        known = ", ".join(sorted(RECORDS.by_conn_type))
        raise ConnectionConfigError(
            f"Connection {conn_id!r} has type {conn_type!r}, which is not a fine-tuning platform. "
            f"Use a connection of one of these types: {known}."
        )
    return _load(record.hook_class_path)


def hook_class_for_platform(platform: str) -> type[TuningJobHook]:
    return _load(record_for(platform).hook_class_path)


def get_hook(conn_id: str) -> TuningJobHook:
    """The hook for ``conn_id``, chosen by the connection's type (reads the connection)."""
    from airflow.providers.common.compat.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return hook_class_for_conn_type(conn.conn_type, conn_id)(conn_id=conn_id)
