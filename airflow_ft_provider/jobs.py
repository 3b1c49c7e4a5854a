"""The platform-neutral view of a fine-tuning job.

Every platform's native record is parsed into one :class:`TuningJob` whose
``state`` is a :class:`TuningJobState`; the platform's own string is kept in
``native_state`` so nothing is lost when a platform adds a state we do not know.
The record is plain JSON (``model_dump(mode="json")``) and carries no secret, so it
is what operators return to XCom.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict


class Platform(StrEnum):
    """The platforms this provider speaks to; the value is used in XCom and logs."""

    VERTEX_AI = "vertex_ai"
    GEMINI = "gemini"
    DASHSCOPE = "dashscope"
    TOGETHER = "together"
    OPENAI = "openai"


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


class TuningJob(BaseModel):
    """One fine-tuning job as every platform reports it, normalized."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    #: The id to pass back to the platform: a full resource name on Vertex AI
    #: (``projects/…/tuningJobs/…``) and the Gemini API (``tunedModels/…``), else the job id.
    job_id: str
    state: TuningJobState
    native_state: str
    display_name: str | None = None
    base_model: str | None = None
    #: The tuned model's name or output location, once the platform reports one.
    tuned_model: str | None = None
    created_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    error_message: str | None = None
    console_url: str | None = None
    labels: dict[str, str] = {}

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def to_xcom(self) -> dict[str, object]:
        """JSON-safe dict for XCom and trigger events."""
        return self.model_dump(mode="json")

    @classmethod
    def from_xcom(cls, data: dict[str, object]) -> TuningJob:
        return cls.model_validate(data)

    def running_since(self) -> datetime | None:
        """When the job started spending compute (start time, else creation time)."""
        return self.started_at or self.created_at
