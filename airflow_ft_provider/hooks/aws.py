"""The hook the AWS platforms share: an AWS connection becomes a region's dialect and a SigV4 signer.

Bedrock and SageMaker read the same connection the same way (``ft_bedrock``, ``ft_sagemaker`` or
Airflow's ``aws``): the region is the ``region_name`` extra, else the AWS configuration's, else
us-east-1; the endpoint the host (or the ``endpoint_url`` extra), else the region's; credentials
come from :func:`~airflow_ft_provider.hooks.aws_credentials.aws_credentials`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.aws_credentials import SigV4Auth, aws_credentials, default_region, require_botocore
from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook
from airflow_ft_provider.platforms.aws import AwsDialect

if TYPE_CHECKING:
    from airflow.sdk import Connection


class AwsTuningHook(TuningJobHook):
    """Jobs of one AWS account and region, signed with SigV4; a subclass names its record (``declare_hook``)."""

    def configure(self, conn: Connection) -> PlatformSetup:
        dialect_class = cast("type[AwsDialect]", self.record.dialect)
        require_botocore(dialect_class.service_title)
        extras = connection.extras(conn)
        with connection.named(conn):
            configured = None if extras.text("region_name") else default_region()
            dialect = dialect_class.from_extras(_endpoint(conn), extras, default_region=configured)
        found = aws_credentials(conn, dialect)
        self.log.debug("Connection %r: AWS credentials from %s", conn.conn_id, found.source)
        return PlatformSetup(
            dialect,
            found.auth,
            connection.settings(conn, self.record),
            secrets=found.secrets,
            credential_kind=_kind(found.auth, found.source),
        )


def _kind(auth: object, source: str) -> str:
    """The credential kind the smoke check shows: an API key as such, else where the signing keys come from."""
    return f"AWS access keys from the {source}, SigV4-signed" if isinstance(auth, SigV4Auth) else f"{source} (Password)"


def _endpoint(conn: Connection) -> str | None:
    """The host or ``base_url`` extra, else the ``endpoint_url`` extra (the ``aws`` connection's), checked alike."""
    found = connection.base_url(conn, None)
    endpoint = connection.extras(conn).text("endpoint_url")
    if found is not None or not endpoint:
        return found
    from airflow.sdk import Connection as ConnectionModel

    shadow = ConnectionModel(conn_id=conn.conn_id, conn_type=conn.conn_type, host=endpoint, extra=conn.extra)
    return connection.base_url(shadow, None)
