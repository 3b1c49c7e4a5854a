"""Hook for Amazon Bedrock model customization jobs, on an ``ft_bedrock`` or an ``aws`` connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.aws_credentials import aws_credentials, default_region, require_botocore
from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook, declare_hook
from airflow_ft_provider.platforms.bedrock import RECORD, BedrockDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


@declare_hook(RECORD)
class BedrockCustomizationHook(TuningJobHook):
    """Bedrock model customization jobs of one account and region, signed with SigV4.

    The region is the ``region_name`` extra, else the AWS configuration's, else us-east-1; the
    endpoint the host (or ``endpoint_url`` extra), else the region's. Credentials: ``aws_credentials``.
    """

    def configure(self, conn: Connection) -> PlatformSetup:
        require_botocore()
        extras = connection.extras(conn)
        with connection.named(conn):
            configured = None if extras.text("region_name") else default_region()
            dialect = BedrockDialect.from_extras(_endpoint(conn), extras, default_region=configured)
        found = aws_credentials(conn, dialect.region)
        self.log.debug("Connection %r: AWS credentials from %s", conn.conn_id, found.source)
        return PlatformSetup(dialect, found.auth, connection.settings(conn, RECORD), secrets=found.secrets)


def _endpoint(conn: Connection) -> str | None:
    """The host or ``base_url`` extra, else the ``endpoint_url`` extra (the ``aws`` connection's), checked alike."""
    found = connection.base_url(conn, None)
    endpoint = connection.extras(conn).text("endpoint_url")
    if found is not None or not endpoint:
        return found
    from airflow.sdk import Connection as ConnectionModel

    shadow = ConnectionModel(conn_id=conn.conn_id, conn_type=conn.conn_type, host=endpoint, extra=conn.extra)
    return connection.base_url(shadow, None)
