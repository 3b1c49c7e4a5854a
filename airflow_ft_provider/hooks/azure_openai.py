"""Hook for Azure OpenAI fine-tuning jobs: the API-key hook, with the credential chosen by ``auth_type``.

``api_key`` (the default): Password holds the resource's key (``api-key`` header). ``entra_token``:
Password holds a Microsoft Entra ID access token (``Authorization: Bearer``), used as given (it
expires after 60-90 minutes: a longer wait needs one of the following). ``service_principal``,
``managed_identity``, ``workload_identity``: azure-identity mints the Entra ID token and mints
another before it expires (:mod:`airflow_ft_provider.hooks.azure_credentials`, the ``[azure]``
extra). The ``auth_type`` extra says which, so a token is never sent as a key or the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.auth import HeaderAuth
from airflow_ft_provider.hooks.azure_credentials import entra_credentials
from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook, declare_hook
from airflow_ft_provider.platforms.azure_openai import AUTH_TYPES, MINTED_AUTH_TYPES, RECORD, AzureOpenAIDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


@declare_hook(RECORD)
class AzureOpenAITuningHook(TuningJobHook):
    """Azure OpenAI fine-tuning jobs of one resource (its endpoint in Host)."""

    def configure(self, conn: Connection) -> PlatformSetup:
        with connection.named(conn):
            extras = connection.extras(conn)
            auth_type = extras.choice("auth_type", [*AUTH_TYPES, *MINTED_AUTH_TYPES], "api_key")
            dialect = AzureOpenAIDialect.from_extras(connection.base_url(conn, None), extras)
        settings = connection.settings(conn, RECORD)
        if auth_type in MINTED_AUTH_TYPES:
            found = entra_credentials(conn, auth_type, extras)
            self.log.debug("Connection %r: Entra ID credentials from %s", conn.conn_id, found.source)
            kind = f"Entra ID token minted by {found.source}"
            return PlatformSetup(dialect, found.auth, settings, secrets=found.secrets, credential_kind=kind)
        auth = AUTH_TYPES[auth_type]
        secret = connection.require_secret(conn, conn.password, auth.label)
        header = HeaderAuth(secret, auth.header, auth.scheme)
        kind = f"{auth.label} (Password, auth_type {auth_type})"
        return PlatformSetup(dialect, header, settings, secrets=[secret], credential_kind=kind)
