"""One acknowledgement rule: what a platform's answer to a cancel must be to count as one.

A 200 is not an acknowledgement by itself: a proxy or a captive portal answers 200 with an HTML
page, a broken one with a truncated or absurd body. Each dialect declares the shape its platform's
cancel succeeds with (``Dialect.cancel_ack``); :func:`read_ack` is the only place that checks it,
for every platform. Anything else is a :class:`MalformedResponseError` (retried; then the flow
re-reads the job and reports it as it is), never ``cancel_sent``. A platform that answers a cancel
of an ended job with the job's record as it is (Replicate) declares so (``ended_is_refusal``): such
a record is its refusal, a :class:`JobNotCancellableError` as other platforms' 400s are.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_ft_provider.errors import JobNotCancellableError
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.platforms.wire import ApiRequest, ApiResponse, parse_json

if TYPE_CHECKING:
    from airflow_ft_provider.jobs import TuningJob
    from airflow_ft_provider.platforms.base import Dialect

__all__ = [
    "EMPTY_OBJECT",
    "EMPTY_OBJECT_OR_NO_BODY",
    "JOB_RECORD",
    "JOB_RECORD_UNLESS_ENDED",
    "Ack",
    "AckKind",
    "read_ack",
]


class AckKind(StrEnum):
    #: The JSON object ``{}`` and nothing else (``google.protobuf.Empty``).
    EMPTY_OBJECT = "empty_object"
    #: A JSON object whose member at ``path`` equals ``value`` (an envelope's status).
    FIELD = "field"
    #: The record of the job asked for (it must parse as one, and be about that job).
    JOB_RECORD = "job_record"


@dataclass(frozen=True)
class Ack:
    """The success shape of one platform's cancel (its status is ``Dialect.success_statuses``)."""

    kind: AckKind
    #: Also accept a body of zero bytes (an operation whose output shape has no members).
    no_body: bool = False
    path: tuple[str, ...] = ()
    value: Any = None
    #: JOB_RECORD: a record showing the job ended otherwise than cancelled is the platform's refusal
    #: (Replicate answers every cancel with the training as it is, an ended one included).
    ended_is_refusal: bool = False

    def describe(self) -> str:
        if self.kind is AckKind.JOB_RECORD:
            return "the job's record, not ended unless cancelled" if self.ended_is_refusal else "the job's record"
        shape = "{}" if self.kind is AckKind.EMPTY_OBJECT else f"{'.'.join(self.path)} == {self.value!r}"
        return f"{shape} or no body" if self.no_body else shape


EMPTY_OBJECT = Ack(AckKind.EMPTY_OBJECT)
EMPTY_OBJECT_OR_NO_BODY = Ack(AckKind.EMPTY_OBJECT, no_body=True)
JOB_RECORD = Ack(AckKind.JOB_RECORD)
JOB_RECORD_UNLESS_ENDED = Ack(AckKind.JOB_RECORD, ended_is_refusal=True)


def read_ack(dialect: Dialect, response: ApiResponse, request: ApiRequest) -> TuningJob | None:
    """The job the acknowledgement carries (None: it carries none); else MalformedResponseError, or
    JobNotCancellableError where the answer shows the cancel had nothing left to stop."""
    ack = dialect.cancel_ack
    if ack.kind is AckKind.JOB_RECORD:
        job = dialect.parse_job(response)
        # Another job's record is not this job's refusal: the hook refuses it as a misrouted answer.
        about_it = not request.job_id or dialect.is_same_job(request.job_id, job)
        if ack.ended_is_refusal and about_it and job.is_terminal and job.state is not TuningJobState.CANCELLED:
            raise JobNotCancellableError(
                f"The {dialect.platform} job {job.job_id[:200]} had already ended ({job.native_state}): "
                "the cancel stopped nothing.",
                platform=dialect.platform,
                status_code=response.status_code,
                job_id=job.job_id,
            )
        return job
    if ack.no_body and not response.content:
        return None
    try:
        body = parse_json(response.content)
    except (ValueError, RecursionError):
        body = _NOT_JSON
    if ack.kind is AckKind.EMPTY_OBJECT and body == {}:
        return None
    if ack.kind is AckKind.FIELD and _member(body, ack.path) == ack.value:
        return None
    raise dialect.malformed(
        f"A 200 to the cancel whose body ({len(response.content)} bytes) is not {dialect.platform}'s "
        f"acknowledgement ({ack.describe()}): not counted as sent (a proxy or captive portal answers like this).",
        response,
    )


_NOT_JSON = object()


def _member(body: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(body, dict):
            return _NOT_JSON
        body = body.get(name, _NOT_JSON)
    return body
