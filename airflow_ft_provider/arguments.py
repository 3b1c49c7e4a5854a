"""Checking what users pass to the operators, sensor and notifier, with errors that say the fix.

Used at DAG parse time for literal values and at run time for rendered templates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airflow_ft_provider.errors import InvalidJobIdError
from airflow_ft_provider.jobs import TuningJobState


def seconds(value: Any, name: str) -> float:
    """A positive, finite duration given as seconds or a ``timedelta``."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} is not a duration: give a positive number of seconds or a timedelta.")
    return float(value)


def flag(value: Any, name: str) -> bool:
    """A yes/no argument: a bool, or what a template renders for one ("True", "false"; any case).

    Strict: anything else (a typo, "yes", an empty string) would otherwise read as true or false
    by accident, and ``dry_run`` read as false cancels jobs.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(
        f"{name}={value!r} is neither true nor false: pass a bool, or a template that renders to True or "
        f'false, e.g. "{{{{ params.{name} }}}}" with a boolean param.'
    )


def states(values: Iterable[str] | str, name: str) -> frozenset[TuningJobState]:
    """Normalized states by name (any case): a list, or one string (comma-separated names allowed)."""
    items = [part for part in values.split(",") if part.strip()] if isinstance(values, str) else list(values)
    try:
        return frozenset(TuningJobState(str(v).strip().upper()) for v in items)
    except ValueError:
        allowed = ", ".join(s.value for s in TuningJobState)
        raise ValueError(f"{name} holds an unknown state in {items!r}; use some of: {allowed}.") from None


def rendered_job_id(job_id: Any, conn_id: str) -> str:
    """The rendered ``job_id``, refusing what a template renders when its XCom was empty."""
    if job_id is None or (isinstance(job_id, str) and job_id.strip() in ("", "None")):
        raise InvalidJobIdError(
            f"A job id is required, but job_id rendered to {job_id!r} (connection {conn_id!r}): a template "
            "found no job id, e.g. the task it pulls from pushed nothing. Check the upstream task's XCom."
        )
    return str(job_id) if not isinstance(job_id, str) else job_id
