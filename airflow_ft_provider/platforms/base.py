"""The contract every platform dialect fulfils.

A dialect is pure: it turns "get job X" into an :class:`ApiRequest` and an :class:`ApiResponse`
into a :class:`~airflow_ft_provider.jobs.TuningJob` or a typed error. It never does I/O and never
sees a credential (auth is applied by the transport), so it can be unit-tested with literal bytes
and shared by the sync and async paths. What is common to all platforms' answers (time formats,
id checks, HTTP status mapping) lives in the sibling modules ``fields``, ``ids`` and ``http_errors``;
the request and response types in ``wire``; how listings page in ``paging`` (a dialect's
:attr:`Dialect.paging`, from which :meth:`Dialect.list_request` and :meth:`Dialect.parse_page` work).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self, final
from urllib.parse import quote

from airflow_ft_provider.errors import MalformedResponseError, TuningJobError
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms import ids
from airflow_ft_provider.platforms.acks import Ack, read_ack
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.fields import log_unknown_state
from airflow_ft_provider.platforms.http_errors import retry_hint_from_headers
from airflow_ft_provider.platforms.paging_base import MalformedPage, PageAnswer, Paging
from airflow_ft_provider.platforms.wire import ApiRequest, ApiResponse, Operation, Page
from airflow_ft_provider.server_text import clean

if TYPE_CHECKING:
    from airflow_ft_provider.job_filter import JobFilter
    from airflow_ft_provider.platforms.states import StateTable

__all__ = ["ApiRequest", "ApiResponse", "Dialect", "Operation", "Page"]


class Dialect(ABC):
    """Requests and responses of one platform's fine-tuning API."""

    #: The platform's name (its record's ``name``, a ``Platform`` value).
    platform: ClassVar[str]
    #: Pattern a bare job id must match (besides the shared length/character checks).
    id_pattern: ClassVar[Any]
    #: An example id for error messages.
    id_example: ClassVar[str]
    #: Native state string -> normalized state (a read-only mapping that also holds the emulator's
    #: timeline: :mod:`~airflow_ft_provider.platforms.states`). Lookups are case-sensitive.
    states: ClassVar[StateTable]
    #: Longest id a user may pass.
    max_id_length: ClassVar[int] = ids.MAX_JOB_ID_LENGTH
    #: The body a cancel succeeds with (``acks``): the one shape counted as an acknowledgement.
    cancel_ack: ClassVar[Ack]
    #: The status codes each operation answers with when it works; anything else is refused.
    success_statuses: ClassVar[Mapping[Operation, frozenset[int]]] = {op: frozenset({200}) for op in Operation}
    #: How the job listing pages (:mod:`.paging`); the emulator serves the same object.
    paging: ClassVar[Paging]

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        #: Headers every request carries (an organization, a workspace), never a credential.
        self.headers: Mapping[str, str] = {}

    @classmethod
    @abstractmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        """The dialect for a connection: its base URL (None: the platform's own) and extras."""

    # -- requests ---------------------------------------------------------------------
    @abstractmethod
    def get_request(self, job_id: str) -> ApiRequest: ...

    def list_request(self, page_token: str | None, page_size: int | None, collection: str | None = None) -> ApiRequest:
        """The page after the one that gave ``page_token`` (None: the first), of at most ``page_size``
        jobs (None: the client's default), capped to the platform's largest page, of the collection
        at ``collection`` (one of :meth:`list_urls`; None: :meth:`list_url`)."""
        return self.paging.request(
            collection or self.list_url(), page_token, page_size, params=self.list_params(), headers=self.list_headers()
        )

    def list_headers(self) -> Mapping[str, str]:
        """A listing's headers: the dialect's own, unless the listing is named by one (AWS JSON 1.1)."""
        return self.headers

    @abstractmethod
    def list_url(self) -> str:
        """The job collection a listing reads (the first, where it reads several)."""

    def list_urls(self) -> tuple[str, ...]:
        """Every job collection a connection's listing reads, one after another, each paged on its own
        (Fireworks: one per kind of job); by default :meth:`list_url` alone."""
        return (self.list_url(),)

    def list_params(self) -> Mapping[str, str]:
        """What every page of a listing asks besides its page (filters, sort order); none by default."""
        return {}

    @abstractmethod
    def cancel_request(self, job_id: str) -> ApiRequest: ...

    # -- responses --------------------------------------------------------------------
    @abstractmethod
    def parse_job(self, response: ApiResponse) -> TuningJob: ...

    def parse_page(self, response: ApiResponse, request: ApiRequest) -> Page:
        """One page of jobs and the token of the next; an answer not shaped as :attr:`paging`
        says is a malformed one."""
        answer = self.read_page(response, request)
        jobs = [self.job_from_json(item, response) for item in answer.items]
        return Page(jobs, answer.next_token, answer.later_tokens)

    def read_page(self, response: ApiResponse, request: ApiRequest) -> PageAnswer:
        """One page with its records left raw (:meth:`job_from_json` reads each): for a reader
        that needs few of the records it lists (the triggerer's watcher)."""
        try:
            return self.paging.read(self.list_body(response), request)
        except MalformedPage as exc:
            raise self.malformed(str(exc), response) from None

    def list_body(self, response: ApiResponse) -> Mapping[str, Any]:
        """The object of a list answer that holds the page (DashScope: inside its envelope)."""
        return response.json_object(self.platform)

    @abstractmethod
    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        """One job record of a get or list answer; a record no job could have is malformed."""

    def narrowed(self, job_filter: JobFilter, now: datetime) -> Self:
        """This dialect with its listings narrowed on the server to a superset of ``job_filter``'s
        matches at ``now`` (Bedrock's ``statusEquals``); the filter still judges every listed job.
        Platforms whose listing takes no filter list everything: the default."""
        return self

    @final
    def parse_cancel(self, response: ApiResponse, request: ApiRequest) -> TuningJob | None:
        """The job as the cancel answer shows it (None: the acknowledgement carries none); an
        answer that is not the declared :attr:`cancel_ack` is a malformed one, never a cancel sent."""
        return read_ack(self, response, request)

    @abstractmethod
    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        """Map a non-2xx answer onto the shared error hierarchy."""

    def is_rate_limit(self, response: ApiResponse) -> bool:
        """Whether an error answer other than a 429 is the platform's rate limit (AWS's 400
        ``ThrottlingException``): the request budget slows down for it as for a 429."""
        return False

    def retry_hint(self, response: ApiResponse) -> float | None:
        """The platform's "retry after" in seconds, as sent (the transport clamps it); None if none."""
        return retry_hint_from_headers(response.headers)

    def job_key(self, job_id: str) -> str:
        """What makes two spellings of a job id the same job (a listing's id and the one asked for)."""
        return job_id

    def is_same_job(self, requested: str, job: TuningJob) -> bool:
        """Whether a read answer is about the job asked for (a misrouting proxy or cache is not)."""
        return self.job_key(job.job_id) == self.job_key(requested)

    # -- shared helpers ---------------------------------------------------------------
    def map_state(self, native: object) -> TuningJobState:
        """Normalize a native state; anything unrecognised is UNKNOWN, never an error."""
        state = self.states.get(native) if isinstance(native, str) else None
        if state is None:
            log_unknown_state(self.platform, clean(repr(native), 80))
            return TuningJobState.UNKNOWN
        return state

    def canonical_id(self, job_id: object) -> str:
        """What the platform calls the job ``job_id`` names (Vertex AI: the full resource name), after
        checking it can name one; else InvalidJobIdError, before anything is sent."""
        return ids.checked_id(job_id, self.platform, self.id_pattern, self.id_example, self.max_id_length)

    def url(self, *segments: str, suffix: str = "") -> str:
        """Base URL plus escaped path segments; ``suffix`` (``:cancel``) is appended raw."""
        return "/".join([self.base_url, *(quote(s, safe="") for s in segments)]) + suffix

    def malformed(self, message: str, response: ApiResponse) -> MalformedResponseError:
        return MalformedResponseError(message, platform=self.platform, status_code=response.status_code)

    def job(self, response: ApiResponse, **fields: Any) -> TuningJob:
        """A :class:`TuningJob` of this platform; a record no job could have is a malformed answer."""
        job_id = fields.get("job_id")
        if not isinstance(job_id, str) or not job_id or len(job_id) > ids.MAX_ANSWERED_ID:
            raise self.malformed("Job record without a usable id (missing, or too long to be one)", response)
        return TuningJob(platform=self.platform, **fields)
