"""The platform-neutral view of a fine-tuning job.

Every platform's native record is parsed into one :class:`TuningJob` whose ``state`` is a
:class:`TuningJobState`; the platform's own string is kept in ``native_state`` so nothing is lost
when a platform adds a state we do not know. The record is plain JSON (``to_xcom()``), carries no
secret and has bounded size (every text field passes ``server_text.clean``: secrets scrubbed,
control characters escaped, clipped, so a hostile answer cannot put a key, a forged log line or
megabytes into XCom), so it is what operators return to XCom.

``Platform`` (the built-in platforms) lives with the platform records in
:mod:`airflow_ft_provider.platforms.registry`; it is importable from here as well. A job's
``platform`` is a :class:`Platform` member, or the name of a platform another package registers.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict

from airflow_ft_provider.platforms.registry import Platform as Platform  # importable from here too
from airflow_ft_provider.platforms.registry import known_platform
from airflow_ft_provider.server_text import clean


class TuningJobState(StrEnum):
    """Normalized job state shared by every platform."""

    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATES


#: States a job never leaves: nothing more will be billed.
TERMINAL_STATES: frozenset[TuningJobState] = frozenset(
    {TuningJobState.SUCCEEDED, TuningJobState.FAILED, TuningJobState.CANCELLED, TuningJobState.EXPIRED}
)
#: States in which a job may still spend compute and can be cancelled. PAUSED counts:
#: a paused OpenAI job can be resumed, so it is not ended. UNKNOWN is neither: it is
#: treated as active by waits (keep polling) but never matched by bulk filters.
ACTIVE_STATES: frozenset[TuningJobState] = frozenset(
    {
        TuningJobState.QUEUED,
        TuningJobState.PENDING,
        TuningJobState.RUNNING,
        TuningJobState.CANCELLING,
        TuningJobState.PAUSED,
    }
)

#: Longest job id accepted from a platform (Bedrock ARNs reach 1,011 characters). An id cannot
#: be clipped without naming another job, so a longer one is refused by the dialect.
MAX_JOB_ID = 1024
#: Text fields of a record: what a log line or the XCom can carry without harm.
MAX_TEXT = 1024
MAX_ERROR_MESSAGE = 2000
MAX_NATIVE_STATE = 128
MAX_URL = 2048
MAX_LABELS = 64
MAX_LABEL_TEXT = 256


def _clipper(limit: int | None) -> AfterValidator:
    """A server's text as data (``server_text``): secrets scrubbed, controls escaped, clipped."""
    return AfterValidator(lambda value: value if value is None else clean(value, limit))


def _short_url(value: str | None) -> str | None:
    """A console link too long to be a real one is dropped, not cut into a broken link."""
    value = None if value is None else clean(value)
    return value if value is None or len(value) <= MAX_URL else None


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    kept = list(value.items())[:MAX_LABELS]
    return {clean(k, MAX_LABEL_TEXT): clean(v, MAX_LABEL_TEXT) for k, v in kept}


Text = Annotated[str | None, _clipper(MAX_TEXT)]


class JobUsage(BaseModel):
    """What the platform reports a job cost or consumed, as it reports it (nothing is estimated here).

    Fireworks reports an estimated cost in a currency; SageMaker reports billable seconds and
    tokens. A field the platform does not report stays ``None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A cost in ``currency`` (e.g. ``Decimal("12.40")`` USD), as the platform states it.
    cost: Decimal | None = None
    currency: Annotated[str | None, _clipper(16)] = None
    #: Whether ``cost`` is the platform's estimate rather than a billed amount.
    estimated: bool = False
    billable_seconds: int | None = None
    billable_tokens: int | None = None


class TuningJob(BaseModel):
    """One fine-tuning job as every platform reports it, normalized."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Which platform: a :class:`Platform` member, or the name of a platform another package registers.
    platform: Annotated[str, AfterValidator(known_platform)]
    #: The id to pass back to the platform: a full resource name on Vertex AI
    #: (``projects/…/tuningJobs/…``) and the Gemini API (``tunedModels/…``), else the job id.
    job_id: Annotated[str, _clipper(None)]  # never clipped: an id cut short names another job
    state: TuningJobState
    native_state: Annotated[str, _clipper(MAX_NATIVE_STATE)]
    #: The platform's finer status beside its state, where it reports one (SageMaker's
    #: ``SecondaryStatus``: ``Training``, ``Uploading``, ``MaxRuntimeExceeded``...); never mapped.
    native_detail: Annotated[str | None, _clipper(MAX_NATIVE_STATE)] = None
    display_name: Text = None
    base_model: Text = None
    #: The tuned model's name or output location, once the platform reports one.
    tuned_model: Text = None
    created_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    error_message: Annotated[str | None, _clipper(MAX_ERROR_MESSAGE)] = None
    console_url: Annotated[str | None, AfterValidator(_short_url)] = None
    labels: Annotated[dict[str, str], BeforeValidator(_labels)] = {}
    #: Cost or usage, on the platforms that report it in the job record.
    usage: JobUsage | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def to_xcom(self) -> dict[str, object]:
        """JSON-safe dict for XCom and trigger events."""
        return self.model_dump(mode="json")

    def running_since(self) -> datetime | None:
        """When the job started spending compute (start time, else creation time)."""
        return self.started_at or self.created_at
