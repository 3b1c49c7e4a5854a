"""How a job is named in a log line, an exception or an event message: the outcome first.

Vertex AI resource names and Bedrock or SageMaker ARNs run to 100-1,000 characters: put first,
they push what happened (``cancel sent``, ``CANCELLED``) past the right edge of Airflow's log view.
So every line names the outcome, then a short reference to the job (the platform's title and the
last part of its id), then details, and the full id once, last, where it is longer than the
reference. One rule for every platform, read from the platform's record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_ft_provider.jobs import TuningJob

#: Longest short id shown; a longer last part keeps its start and its end.
MAX_SHORT_ID = 40


def short_id(job_id: str) -> str:
    """The last ``/``-separated part of an id (a resource name's or an ARN's), clipped in the middle."""
    tail = job_id.rstrip("/").rsplit("/", 1)[-1] or job_id
    if len(tail) <= MAX_SHORT_ID:
        return tail
    half = (MAX_SHORT_ID - 1) // 2
    return f"{tail[:half]}…{tail[-half:]}"


def job_ref(platform: str | None, job_id: str) -> str:
    """``Vertex AI job 1234567890123456789``: the platform's title and the short id."""
    return f"{_title(platform)} job {short_id(job_id)}" if platform else f"job {short_id(job_id)}"


def outcome_line(outcome: str, platform: str | None, job_id: str, *details: str | None) -> str:
    """``<outcome> · <job reference> · <details> · id <full id>`` (the id only when the reference shortened it)."""
    parts = [outcome, job_ref(platform, job_id), *(d for d in details if d)]
    if short_id(job_id) != job_id:
        parts.append(f"id {job_id}")
    return " · ".join(parts)


def job_line(outcome: str, job: TuningJob, *details: str | None, usage: bool = False) -> str:
    """:func:`outcome_line` for a job record; ``usage``: end with what the job reports it cost."""
    if usage:
        from airflow_ft_provider.usage import usage_text

        spent = usage_text(job.usage)
        details = (*details, f"usage: {spent}" if spent else None)
    return outcome_line(outcome, job.platform, job.job_id, *details)


def native_state(job: TuningJob) -> str:
    """``platform state 'JOB_STATE_RUNNING'``: the record's text is escaped already (``server_text``),
    so it is quoted as it is: a repr would escape its escapes a second time."""
    return f"platform state '{job.native_state}'"


def state_line(job: TuningJob, *details: str | None) -> str:
    """``RUNNING · <job> · platform state 'JOB_STATE_RUNNING'``: a state as read."""
    return job_line(str(job.state), job, native_state(job), *details)


def _title(platform: str) -> str:
    from airflow_ft_provider.errors import PlatformRegistryError
    from airflow_ft_provider.platforms.registry import record_for

    try:
        return record_for(platform).title
    except PlatformRegistryError:  # a message must never fail for an unknown name
        return platform
