"""Hook for Vertex AI tuning jobs, on an ``ft_vertex_ai`` or a ``google_cloud_platform`` connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook, declare_hook
from airflow_ft_provider.hooks.google_credentials import google_credentials
from airflow_ft_provider.platforms.vertex_ai import RECORD, VertexAIDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


#: What the smoke check calls each credential source (``google_credentials``'s ``source``).
_KINDS = {
    "access_token": "Google access token (access_token extra), used as given",
    "adc": "Google Application Default Credentials",
}


@declare_hook(RECORD)
class VertexAITuningHook(TuningJobHook):
    """Vertex AI tuning jobs of one project and location; credentials as ``google_credentials`` finds them."""

    def configure(self, conn: Connection) -> PlatformSetup:
        found = google_credentials(conn)
        self.log.debug("Connection %r: Vertex AI credentials from %s", conn.conn_id, found.source)
        with connection.named(conn):
            dialect = VertexAIDialect.from_extras(
                connection.base_url(conn, None), connection.extras(conn), default_project=found.project
            )
        return PlatformSetup(
            dialect,
            found.auth,
            connection.settings(conn, RECORD),
            secrets=found.secrets,
            credential_kind=_KINDS.get(found.source, f"Google service-account key ({found.source})"),
        )
