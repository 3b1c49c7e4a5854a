"""What the AWS platforms (Bedrock, SageMaker) share: regions, error types, the connection's AWS fields.

Both are signed with SigV4 by the same credential chain (``hooks/aws_credentials.py``); their
dialects differ in the protocol (Bedrock: rest-json, SageMaker: JSON 1.1) but name regions, report
errors by type and take the same connection extras the same way. :class:`AwsDialect` holds that
part; this module is pure like every dialect.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.errors import (
    AuthenticationError,
    JobNotCancellableError,
    JobNotFoundError,
    PermissionDeniedError,
    PlatformUnavailableError,
    RateLimitedError,
    TuningJobError,
)
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.fields import text
from airflow_ft_provider.platforms.http_errors import error_by_status

#: The region when neither the connection nor the AWS configuration names one (boto's usual default).
DEFAULT_REGION = "us-east-1"
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")

#: Error types meaning the credentials themselves were refused (AWS answers them with 403 or 400).
AUTH_TYPES = frozenset(
    {
        "UnrecognizedClientException",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    }
)
#: Error types whose meaning does not depend on the service or the status they come with
#: (a JSON 1.1 service answers ``ThrottlingException`` with 400: still a rate limit).
TYPED: dict[str, type[TuningJobError]] = {
    "AccessDeniedException": PermissionDeniedError,
    "ResourceNotFoundException": JobNotFoundError,
    "ResourceNotFound": JobNotFoundError,
    "ThrottlingException": RateLimitedError,
    "TooManyRequestsException": RateLimitedError,
    "InternalServerException": PlatformUnavailableError,
    "InternalFailure": PlatformUnavailableError,
    "ServiceUnavailableException": PlatformUnavailableError,
    "ServiceUnavailable": PlatformUnavailableError,
}


def check_region(region: str) -> str:
    """``region`` if it looks like an AWS region, else ``ValueError`` naming it."""
    if not _REGION.fullmatch(region):
        raise ValueError(f"AWS region {region!r:.40} is not valid; expected something like {DEFAULT_REGION!r}.")
    return region


def error_parts(response: ApiResponse, platform: str) -> tuple[str | None, str | None]:
    """(error type, message) of an AWS error answer: the type from ``x-amzn-ErrorType`` (rest-json)
    or the body's ``__type`` (JSON 1.1) or ``code``, without its ``:namespace`` suffix or ``prefix#``."""
    try:
        body = response.json_object(platform)
    except TuningJobError:
        body = {}
    lowered = {k.lower(): v for k, v in response.headers.items()}
    raw = text(lowered.get("x-amzn-errortype")) or text(body.get("__type")) or text(body.get("code"))
    kind = raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()[:80] if raw else None
    message = text(body.get("message")) or text(body.get("Message"))
    return kind or None, message


class AwsDialect(Dialect):
    """A dialect of an AWS service in one region: its host, region rule and error mapping."""

    #: The service's name in messages ("Amazon Bedrock").
    service_title: ClassVar[str]
    #: SigV4's signing name (botocore's ``signingName``).
    signing_name: ClassVar[str]
    #: Whether a Password without a Login is the service's API key (Bedrock's), sent as a bearer token.
    takes_api_key: ClassVar[bool] = False
    #: The service's host in a region (``https://bedrock.{region}.amazonaws.com``).
    host_template: ClassVar[str]
    #: What fixing refused credentials means for this service's connection, for the message.
    credentials_hint: ClassVar[str] = (
        "Check the connection's credentials (Login: access key id, Password: its secret) and region."
    )
    #: Error types that, answering a cancel, mean the job's state allows no stop.
    cancel_refused_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, base_url: str | None, region: str = DEFAULT_REGION) -> None:
        """Raises ``ValueError`` naming a bad region; the hook words it for the connection."""
        check_region(region)
        super().__init__(base_url or self.default_base_url(region))
        self.region = region

    @classmethod
    def default_base_url(cls, region: str) -> str:
        return cls.host_template.format(region=region)

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras, default_region: str | None = None) -> Self:
        """``default_region``: the AWS configuration's (``AWS_REGION``, ``~/.aws/config``), if the extras name none."""
        region = extras.text("region_name") or default_region or DEFAULT_REGION
        try:
            return cls(base_url, region=region)
        except ValueError as exc:
            raise ExtraError(f"{exc} Fix the region_name extra.") from None

    def is_rate_limit(self, response: ApiResponse) -> bool:
        return TYPED.get(error_parts(response, self.platform)[0] or "") is RateLimitedError

    def refined_error(self, kind: str | None, message: str, request: ApiRequest) -> type[TuningJobError] | None:
        """A service's own reading of an error (SageMaker's "not found" ValidationException); None: the shared one."""
        return None

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        kind, message = error_parts(response, self.platform)
        info: dict[str, Any] = {
            "platform": self.platform,
            "status_code": response.status_code,
            "native_code": kind,
            "request_id": response.headers.get("x-amzn-requestid") or response.headers.get("x-amzn-RequestId"),
            "job_id": request.job_id,
        }
        message = message or f"HTTP {response.status_code} from {self.service_title}" + (f" ({kind})" if kind else "")
        if kind in AUTH_TYPES:
            return AuthenticationError(f"{message} {self.credentials_hint}", **info)
        refined = self.refined_error(kind, message, request)
        if refined is not None:
            return refined(message, **info)
        if kind in self.cancel_refused_types and request.operation is Operation.CANCEL:
            return JobNotCancellableError(message, **info)
        typed = TYPED.get(kind or "")
        if typed is not None:
            return typed(message, **info)
        del info["status_code"]
        return error_by_status(
            response,
            message,
            # A stop carries no more than the id, checked first: a 400 to it is about the job's state.
            cancel_refused=request.operation is Operation.CANCEL and response.status_code in (400, 409),
            **info,
        )


def aws_fields(service: str) -> tuple[ConnField, ...]:
    """The AWS connection's extras (besides Login/Password), for ``service``'s form."""
    return (
        ConnField("region_name", "Region", "AWS region of the jobs, e.g. us-east-1.", default=DEFAULT_REGION),
        ConnField(
            "aws_session_token",
            "Session token",
            "With temporary credentials: the session token belonging to the access key.",
            secret=True,
        ),
        ConnField("role_arn", "Role ARN", "An IAM role to assume (STS AssumeRole) with the credentials above."),
        ConnField(
            "endpoint_url",
            "Base URL as in Amazon's provider (endpoint_url)",
            f'The same as "Base URL (optional)" (another {service} endpoint: a VPC endpoint, an emulator), in '
            "the extra where Amazon's provider keeps it; fill one of the two, or neither for the region's.",
        ),
        *COMMON_FIELDS,
    )


def aws_form(dialect: type[AwsDialect], service: str, key_field_label: str = "Secret access key") -> ConnectionForm:
    """An AWS platform's connection form: Login is the access key id, Password its secret; both
    empty: the default AWS credential chain."""
    return ConnectionForm(
        fields=aws_fields(service),
        key_field_label=key_field_label,
        host_placeholder=dialect.default_base_url(DEFAULT_REGION),
        hidden=("schema", "port"),
        relabeling={"login": "AWS access key ID"},
    )
