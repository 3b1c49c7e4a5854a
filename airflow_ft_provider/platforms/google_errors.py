"""Google's ``google.rpc.Status`` error bodies, shared by the Vertex AI and Gemini API dialects.

Both APIs answer ``{"error": {"code", "message", "status", "details"}}``, some endpoints
wrapped in a one-element list. The HTTP status decides the error class; the ``status``
string and the ``details`` refine it (a rejected API key is a 400 with an ``ErrorInfo``
reason, a 429 carries its wait in ``RetryInfo``). Any body, however malformed, yields a
typed error: an error answer must never turn into a parsing crash.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    OperationNotSupportedError,
    PermissionDeniedError,
    PlatformUnavailableError,
    RateLimitedError,
    TuningJobError,
)
from airflow_ft_provider.platforms.fields import text
from airflow_ft_provider.platforms.http_errors import retry_hint_from_headers
from airflow_ft_provider.platforms.wire import ApiRequest, ApiResponse, Operation, parse_json

#: Error bodies are small; a larger one is not read (a hostile or broken proxy page).
MAX_ERROR_BODY = 256 * 1024

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
REQUEST_INFO = "type.googleapis.com/google.rpc.RequestInfo"

#: ``ErrorInfo.reason`` values that mean "the credential itself is bad", whatever the HTTP code
#: (the Gemini API rejects an invalid key with 400 INVALID_ARGUMENT).
_BAD_CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "ACCESS_TOKEN_EXPIRED"})
_REQUEST_ID_HEADERS = ("x-goog-request-id", "x-request-id")
# protobuf Duration in JSON: "53s", "1.5s", "0.000001s".
_DURATION = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,9})?)s")


@dataclass(frozen=True)
class GoogleStatus:
    """The readable parts of a ``google.rpc.Status`` body; every field may be missing."""

    message: str | None = None
    status: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    def detail(self, type_url: str) -> dict[str, Any]:
        return next((d for d in self.details if d.get("@type") == type_url), {})

    @property
    def reason(self) -> str | None:
        return text(self.detail(ERROR_INFO).get("reason"))

    @property
    def retry_delay(self) -> float | None:
        return parse_duration(self.detail(RETRY_INFO).get("retryDelay"))


def read_status(response: ApiResponse) -> GoogleStatus:
    """Parse an error body leniently: whatever cannot be read is left out."""
    if len(response.content) > MAX_ERROR_BODY:
        return GoogleStatus()
    try:
        body = parse_json(response.content)
    except (ValueError, RecursionError):
        return GoogleStatus()
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GoogleStatus()
    message = text(error.get("message"))  # clipped by TuningJobError
    details = error.get("details")
    return GoogleStatus(
        message=message,
        status=(text(error.get("status")) or "")[:64] or None,
        details=[d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
    )


def parse_duration(value: object) -> float | None:
    """A protobuf Duration (``"53s"``, ``"1.5s"`` or ``{"seconds", "nanos"}``) in seconds, as sent
    (the transport clamps absurd ones); None if it is not a duration."""
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        return float(match.group(1))
    if isinstance(value, dict):
        seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
        try:
            total = float(seconds) + float(nanos) / 1e9
        except (TypeError, ValueError, OverflowError):
            return None
        return None if math.isnan(total) else total
    return None


def google_retry_hint(response: ApiResponse) -> float | None:
    """A 429's or 5xx's ``RetryInfo.retryDelay``, else its ``Retry-After`` header."""
    delay = read_status(response).retry_delay
    return delay if delay is not None else retry_hint_from_headers(response.headers)


def request_id(response: ApiResponse, status: GoogleStatus) -> str | None:
    found = text(status.detail(REQUEST_INFO).get("requestId"))
    if found:
        return found
    headers = {k.lower(): v for k, v in response.headers.items()}
    return next((headers[h] for h in _REQUEST_ID_HEADERS if headers.get(h)), None)


def google_error(
    response: ApiResponse,
    request: ApiRequest,
    platform: str,
    *,
    status: GoogleStatus | None = None,
) -> TuningJobError:
    """Map a non-2xx Google answer onto the shared error hierarchy."""
    status = status if status is not None else read_status(response)
    code = response.status_code
    message = status.message or f"HTTP {code} from {platform}"
    info: dict[str, Any] = {
        "platform": platform,
        "status_code": code,
        "native_code": status.status,
        "request_id": request_id(response, status),
        "job_id": request.job_id,
    }
    cancelling = request.operation is Operation.CANCEL

    if code == 401 or status.reason in _BAD_CREDENTIAL_REASONS:
        return AuthenticationError(f"{message} Check the connection's credentials.", **info)
    if code == 403:
        return PermissionDeniedError(f"{message} Check the permissions of the connection's identity.", **info)
    if code == 404:
        if request.operation is Operation.LIST:
            return InvalidRequestError(f"{message} Check the connection's host, project and location.", **info)
        return JobNotFoundError(message, **info)
    if code == 429 or status.status == "RESOURCE_EXHAUSTED":
        return RateLimitedError(message, **info)
    if code == 501:
        return OperationNotSupportedError(message, **info)
    if code >= 500 or code in (408, 499):
        return PlatformUnavailableError(message, **info)
    if cancelling and (code in (409, 412) or status.status == "FAILED_PRECONDITION"):
        return JobNotCancellableError(message, **info)
    if code == 409 and status.status == "ABORTED":
        return PlatformUnavailableError(message, **info)
    if code == 400 and status.status == "INVALID_ARGUMENT" and _about_id(message, request):
        return InvalidJobIdError(message, **info)
    return InvalidRequestError(message, **info)


def _about_id(message: str, request: ApiRequest) -> bool:
    """Whether a 400 INVALID_ARGUMENT complains about the job's name rather than the request."""
    if request.operation is Operation.LIST or not request.job_id:
        return False
    lowered = message.lower()
    return "name" in lowered or request.job_id.lower() in lowered
