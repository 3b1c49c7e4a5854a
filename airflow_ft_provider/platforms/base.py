"""The contract every platform dialect fulfils, and the pieces they share.

A dialect is pure: it turns "get job X" into an :class:`ApiRequest` and an
:class:`ApiResponse` into a :class:`~airflow_ft_provider.jobs.TuningJob` or a typed
error. It never does I/O and never sees a credential (auth is applied by the transport),
so it can be unit-tested with literal bytes and shared by the sync and async paths.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import quote

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    MalformedResponseError,
    PermissionDeniedError,
    PlatformUnavailableError,
    QuotaExhaustedError,
    RateLimitedError,
    TuningJobError,
)
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState

log = logging.getLogger(__name__)

#: No platform's job id or resource name comes near this; longer input is refused unread.
MAX_JOB_ID_LENGTH = 256


class Operation(StrEnum):
    """What a request is for; dialects map the same HTTP status differently per operation."""

    GET = "get"
    LIST = "list"
    CANCEL = "cancel"


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, fully addressed, without credentials."""

    operation: Operation
    method: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The job the request is about, for error messages.
    job_id: str | None = None


@dataclass(frozen=True)
class ApiResponse:
    """The parts of an HTTP response a dialect reads."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json_object(self, platform: Platform) -> dict[str, Any]:
        """The body as a JSON object, or :class:`MalformedResponseError`."""
        try:
            data = json.loads(self.content)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise MalformedResponseError(
                f"Response body is not JSON ({len(self.content)} bytes): {exc}",
                platform=platform,
                status_code=self.status_code,
            ) from None
        if not isinstance(data, dict):
            raise MalformedResponseError(
                f"Expected a JSON object, got {type(data).__name__}",
                platform=platform,
                status_code=self.status_code,
            )
        return data


@dataclass(frozen=True)
class Page:
    """One page of a job listing; ``next_token`` is None on the last page."""

    jobs: list[TuningJob]
    next_token: str | None
    #: The tokens of all the pages after this one, when the platform numbers its pages and this
    #: answer says how many there are (DashScope's first page): a client may fetch them at once.
    later_tokens: tuple[str, ...] = ()


class Dialect(ABC):
    """Requests and responses of one platform's fine-tuning API."""

    platform: ClassVar[Platform]
    #: Pattern a bare job id must match (besides the shared length/character checks).
    id_pattern: ClassVar[re.Pattern[str]]
    #: An example id for error messages.
    id_example: ClassVar[str]
    #: Native state string -> normalized state. Lookups are case-sensitive.
    states: ClassVar[Mapping[str, TuningJobState]]

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    # -- requests ---------------------------------------------------------------------
    @abstractmethod
    def get_request(self, job_id: str) -> ApiRequest: ...

    @abstractmethod
    def list_request(self, page_token: str | None, page_size: int | None) -> ApiRequest: ...

    @abstractmethod
    def cancel_request(self, job_id: str) -> ApiRequest: ...

    # -- responses --------------------------------------------------------------------
    @abstractmethod
    def parse_job(self, response: ApiResponse) -> TuningJob: ...

    @abstractmethod
    def parse_page(self, response: ApiResponse, request: ApiRequest) -> Page: ...

    def parse_cancel(self, response: ApiResponse, request: ApiRequest) -> TuningJob | None:
        """The job as the cancel answer shows it, when the platform returns one."""
        return None

    @abstractmethod
    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        """Map a non-2xx answer onto the shared error hierarchy."""

    # -- shared helpers ---------------------------------------------------------------
    def map_state(self, native: object) -> TuningJobState:
        """Normalize a native state; anything unrecognised is UNKNOWN, never an error."""
        state = self.states.get(native) if isinstance(native, str) else None
        if state is None:
            _log_unknown_state(self.platform, repr(native)[:80])
            return TuningJobState.UNKNOWN
        return state

    def check_job_id(self, job_id: object) -> str:
        """Refuse ids that could not name a job here, before they reach a URL."""
        check_id_text(job_id, self.platform, self.id_example)
        assert isinstance(job_id, str)
        if ".." in job_id or not self.id_pattern.fullmatch(job_id):
            raise invalid_id(job_id, self.platform, self.id_example)
        return job_id

    def url(self, *segments: str, suffix: str = "") -> str:
        """Base URL plus escaped path segments; ``suffix`` (``:cancel``) is appended raw."""
        return "/".join([self.base_url, *(quote(s, safe="") for s in segments)]) + suffix

    def malformed(self, message: str, response: ApiResponse) -> MalformedResponseError:
        return MalformedResponseError(message, platform=self.platform, status_code=response.status_code)


@functools.cache
def _log_unknown_state(platform: Platform, native: str) -> None:
    """Once per platform and value: a new native state is news, not noise."""
    log.warning("Unknown %s job state %s: treated as UNKNOWN (the native value is kept).", platform, native)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_id_text(job_id: object, platform: Platform, example: str) -> None:
    """Checks common to every platform: a short printable string without path tricks."""
    if not isinstance(job_id, str) or not job_id.strip():
        raise InvalidJobIdError(
            f"A job id is required, got {job_id!r}. Pass the {platform} job id, e.g. {example!r}.",
            platform=platform,
        )
    if len(job_id) > MAX_JOB_ID_LENGTH:
        raise InvalidJobIdError(
            f"Job id is {len(job_id)} characters long (at most {MAX_JOB_ID_LENGTH} accepted): "
            f"{job_id[:40]!r}... Check the templated job_id.",
            platform=platform,
        )
    if _CONTROL.search(job_id):
        raise invalid_id(job_id, platform, example, "it contains control characters")


def invalid_id(job_id: str, platform: Platform, example: str, why: str = "") -> InvalidJobIdError:
    shown = job_id if len(job_id) <= 80 else job_id[:77] + "..."
    reason = why or "it is not in the platform's id format"
    return InvalidJobIdError(
        f"Invalid {platform} job id {shown!r}: {reason}. Expected something like {example!r}; "
        "check the templated job_id (path characters such as '/', '..', '?', '#' or '%' are refused).",
        platform=platform,
    )


def parse_time(value: object, naive_tz: timezone = UTC) -> datetime | None:
    """RFC 3339 / ISO 8601 string or Unix seconds -> aware datetime; garbage -> None.

    Times are informational, so an unreadable value must not fail a cancel.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str) and value:
            text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
            # Nanosecond fractions (Google) are more than fromisoformat takes.
            text = re.sub(r"(\.\d{6})\d+", r"\1", text)
            parsed = datetime.fromisoformat(text)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_tz)
    except (ValueError, OverflowError, OSError):
        return None
    return None


#: China Standard Time: DashScope's Beijing region writes local times without a zone.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def text(value: object) -> str | None:
    """A string field, or None when absent or of the wrong type."""
    return value if isinstance(value, str) and value else None


def error_by_status(
    response: ApiResponse,
    message: str,
    *,
    cancel_refused: bool,
    quota_exhausted: bool = False,
    **info: Any,
) -> TuningJobError:
    """The HTTP status mapping shared by the REST platforms (OpenAI-style and DashScope).

    ``cancel_refused``: the platform's way of saying "this job's state allows no cancel",
    which each platform words differently; ``quota_exhausted``: a 429 that waiting won't fix.
    Google's APIs map their own gRPC status instead (``google_errors``).
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
        return RateLimitedError(message, retry_after=retry_after_header(response.headers), **info)
    if status >= 500:
        return PlatformUnavailableError(message, retry_after=retry_after_header(response.headers), **info)
    if cancel_refused:
        return JobNotCancellableError(message, **info)
    return InvalidRequestError(message, **info)


def retry_after_header(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` (OpenAI, Together) or ``Retry-After`` in seconds, if present and sane."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        if "retry-after" in lowered:
            return max(0.0, float(lowered["retry-after"]))
    except ValueError:
        return None  # an HTTP-date Retry-After: fall back to our own backoff
    return None
