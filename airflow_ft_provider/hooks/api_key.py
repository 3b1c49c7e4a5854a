"""The hooks of platforms that take an API key: built from their records, one class each.

Such a platform declares what differs in its record (``api_key``: the header and scheme; its
dialect reads its own extras in ``from_extras``), and gets a hook class here, named by the record
(``OpenAITuningHook``), registered with Airflow like any other: ``hooks.api_key.OpenAITuningHook``
is the hook's one import path, the one the provider info names. Nothing here lists platforms; a
platform another package registers gets its hook here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.auth import HeaderAuth
from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook, declare_hook
from airflow_ft_provider.platforms.record import API_KEY_HOOKS, PlatformRecord
from airflow_ft_provider.platforms.registry import RECORDS

if TYPE_CHECKING:
    from airflow.sdk import Connection


class ApiKeyTuningHook(TuningJobHook):
    """A platform whose connection holds an API key in Password and options in its extras."""

    def configure(self, conn: Connection) -> PlatformSetup:
        record = self.record
        assert record.api_key is not None
        key = connection.require_secret(conn, conn.password, record.api_key.label)
        with connection.named(conn):
            dialect = record.dialect.from_extras(connection.base_url(conn, None), connection.extras(conn))
        auth = HeaderAuth(key, record.api_key.header, record.api_key.scheme)
        kind = f"{record.api_key.label} (Password)"
        return PlatformSetup(dialect, auth, connection.settings(conn, record), secrets=[key], credential_kind=kind)


def _hook_class(record: PlatformRecord) -> type[ApiKeyTuningHook]:
    name = record.hook_class_name
    doc = f"{record.title} fine-tuning jobs. API key in Password; ``host`` may point at another base URL."
    return declare_hook(record)(type(name, (ApiKeyTuningHook,), {"__module__": __name__, "__doc__": doc}))


#: The hooks made so far, by class name: one class per record, made once.
_HOOKS: dict[str, type[ApiKeyTuningHook]] = {}


def __getattr__(name: str) -> Any:
    """``airflow_ft_provider.hooks.api_key.<record's hook_class_name>``, e.g. ``OpenAITuningHook``;
    made on first use (the same class every time)."""
    if name in _HOOKS:
        return _HOOKS[name]
    for record in RECORDS.values():
        if record.hook_module == API_KEY_HOOKS and record.hook_class_name == name:
            return _HOOKS.setdefault(name, _hook_class(record))  # a racing thread's class is dropped
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
