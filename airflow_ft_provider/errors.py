"""One error hierarchy for every platform, with one root: :class:`TuningJobError`.

Each platform's documented errors are mapped by its dialect onto these classes, and every answer
the transport refuses (a redirect, an oversized body, an endless listing, an attempt past its
deadline) gets one too, so operators decide what to do (fail at once, retry, treat as done)
without knowing which platform answered. ``retryable`` says whether the same request may
succeed later; the transport retries exactly those, within its bounds. Every text of an error
passes ``server_text.clean`` here: a message quoting a server (which may echo the request's
credentials, or send control characters) reaches logs, XCom and trigger events only as data.
Configuration that cannot work (a connection, a platform name) is refused under the same root, so
``except TuningJobError`` catches everything the provider raises about a platform or connection;
those errors are ``ValueError`` as well, since they are bad values the caller passed in.
"""

from __future__ import annotations

from airflow_ft_provider.server_text import clean

#: A platform's message is kept for the log, but not without bound (a proxy's error page, a
#: hostile server); codes and request ids are shorter still.
MAX_MESSAGE = 1000
MAX_FIELD = 200


class TuningJobError(Exception):
    """Base class: a platform call did not give the answer asked for."""

    #: Whether repeating the same request later can succeed (the transport retries these).
    retryable: bool = False
    #: The platform's "retry after" hint in seconds, as sent (set by the transport; clamped there).
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        status_code: int | None = None,
        native_code: str | None = None,
        request_id: str | None = None,
        job_id: str | None = None,
    ) -> None:
        message = clean(message, MAX_MESSAGE)
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.status_code = status_code
        self.native_code = None if native_code is None else clean(native_code, MAX_FIELD)
        self.request_id = None if request_id is None else clean(request_id, MAX_FIELD)
        self.job_id = None if job_id is None else clean(job_id)  # ids are bounded where they are checked

    def __str__(self) -> str:
        parts = [self.message]
        detail = ", ".join(
            f"{name}={value}"
            for name, value in (
                ("platform", self.platform),
                ("http", self.status_code),
                ("code", self.native_code),
                ("request_id", self.request_id),
            )
            if value is not None
        )
        if detail:
            parts.append(f"({detail})")
        return " ".join(parts)


class JobNotFoundError(TuningJobError):
    """The job does not exist, or is not visible to these credentials."""


class AuthenticationError(TuningJobError):
    """The credentials were refused (401) or lack permission (403). Fix the connection."""


class PermissionDeniedError(AuthenticationError):
    """The credentials are valid but may not act on this job or project (403)."""


class JobNotCancellableError(TuningJobError):
    """The platform refused to cancel because of the job's state (already ended, say)."""


class RateLimitedError(TuningJobError):
    """Too many requests (429): the platform asks this client to slow down."""

    retryable = True


class QuotaExhaustedError(TuningJobError):
    """The account's quota or credit is used up; waiting will not help (OpenAI's
    ``insufficient_quota``)."""


class PlatformUnavailableError(TuningJobError):
    """A 5xx answer, a dropped connection or a timeout: worth retrying later."""

    retryable = True


class RequestTimeoutError(PlatformUnavailableError):
    """An attempt did not complete (connect, send and the whole answer) within its time."""


class InvalidJobIdError(TuningJobError, ValueError):
    """The job id cannot name a job on this platform; refused before any request."""


class InvalidRequestError(TuningJobError):
    """The platform rejected the request as malformed (a 400 that is not about state)."""


class OperationNotSupportedError(TuningJobError):
    """The platform has no such operation (the Gemini API cannot cancel tuning)."""


class MalformedResponseError(TuningJobError):
    """The answer's body is not what the platform sends (a proxy's HTML page, truncated JSON,
    a broken encoding). Retried: a glitch between here and the platform can pass."""

    retryable = True


class UnexpectedResponseError(TuningJobError):
    """An answer no documented exchange produces: a redirect (never followed), a success status
    the operation does not use, a record of another job than the one asked for. Not retried:
    something between here and the platform (a proxy, a wrong base URL) answers in its place."""


class ResponseTooLargeError(TuningJobError):
    """The answer's body is larger than the connection's ``max_response_mb`` (raw or decoded)."""


class ListingLimitError(TuningJobError):
    """A listing went past its bounds (``max_pages``, ``max_listed_jobs``) or its page tokens are
    unusable (repeated, too long): stopped rather than followed forever."""


class ConnectionConfigError(TuningJobError, ValueError):
    """The Airflow connection is missing something or holds a value that cannot work. Also a
    ``ValueError``: a value the caller supplied is wrong, and Airflow treats those as such."""


class PlatformRegistryError(TuningJobError, ValueError):
    """A platform name that no installed package registers, or a registration that is broken (its
    entry point cannot be imported or is not a record of that name)."""
