"""Hook for Azure OpenAI fine-tuning jobs: the API-key hook, with the header chosen by ``auth_type``.

Password holds either the resource's key (``api-key`` header, the default) or a Microsoft Entra
ID access token (``Authorization: Bearer``); the ``auth_type`` extra says which, so a token is
never sent as a key or the other way round. The token is used as given: minting and refreshing
it is the deployment's business (a secrets backend, or a task that rotates the connection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.auth import HeaderAuth
from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook, declare_hook
from airflow_ft_provider.platforms.azure_openai import AUTH_TYPES, RECORD, AzureOpenAIDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


@declare_hook(RECORD)
class AzureOpenAITuningHook(TuningJobHook):
    """Azure OpenAI fine-tuning jobs of one resource (its endpoint in Host)."""

    def configure(self, conn: Connection) -> PlatformSetup:
        with connection.named(conn):
            extras = connection.extras(conn)
            auth = AUTH_TYPES[extras.choice("auth_type", AUTH_TYPES, "api_key")]
            dialect = AzureOpenAIDialect.from_extras(connection.base_url(conn, None), extras)
        secret = connection.require_secret(conn, conn.password, auth.label)
        header = HeaderAuth(secret, auth.header, auth.scheme)
        return PlatformSetup(dialect, header, connection.settings(conn, RECORD), secrets=[secret])
