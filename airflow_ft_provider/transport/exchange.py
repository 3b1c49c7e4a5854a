"""One attempt's decisions, shared by the sync and async transports: no I/O here.

How long an attempt may take, what headers go with it, which answers count as success, and how
a network failure is reported. The transports only send, read and sleep.
"""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_ft_provider.errors import (
    ConnectionConfigError,
    InvalidRequestError,
    PlatformUnavailableError,
    RateLimitedError,
    RequestTimeoutError,
    UnexpectedResponseError,
)
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect
from airflow_ft_provider.transport.body import ACCEPT_ENCODING, BodyReader
from airflow_ft_provider.transport.budget import RequestBudget
from airflow_ft_provider.transport.retries import RetryPolicy
from airflow_ft_provider.transport.settings import ClientSettings

log = logging.getLogger(__name__)


def attempt_seconds(
    settings: ClientSettings, time_left: float | None, what: str, platform: str, job_id: str | None = None
) -> float:
    """The time one attempt may take: the connection's ``timeout``, or less if the caller's deadline
    is nearer. A deadline already passed ends the call before anything is sent."""
    if time_left is None:
        return settings.timeout
    if time_left <= 0:
        raise RequestTimeoutError(
            f"{what} not sent: the caller's deadline has passed.", platform=platform, job_id=job_id
        )
    return min(settings.timeout, time_left)


def describe(dialect: Dialect, request: ApiRequest) -> str:
    return f"{dialect.platform} {request.operation}{' ' + request.job_id if request.job_id else ''}"


def build(client: httpx.Client | httpx.AsyncClient, request: ApiRequest, seconds: float) -> httpx.Request:
    """The httpx request for ``request``, with the attempt's timeout on every phase. A request without
    parameters keeps its URL's own query (a ``next`` URL's cursor): httpx replaces the query with
    any ``params`` given, even none."""
    try:
        return client.build_request(
            request.method,
            request.url,
            params=dict(request.params) or None,
            json=request.json,
            headers={**request.headers, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(seconds),
        )
    except httpx.InvalidURL as exc:
        raise InvalidRequestError(
            f"{request.method} {request.url[:200]} cannot be sent: {exc}", job_id=request.job_id
        ) from None


def body_reader(response: httpx.Response, settings: ClientSettings, dialect: Dialect) -> BodyReader:
    """The reader for the answer's body. An answer built in memory (``httpx.MockTransport``) has
    nothing left to stream: its decoded body goes through the reader's size check as it is."""
    consumed = response.is_stream_consumed
    encoding = None if consumed else response.headers.get("content-encoding")
    reader = BodyReader(encoding, settings.max_response_bytes, dialect.platform)
    if consumed:
        reader.feed(response.content)
    else:
        reader.check_declared(response.headers.get("content-length"))
    return reader


def budget_status(dialect: Dialect, response: httpx.Response, body: bytes) -> int:
    """The status the request budget learns from: 429 for any answer the platform means as a rate
    limit (AWS JSON 1.1 sends ``ThrottlingException`` with 400), else the answer's own."""
    status = response.status_code
    if 400 <= status < 500 and status != 429 and dialect.is_rate_limit(ApiResponse(status, response.headers, body)):
        return 429
    return status


def judge(dialect: Dialect, request: ApiRequest, response: httpx.Response, body: bytes) -> ApiResponse:
    """The answer if it is a success of this operation; else the typed error for it."""
    answer = ApiResponse(response.status_code, response.headers, body)
    status = answer.status_code
    if status >= 400:
        error = dialect.parse_error(answer, request)
        error.retry_after = dialect.retry_hint(answer)
        raise error
    if status not in dialect.success_statuses[request.operation]:
        raise _unexpected(dialect, request, response)
    return answer


def _unexpected(dialect: Dialect, request: ApiRequest, response: httpx.Response) -> UnexpectedResponseError:
    status = response.status_code
    if 300 <= status < 400:
        where = urlsplit(response.headers.get("location", ""))
        target = f" to {where.scheme}://{where.hostname}{where.path[:100]}" if where.hostname else ""
        what = (
            f"redirected{target} (HTTP {status}). Redirects are never followed: the request did not reach "
            "the platform. Check the connection's host (a proxy or an old base URL?)"
        )
    else:
        what = (
            f"answered HTTP {status}, which this operation never answers when it works. Check that the "
            "connection's host is the platform's API"
        )
    return UnexpectedResponseError(
        f"{describe(dialect, request)}: the server {what}.",
        platform=dialect.platform,
        status_code=status,
        job_id=request.job_id,
    )


def network_error(
    exc: httpx.HTTPError, platform: str, what: str, where: str, seconds: float, job_id: str | None = None
) -> Exception:
    """A transport failure as a typed error that never quotes a header: retryable, unless it is a TLS
    failure that no retry can mend (:func:`lasting_tls_failure`), which is refused at once with the fix.

    ``what``: the call ("openai get ftjob-1"); ``where``: the method and URL (no query secrets)."""
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(
            f"{what}: no complete answer within {seconds:.3g} s ({type(exc).__name__}) from {where}.",
            platform=platform,
            job_id=job_id,
        )
    # A LocalProtocolError is about what we were about to send and may quote a header (the
    # credential): only its type is shown. Other httpx errors name the failure, never headers.
    reason = "the request could not be encoded" if isinstance(exc, httpx.LocalProtocolError) else str(exc)
    tls = lasting_tls_failure(exc)
    if tls is not None:
        return ConnectionConfigError(
            f"{type(exc).__name__} talking to {platform} ({where}): {reason}. {tls} Not retried: the same "
            "handshake fails every time.",
            platform=platform,
            job_id=job_id,
        )
    if "SSL" in reason or "CERTIFICATE" in reason.upper():
        reason += f". {PLAIN_HTTP_HINT} {PRIVATE_CA_HINT}"
    return PlatformUnavailableError(
        f"{type(exc).__name__} talking to {platform} ({where}): {reason}", platform=platform, job_id=job_id
    )


#: How a plain-HTTP server (an emulator, a local gateway) is written: a host without a scheme is https.
PLAIN_HTTP_HINT = (
    "TLS failed: if this host speaks plain HTTP (an emulator, a local gateway), write the connection's host as "
    "http://host:port (a host written without http:// is taken as https://)."
)
PRIVATE_CA_HINT = "If it uses a private CA, install that CA (verify_tls=false turns checks off)."
#: OpenSSL's reasons for a handshake with a server that does not speak TLS (plain HTTP answering the
#: client's hello) or not a version or cipher this client offers: the same server answers the same way.
_NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "NO_PROTOCOLS_AVAILABLE",
    }
)


def lasting_tls_failure(exc: BaseException) -> str | None:
    """The fix, when ``exc`` (or what caused it) is a TLS failure that a retry cannot mend; else None.

    A server that does not speak TLS, and a certificate this client does not trust, fail every
    handshake alike; a connection reset or an EOF during the handshake may pass, and stays retryable.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS failed: the server's certificate is not trusted. {PRIVATE_CA_HINT}"
        if isinstance(cause, ssl.SSLError) and cause.reason in _NOT_TLS_REASONS:
            return PLAIN_HTTP_HINT
        cause = cause.__cause__ or cause.__context__
    return None


def log_answer(request: ApiRequest, status: int, took: float, **extra: Any) -> None:
    log.debug("%s %s -> %d in %.3f s", request.method, request.url, status, took, extra=extra or None)


def time_left(deadline: float | None) -> float | None:
    """Seconds until the caller's deadline (Unix time), or None without one."""
    return None if deadline is None else deadline - time.time()


def no_room(budget: RequestBudget, what: str, platform: str, job_id: str | None = None) -> RateLimitedError:
    """The error of a request whose token in the connection's budget would come after its deadline."""
    return RateLimitedError(
        f"{what} not sent: the connection's request budget "
        f"({budget.rate * 60:.0f} requests per minute now) has no room before the caller's deadline.",
        platform=platform,
        job_id=job_id,
    )


def observe(
    budget: RequestBudget,
    dialect: Dialect,
    settings: ClientSettings,
    response: httpx.Response,
    body: bytes,
    sent: float,
) -> None:
    """Tell the budget how the platform answered the request sent at ``sent`` (with a 429's hint,
    clamped as a retry's wait is: a huge hint never pauses a connection for long)."""
    status, hint = budget_status(dialect, response, body), None
    if status == 429:
        answer = ApiResponse(response.status_code, response.headers, body)
        hint = RetryPolicy(settings).clamp(dialect.retry_hint(answer))
    budget.observe(status, sent, hint)
