"""Hook for IBM watsonx.ai fine-tunings, on an ``ft_watsonx`` connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook, declare_hook
from airflow_ft_provider.hooks.ibm_iam import iam_auth
from airflow_ft_provider.platforms.watsonx import RECORD, WatsonxDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


@declare_hook(RECORD)
class WatsonxTuningHook(TuningJobHook):
    """Fine-tunings of one watsonx.ai project or space. Password: an IBM Cloud API key, exchanged
    for an IAM token (``hooks.ibm_iam``) that is refreshed before it expires."""

    def configure(self, conn: Connection) -> PlatformSetup:
        with connection.named(conn):
            dialect = WatsonxDialect.from_extras(connection.base_url(conn, None), connection.extras(conn))
        auth, key = iam_auth(conn)
        kind = "IBM Cloud API key (Password), exchanged for IAM tokens"
        return PlatformSetup(dialect, auth, connection.settings(conn, RECORD), secrets=[key], credential_kind=kind)
