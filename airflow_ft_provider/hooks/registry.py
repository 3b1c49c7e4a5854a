"""Which hook serves a connection: the connection's type picks the platform's record and hook.

A connection type that several platforms can read (Airflow's ``aws``: Bedrock and SageMaker)
belongs to one of them (its record's ``also_conn_types``); another one serves it when the
connection's ``platform`` extra names it (its record's ``shared_conn_types``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from airflow_ft_provider.errors import ConnectionConfigError
from airflow_ft_provider.platforms.registry import RECORDS, record_for

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import TuningJobHook
    from airflow_ft_provider.platforms.record import PlatformRecord

#: The extra of a shared connection type (``aws``) naming the platform it is for.
PLATFORM_EXTRA = "platform"


def _load(path: str) -> type[TuningJobHook]:
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def hook_class_for_conn_type(
    conn_type: str | None, conn_id: str = "", platform: str | None = None
) -> type[TuningJobHook]:
    """The hook of ``conn_type``, or of ``platform`` (the connection's ``platform`` extra) where that
    platform reads connections of this type too."""
    record = RECORDS.by_conn_type.get(conn_type or "")
    if record is None:
        known = ", ".join(sorted(RECORDS.by_conn_type))
        raise ConnectionConfigError(
            f"Connection {conn_id!r} has type {conn_type!r}, which is not a fine-tuning platform. "
            f"Use a connection of one of these types: {known}."
        )
    if platform and platform != record.name:
        record = _chosen(record, conn_type or "", conn_id, platform)
    return _load(record.hook_class_path)


def _chosen(owner: PlatformRecord, conn_type: str, conn_id: str, platform: str) -> PlatformRecord:
    readers = [owner.name, *(r.name for r in RECORDS.values() if conn_type in r.shared_conn_types)]
    if platform not in readers:
        raise ConnectionConfigError(
            f"Connection {conn_id!r} of type {conn_type!r} names platform {platform[:40]!r} in its "
            f"{PLATFORM_EXTRA} extra, but that type serves only {', '.join(readers)}. Set the extra to one "
            f"of those, or use the platform's own connection type."
        )
    return record_for(platform)


def hook_class_for_platform(platform: str) -> type[TuningJobHook]:
    return _load(record_for(platform).hook_class_path)


def get_hook(conn_id: str) -> TuningJobHook:
    """The hook for ``conn_id``, chosen by the connection's type (and ``platform`` extra; reads the connection)."""
    from airflow.providers.common.compat.sdk import BaseHook

    from airflow_ft_provider.hooks import connection

    conn = BaseHook.get_connection(conn_id)
    with connection.named(conn):
        platform = connection.extras(conn).text(PLATFORM_EXTRA)
    return hook_class_for_conn_type(conn.conn_type, conn_id, platform)(conn_id=conn_id)
