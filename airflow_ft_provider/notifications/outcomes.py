"""What a notifier got done for each job, and the log lines that tell the user.

Light at import: DAG files import the notifier at every parse. Read once the flow
(``notifications.cancelling``) ended or its time ran out: a job whose cancel did not finish in
time is reported as such, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_ft_provider.errors import TuningJobError

if TYPE_CHECKING:
    from airflow_ft_provider.flows import CancelResult, WaitResult

#: Errors whose message says all there is to say; anything else is logged with its traceback.
_EXPECTED_ERRORS = (TuningJobError, ValueError, AirflowNotFoundException)


@dataclass
class Outcome:
    """What got done for one job."""

    job_id: str
    cancel: CancelResult | None = None
    wait: WaitResult | None = None
    error: Exception | None = None

    def unfinished(self, wait_for_cancelled: bool) -> bool:
        if self.error is not None:
            return False
        if self.cancel is None:
            return True
        return wait_for_cancelled and self.wait is None and not self.cancel.after.is_terminal


def report(
    log: Any, cause: str, platform: str, outcome: Outcome, timeout: float, wait_for_cancelled: bool
) -> str | None:
    """Log how one job's cancel (and wait) ended; ``cause`` begins each line ("Cancel on failure").
    The line logged when the job may still be training (its cancel failed or was not done in time),
    else None: the cancel was sent, or not needed."""
    from airflow_ft_provider.flows import CancelAction, WaitStatus
    from airflow_ft_provider.jobs import TuningJobState

    name = f"{platform} job {outcome.job_id}"
    cancel, wait = outcome.cancel, outcome.wait
    if cancel is None and outcome.error is not None:
        return log_error(log, outcome.error, f"{cause}: {name} was NOT cancelled")
    if cancel is None:
        problem = (
            f"{cause}: {name}: not done within timeout={timeout:g} s (the platform did not answer in time); "
            "the job may still be running: cancel it by hand, or raise the notifier's timeout."
        )
        log.error("%s", problem)
        return problem
    before, after = cancel.before, cancel.after
    if cancel.action is CancelAction.ALREADY_ENDED:
        log.info("%s: %s had already ended %s; no cancel sent.", cause, name, before.state)
        return None
    did = "cancel sent" if cancel.action is CancelAction.SENT else "already cancelling, no cancel sent"
    now = "" if after is before else f"; now {after.state}"  # some platforms answer a cancel without the job
    log.info("%s: %s was %s: %s%s.", cause, name, before.state, did, now)
    if not wait_for_cancelled or after.is_terminal:
        return None
    if outcome.error is not None:
        log_error(log, outcome.error, f"{cause}: waiting for {name} to end failed")
    elif wait is None:  # the worker is still waiting
        log.warning("%s: %s not confirmed terminal within timeout=%g s.", cause, name, timeout)
    elif wait.status is WaitStatus.REACHED and wait.job is not None:
        ended = wait.job.state
        if ended is TuningJobState.CANCELLED:
            log.info("%s: confirmed: %s is CANCELLED.", cause, name)
        else:
            log.warning("%s: %s ended %s before the cancel took effect.", cause, name, ended)
    else:
        log.warning("%s: %s not confirmed terminal: %s.", cause, name, wait.message)
    return None


def log_error(log: Any, exc: Exception, what: str) -> str:
    """Log ``what`` failed: an expected error by its message, anything else with its traceback; the
    line logged (without the traceback)."""
    if isinstance(exc, _EXPECTED_ERRORS):
        line = f"{what}: {type(exc).__name__}: {exc}"
        log.error("%s", line)
        return line
    log.error("%s: unexpected %s.", what, type(exc).__name__, exc_info=exc)
    return f"{what}: unexpected {type(exc).__name__}"
