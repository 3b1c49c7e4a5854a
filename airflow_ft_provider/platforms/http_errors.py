"""How REST platforms say "no": the HTTP status mapping and retry hints they share.

Google's APIs map their own ``google.rpc.Status`` bodies instead (``google_errors``); OpenAI,
Together AI, Azure OpenAI and OpenAI-compatible hosts share one error body (``openai_style_error``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    PermissionDeniedError,
    PlatformUnavailableError,
    QuotaExhaustedError,
    RateLimitedError,
    TuningJobError,
)
from airflow_ft_provider.platforms.fields import text
from airflow_ft_provider.platforms.wire import ApiRequest, ApiResponse, Operation


def error_by_status(
    response: ApiResponse,
    message: str,
    *,
    cancel_refused: bool,
    quota_exhausted: bool = False,
    **info: Any,
) -> TuningJobError:
    """The HTTP status mapping shared by the REST platforms.

    ``cancel_refused``: the platform's way of saying "this job's state allows no cancel",
    which each platform words differently; ``quota_exhausted``: a 429 that waiting won't fix.
    """
    status = response.status_code
    info["status_code"] = status
    if status == 401:
        return AuthenticationError(message, **info)
    if status == 403:
        return PermissionDeniedError(message, **info)
    if status == 404:
        return JobNotFoundError(message, **info)
    if status == 429:
        if quota_exhausted:
            return QuotaExhaustedError(message, **info)
        return RateLimitedError(message, **info)
    if status >= 500:
        return PlatformUnavailableError(message, **info)
    if cancel_refused:
        return JobNotCancellableError(message, **info)
    return InvalidRequestError(message, **info)


def openai_style_error(response: ApiResponse, request: ApiRequest, platform: str, vendor: str) -> TuningJobError:
    """The error of an OpenAI-shaped API (OpenAI, Together AI, Azure OpenAI, compatible hosts).

    Documented body: ``{"error": {"message", "type", "param", "code"}}``; a flat body with the
    same keys is tolerated (Together answers some errors that way).
    """
    status = response.status_code
    try:
        body = response.json_object(platform)
    except TuningJobError:
        body = {}
    nested = body.get("error")
    error = nested if isinstance(nested, dict) else body
    message = text(error.get("message")) or text(nested) or f"HTTP {status} from {vendor}"
    code = text(error.get("code")) or text(error.get("type"))
    return error_by_status(
        response,
        message,
        # A cancel carries no body or parameters and the id is checked before sending, so a
        # 400/409 to it can only be about the job's state (already ended or cancelling).
        cancel_refused=request.operation is Operation.CANCEL and status in (400, 409),
        quota_exhausted=code == "insufficient_quota",
        platform=platform,
        native_code=code,
        request_id=response.headers.get("x-request-id"),
        job_id=request.job_id,
    )


def retry_hint_from_headers(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """``retry-after-ms`` (OpenAI, Together) or ``Retry-After`` (seconds or an HTTP-date), as sent.

    The value is returned as the server meant it, however absurd (negative, huge, infinite): the
    transport's retry policy clamps it. Only what is not a number at all (NaN, garbage) is None.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        millis = _number(lowered["retry-after-ms"])
        return None if millis is None else millis / 1000
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.timestamp() - now() if when.tzinfo else None


def _number(raw: str) -> float | None:
    try:
        value = float(raw.strip()[:64])
    except ValueError:
        return None
    return None if math.isnan(value) else value
