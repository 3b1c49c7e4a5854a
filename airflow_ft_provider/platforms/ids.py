"""Job ids as users give them: checked before they touch a URL, with errors that say what to fix."""

from __future__ import annotations

import re
from typing import Any

from airflow_ft_provider.errors import InvalidJobIdError
from airflow_ft_provider.jobs import MAX_JOB_ID

#: Longest id a user may pass, unless a dialect allows more (Bedrock ARNs reach 1,011 characters).
MAX_JOB_ID_LENGTH = 256
#: Longest id accepted in a platform's answer (see :data:`airflow_ft_provider.jobs.MAX_JOB_ID`).
MAX_ANSWERED_ID = MAX_JOB_ID

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def checked_id(job_id: object, platform: str, pattern: Any, example: str, limit: int = MAX_JOB_ID_LENGTH) -> str:
    """``job_id`` if it can name a job of ``platform`` (matches ``pattern``), else InvalidJobIdError."""
    check_id_text(job_id, platform, example, limit)
    assert isinstance(job_id, str)
    if ".." in job_id or not pattern.fullmatch(job_id):
        raise invalid_id(job_id, platform, example)
    return job_id


def check_id_text(job_id: object, platform: str, example: str, limit: int = MAX_JOB_ID_LENGTH) -> None:
    """Checks common to every platform: a short printable string without path tricks."""
    if not isinstance(job_id, str) or not job_id.strip():
        raise InvalidJobIdError(
            f"A job id is required, got {job_id!r}. Pass the {platform} job id, e.g. {example!r}.",
            platform=platform,
        )
    if len(job_id) > limit:
        raise InvalidJobIdError(
            f"Job id is {len(job_id)} characters long (at most {limit} accepted): "
            f"{job_id[:40]!r}... Check the templated job_id.",
            platform=platform,
        )
    if _CONTROL.search(job_id):
        raise invalid_id(job_id, platform, example, "it contains control characters (a line break or tab?)")
    if job_id != job_id.strip():
        raise invalid_id(job_id, platform, example, "it starts or ends with a space; remove the spaces")


def invalid_id(job_id: str, platform: str, example: str, why: str = "") -> InvalidJobIdError:
    shown = job_id if len(job_id) <= 80 else job_id[:77] + "..."
    reason = why or "it is not in the platform's id format"
    return InvalidJobIdError(
        f"Invalid {platform} job id {shown!r}: {reason}. Expected something like {example!r}; "
        "check the templated job_id (path characters such as '/', '..', '?', '#' or '%' are refused).",
        platform=platform,
    )
