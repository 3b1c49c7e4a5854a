"""Which jobs a bulk cancellation may touch: a pure, validated filter over listed jobs.

Bulk cancellation is irreversible and runs against a whole account, so the filter is
strict where a typo would be expensive: unknown states, terminal states, naive
datetimes and broken patterns are refused before any request, and :meth:`JobFilter.select`
refuses more than ``max_jobs`` matches rather than cancelling them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import TERMINAL_STATES, TuningJob, TuningJobState

#: What "cancel every active job" means by default. CANCELLING is left out (nothing to send).
DEFAULT_STATES: frozenset[TuningJobState] = frozenset(
    {TuningJobState.QUEUED, TuningJobState.PENDING, TuningJobState.RUNNING, TuningJobState.PAUSED}
)
#: States a filter may name: everything but the terminal ones, which no cancel can change, and
#: UNKNOWN, which is no state but "not recognised": ``include_unknown_states`` is its one switch.
SELECTABLE_STATES: frozenset[TuningJobState] = frozenset(TuningJobState) - TERMINAL_STATES - {TuningJobState.UNKNOWN}
DEFAULT_MAX_JOBS = 1000
#: Prefix that turns a name or id pattern into a regular expression.
REGEX_PREFIX = "re:"
_MAX_SECONDS = timedelta.max.total_seconds()
_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)


class TooManyJobsError(TuningJobError, ValueError):
    """More jobs match than ``max_jobs`` allows; nothing may be cancelled. Under the one root like
    every error of the provider; also a ``ValueError`` (``max_jobs`` is too small for the filter)."""

    def __init__(self, message: str, matched: list[TuningJob]) -> None:
        super().__init__(message)
        self.matched = matched


class JobFilter(BaseModel):
    """Select jobs from a listing; every criterion given must hold (logical AND).

    :param states: normalized states to select (names, any case; a list or one comma-separated
        string). Default: QUEUED, PENDING, RUNNING, PAUSED. CANCELLING only when named; terminal
        states are refused since an ended job cannot be cancelled, and UNKNOWN (see below).
    :param include_unknown_states: also select jobs whose native state the provider does not
        recognise (state UNKNOWN, ``native_state`` kept) when every other criterion holds. Default
        False: such a job cannot be shown to be in any of ``states`` (it may be ending, or in a
        state a cancel does not apply to), so it is reported (:meth:`unknown`) rather than cancelled.
    :param created_before: select jobs created before this instant: an aware datetime or an
        ISO 8601 string with an offset (``2025-01-31T00:00:00Z``). Jobs without a creation
        time never match.
    :param running_longer_than: select jobs that started (``started_at``, else ``created_at``
        on platforms that report no start, i.e. OpenAI and DashScope) more than this long
        ago: a timedelta, seconds, or an ISO 8601 duration (``PT2H``). ``states`` still
        applies: a QUEUED job counts from its creation.
    :param name_pattern: shell-style glob (``fnmatch``: ``*``, ``?``, ``[abc]``; case-sensitive,
        whole name) over the display name; or, prefixed with ``re:``, a regular expression
        searched anywhere in it (anchor with ``^``/``$``). Jobs without a name never match.
    :param id_pattern: the same syntax over the job id; on platforms whose ids are resource
        names (``projects/…/tuningJobs/123``) the last segment (``123``) is tried too.
    :param labels: every given key must be present with exactly this value (a subset match).
        Vertex AI labels and OpenAI metadata count; jobs on platforms without labels
        (DashScope, Together, Gemini) never match a label filter.
    :param job_ids: only these jobs (exact ids as listed; a list, or one comma-separated string, as
        a template renders it). An empty one selects nothing: the jobs a person approved, never
        jobs created since.
    :param max_jobs: the most jobs one run may cancel; more matches fail the run before any
        cancel is sent, so a filter typo cannot cancel a whole account.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    states: frozenset[TuningJobState] = DEFAULT_STATES
    include_unknown_states: bool = False
    created_before: AwareDatetime | None = None
    running_longer_than: timedelta | None = None
    name_pattern: str | None = None
    id_pattern: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    job_ids: frozenset[str] | None = None
    max_jobs: int = Field(DEFAULT_MAX_JOBS, ge=1)

    _match_name: Callable[[str], bool] | None = PrivateAttr(None)
    _match_id: Callable[[str], bool] | None = PrivateAttr(None)

    def __init__(self, **data: Any) -> None:
        """As pydantic's, but bad input raises one readable ``ValueError`` naming each field."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ValueError(f"Invalid job filter: {_summarize(exc)}") from None

    def model_post_init(self, context: Any) -> None:
        self._match_name = _matcher(self.name_pattern)
        self._match_id = _matcher(self.id_pattern)

    # -- validation ------------------------------------------------------------------------
    @field_validator("states", mode="before")
    @classmethod
    def _parse_states(cls, value: Any) -> frozenset[TuningJobState]:
        items = [part for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        if not isinstance(items, Iterable):
            raise ValueError(f"expected state names, got {type(value).__name__}")
        allowed = ", ".join(sorted(SELECTABLE_STATES))
        states = set()
        for item in items:
            name = str(item).strip().upper()
            if name not in TuningJobState.__members__:
                raise ValueError(f"{item!r} is not a job state; use some of {allowed}")
            state = TuningJobState[name]
            if state is TuningJobState.UNKNOWN:
                raise ValueError("UNKNOWN is not a state a job can be shown to be in; use include_unknown_states=True")
            if state in TERMINAL_STATES:
                raise ValueError(f"{state} is terminal: an ended job cannot be cancelled. Use some of {allowed}")
            states.add(state)
        if not states:
            raise ValueError("an empty list selects nothing; leave states unset for the active states")
        return frozenset(states)

    @field_validator("job_ids", mode="before")
    @classmethod
    def _parse_job_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("created_before", mode="before")
    @classmethod
    def _parse_created_before(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO 8601 date-time, e.g. '2025-01-31T00:00:00Z'") from None
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(
                f"{value.isoformat()!r} has no time zone, so the instant is ambiguous; add one, "
                "e.g. '2025-01-31T00:00:00Z' or datetime(..., tzinfo=timezone.utc)"
            )
        return value

    @field_validator("running_longer_than", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        hint = "give seconds (7200), an ISO 8601 duration ('PT2H') or a timedelta"
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a duration; {hint}")
        if isinstance(value, str):  # templates render to text
            text = value.strip()
            try:
                value = float(text)
            except ValueError:
                try:
                    value = _DURATION.validate_python(text)
                except ValidationError:
                    raise ValueError(f"{text!r} is not a duration; {hint}") from None
        if isinstance(value, int | float):
            if not math.isfinite(value) or abs(value) > _MAX_SECONDS:
                raise ValueError(f"{value!r} is not a usable duration; {hint}")
            value = timedelta(seconds=value)
        if isinstance(value, timedelta) and value < timedelta(0):
            raise ValueError(f"{value.total_seconds():g} s is negative; {hint}")
        return value

    @field_validator("name_pattern", "id_pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        body = value.removeprefix(REGEX_PREFIX)
        if not body:
            raise ValueError("an empty pattern; leave it unset to match every job, or use '*'")
        if value.startswith(REGEX_PREFIX):
            try:
                re.compile(body)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        return value

    # -- matching --------------------------------------------------------------------------
    def matches(self, job: TuningJob, now: datetime) -> bool:
        """Whether ``job`` is selected, judged at ``now`` (an aware datetime). Pure."""
        if job.state is TuningJobState.UNKNOWN:
            return self.include_unknown_states and self._matches_besides_state(job, now)
        return job.state in self.states and self._matches_besides_state(job, now)

    def unknown(self, jobs: Iterable[TuningJob], now: datetime) -> list[TuningJob]:
        """The jobs in a state nobody recognised that every criterion but the state selects, each
        once: what ``include_unknown_states=True`` adds (or added) to the selection."""
        seen: set[str] = set()
        found = []
        for job in jobs:
            if job.state is TuningJobState.UNKNOWN and job.job_id not in seen and self._matches_besides_state(job, now):
                seen.add(job.job_id)
                found.append(job)
        return found

    def _matches_besides_state(self, job: TuningJob, now: datetime) -> bool:
        if self.created_before is not None and (job.created_at is None or job.created_at >= self.created_before):
            return False
        if self.running_longer_than is not None:
            since = job.running_since()
            if since is None or now - since <= self.running_longer_than:
                return False
        if self._match_name is not None and (job.display_name is None or not self._match_name(job.display_name)):
            return False
        if self._match_id is not None and not _id_matches(self._match_id, job.job_id):
            return False
        if self.job_ids is not None and job.job_id not in self.job_ids:
            return False
        return all(job.labels.get(key) == value for key, value in self.labels.items())

    def select(self, jobs: Iterable[TuningJob], now: datetime) -> list[TuningJob]:
        """The matching jobs, each once, in listing order; :class:`TooManyJobsError` beyond ``max_jobs``.

        A job listed twice (offset paging while jobs are created) counts once.
        """
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime, e.g. datetime.now(timezone.utc)")
        seen: set[str] = set()
        matched = []
        for job in jobs:
            if job.job_id not in seen and self.matches(job, now):
                seen.add(job.job_id)
                matched.append(job)
        if len(matched) > self.max_jobs:
            raise TooManyJobsError(
                f"{len(matched)} jobs match {self.describe()}, more than max_jobs={self.max_jobs}; "
                f"nothing was cancelled. Narrow the filter, or if all of them should go, "
                f"set max_jobs={len(matched)} or more.",
                matched,
            )
        return matched

    def describe(self) -> str:
        """The criteria in one line, for logs and errors."""
        parts = [f"states={','.join(sorted(self.states))}"]
        if self.include_unknown_states:
            parts.append("include_unknown_states=True")
        if self.created_before is not None:
            parts.append(f"created_before={self.created_before.isoformat()}")
        if self.running_longer_than is not None:
            parts.append(f"running_longer_than={self.running_longer_than}")
        for name in ("name_pattern", "id_pattern"):
            if (value := getattr(self, name)) is not None:
                parts.append(f"{name}={value!r}")
        if self.labels:
            parts.append(f"labels={self.labels}")
        if self.job_ids is not None:
            parts.append(f"job_ids=<{len(self.job_ids)} ids>")
        return "[" + " ".join(parts) + "]"


def _matcher(pattern: str | None) -> Callable[[str], bool] | None:
    if pattern is None:
        return None
    if pattern.startswith(REGEX_PREFIX):
        regex = re.compile(pattern.removeprefix(REGEX_PREFIX))
        return lambda text: regex.search(text) is not None
    return lambda text: fnmatchcase(text, pattern)


def _id_matches(match: Callable[[str], bool], job_id: str) -> bool:
    return match(job_id) or ("/" in job_id and match(job_id.rsplit("/", 1)[-1]))


def _summarize(exc: ValidationError) -> str:
    """``field: message`` per error, without pydantic's URLs and input echoes."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "filter"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)
