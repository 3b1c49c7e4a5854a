"""One error hierarchy for every platform.

Each platform's documented errors are mapped by its dialect onto these classes, so
operators decide what to do (fail at once, retry, treat as done) without knowing which
platform answered. The platform's own message, code and request id are kept for the log.
No secret ever goes into these messages: they are built from response bodies and job
ids only, never from headers or connection fields.
"""

from __future__ import annotations

#: A platform's message is kept for the log, but not without bound (a proxy's error page, a
#: hostile server); codes and request ids are shorter still.
MAX_MESSAGE = 1000
MAX_FIELD = 200


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


class TuningJobError(Exception):
    """Base class: a platform call did not give the answer asked for."""

    #: Whether repeating the same request later can succeed (used by the transport).
    retryable: bool = False

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
        message = clip(message, MAX_MESSAGE)
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.status_code = status_code
        self.native_code = None if native_code is None else clip(native_code, MAX_FIELD)
        self.request_id = None if request_id is None else clip(request_id, MAX_FIELD)
        self.job_id = job_id

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
    """Too many requests; ``retry_after`` is the platform's hint in seconds, if any."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class QuotaExhaustedError(TuningJobError):
    """The account's quota or credit is used up; waiting will not help (OpenAI's
    ``insufficient_quota``)."""


class PlatformUnavailableError(TuningJobError):
    """A 5xx answer, a dropped connection or a timeout: worth retrying later."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class InvalidJobIdError(TuningJobError, ValueError):
    """The job id cannot name a job on this platform; refused before any request."""


class InvalidRequestError(TuningJobError):
    """The platform rejected the request as malformed (a 400 that is not about state)."""


class OperationNotSupportedError(TuningJobError):
    """The platform has no such operation (the Gemini API cannot cancel tuning)."""


class MalformedResponseError(TuningJobError):
    """The platform answered with a body this provider cannot read."""


#: Errors that no Airflow retry can fix: the task should fail at once.
PERMANENT_ERRORS: tuple[type[TuningJobError], ...] = (
    JobNotFoundError,
    AuthenticationError,
    InvalidJobIdError,
    InvalidRequestError,
    OperationNotSupportedError,
    QuotaExhaustedError,
)
