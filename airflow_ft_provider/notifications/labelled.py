"""Jobs found by their labels: the bulk filter's label match, for a notifier given ``labels``.

A job whose id no task recorded (a worker died before the push) can still be found if it was
created with labels naming its run. Only active jobs match (the bulk filter's default states).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_ft_provider.job_filter import JobFilter
from airflow_ft_provider.notifications.job_refs import JobRef

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import TuningJobHook
    from airflow_ft_provider.jobs import TuningJob


def label_filter(labels: Mapping[str, Any]) -> JobFilter:
    """The filter for ``labels``; a bad one (not a mapping of strings) fails with the bulk filter's message."""
    if not isinstance(labels, Mapping):
        raise ValueError(f"labels must be a mapping of label names to values, not a {type(labels).__name__}")
    return JobFilter(labels=dict(labels))


def labelled(hook: TuningJobHook, labels: Mapping[str, Any], deadline: float) -> list[JobRef]:
    """The active jobs of the hook's connection that carry every one of ``labels`` (blocking)."""
    job_filter = _usable(hook, labels)
    return _refs(hook, job_filter, hook.list_all_jobs(deadline=deadline, narrow_to=job_filter))


async def alabelled(hook: TuningJobHook, labels: Mapping[str, Any], deadline: float) -> list[JobRef]:
    """The same, listed with the hook's coroutines (the triggerer)."""
    job_filter = _usable(hook, labels)
    return _refs(hook, job_filter, await hook.alist_all_jobs(deadline=deadline))


def _usable(hook: TuningJobHook, labels: Mapping[str, Any]) -> JobFilter:
    job_filter = label_filter(labels)
    if not hook.record.has_labels:
        raise ValueError(
            f"{hook.platform} jobs carry no labels, so labels={job_filter.labels} could never match: "
            "find the jobs by job_id or XCom instead"
        )
    return job_filter


def _refs(hook: TuningJobHook, job_filter: JobFilter, listed: list[TuningJob]) -> list[JobRef]:
    selected = job_filter.select(listed, datetime.now(UTC))
    return [JobRef(job.job_id, hook.platform, f"labels {job_filter.labels}") for job in selected]
