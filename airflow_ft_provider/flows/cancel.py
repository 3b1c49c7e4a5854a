"""Cancel, as a user means it: make sure the job stops spending, and say what was done.

One set of rules for one job (``CancelTuningJobOperator``, the notifier, ``on_kill``) and for many
(``BulkCancelTuningJobsOperator``, which starts from the listing instead of a read).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from airflow_ft_provider.errors import (
    JobNotCancellableError,
    JobNotFoundError,
    MalformedResponseError,
    OperationNotSupportedError,
)
from airflow_ft_provider.flows.steps import CancelJob, Count, Flow, GetJob
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.metrics import CancelOutcome


class CancelAction(StrEnum):
    """What the cancel flow did."""

    SENT = "cancel_sent"
    ALREADY_CANCELLING = "already_cancelling"
    ALREADY_ENDED = "already_ended"


@dataclass(frozen=True)
class CancelResult:
    before: TuningJob
    #: The latest view of the job after the flow (the cancel answer or a re-read).
    after: TuningJob
    action: CancelAction

    def summary(self, confirming: bool = False) -> str:
        """What was done, as the first words of a log line (``confirming``: a wait for the end follows).

        "cancel sent" never stands beside an active state as if the two disagreed: the line says the
        job is still in it (a platform acknowledges a cancel before the job stops).
        """
        if self.action is CancelAction.ALREADY_ENDED:
            return f"already {self.after.state}; no cancel sent"
        done = "cancel sent" if self.action is CancelAction.SENT else "already CANCELLING; no cancel sent"
        if self.after.is_terminal:
            return f"{self.after.state} ← {done}"
        # No state to add when the job is known to be cancelling, or the answer came without the job.
        quiet = self.action is CancelAction.ALREADY_CANCELLING or self.after is self.before
        now = "" if quiet else f"job still {self.after.state}"
        line = f"{done}; {now}" if now else done
        return f"{line}, confirming..." if confirming else line


def cancel_flow(job_id: str, listed: TuningJob | None = None) -> Flow[CancelResult]:
    """Read the job (or take ``listed``, a record from a listing), cancel it only if still active.

    No platform takes an idempotency key, so idempotency comes from reading first. When the
    platform refuses because the job already ended or is cancelling, or answers with something that
    is not its acknowledgement (``platforms.acks``), a second read says how the job is, and that is
    what is reported: ``cancel_sent`` means the platform acknowledged this cancel, never less.
    Every cancel is counted once by its outcome (``metrics.CancelOutcome``), a failure included; one
    answered with the job already CANCELLED is counted confirmed too (no wait will follow).
    """
    try:
        result = yield from _cancel(job_id, listed)
    except Exception as exc:
        yield Count(_failure_outcome(exc))
        raise
    sent = result.action is CancelAction.SENT
    yield Count(CancelOutcome.SENT if sent else CancelOutcome.NOT_NEEDED)
    if sent and result.after.state is TuningJobState.CANCELLED:  # answered already cancelled: no wait follows
        yield Count(None, seconds=0.0)
    return result


def _cancel(job_id: str, listed: TuningJob | None) -> Flow[CancelResult]:
    before: TuningJob = listed if listed is not None else (yield GetJob(job_id))
    if before.is_terminal:
        return CancelResult(before, before, CancelAction.ALREADY_ENDED)
    if before.state is TuningJobState.CANCELLING:
        return CancelResult(before, before, CancelAction.ALREADY_CANCELLING)
    try:
        answered: TuningJob | None = yield CancelJob(before.job_id)
    except (JobNotCancellableError, MalformedResponseError):
        # Refused for the job's state, or answered with what is no acknowledgement (a proxy's page,
        # after the hook's retries): the job as it is now says what happened; still active, the error stands.
        current: TuningJob = yield GetJob(before.job_id)
        if current.is_terminal:
            return CancelResult(before, current, CancelAction.ALREADY_ENDED)
        if current.state is TuningJobState.CANCELLING:
            return CancelResult(before, current, CancelAction.ALREADY_CANCELLING)
        raise
    return CancelResult(before, answered or before, CancelAction.SENT)


def _failure_outcome(exc: Exception) -> CancelOutcome:
    if isinstance(exc, JobNotCancellableError | OperationNotSupportedError):
        return CancelOutcome.REFUSED
    if isinstance(exc, JobNotFoundError):
        return CancelOutcome.NOT_FOUND
    return CancelOutcome.FAILED
