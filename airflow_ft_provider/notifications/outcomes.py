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
from airflow_ft_provider.job_display import outcome_line

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
    """Log how one job's cancel (and wait) ended, outcome first; ``cause`` begins each line ("on
    failure"). The line logged when the job may still be training (its cancel failed or was not done
    in time), else None: the cancel was sent, or not needed."""
    from airflow_ft_provider.flows import WaitStatus
    from airflow_ft_provider.jobs import TuningJobState

    def line(what: str, *details: str | None) -> str:
        return outcome_line(f"{cause}: {what}", platform, outcome.job_id, *details)

    cancel, wait = outcome.cancel, outcome.wait
    if cancel is None and outcome.error is not None:
        return log_error(log, outcome.error, line("NOT cancelled"))
    if cancel is None:
        problem = line(
            f"NOT cancelled: no answer within timeout={timeout:g} s",
            "the job may still be running: cancel it by hand, or raise the notifier's timeout",
        )
        log.error("%s", problem)
        return problem
    waiting = wait_for_cancelled and not cancel.after.is_terminal
    log.info("%s", line(cancel.summary(confirming=waiting), f"was {cancel.before.state}"))
    if not waiting:
        return None
    if outcome.error is not None:
        log_error(log, outcome.error, line("waiting for the end FAILED"))
    elif wait is None:  # the worker is still waiting
        log.warning("%s", line(f"not confirmed ended within timeout={timeout:g} s"))
    elif wait.status is WaitStatus.REACHED and wait.job is not None:
        ended = wait.job.state
        if ended is TuningJobState.CANCELLED:
            log.info("%s", line("CANCELLED (confirmed)"))
        else:
            log.warning("%s", line(f"{ended}, not CANCELLED: it finished before the cancel took effect"))
    else:
        log.warning("%s", line("not confirmed ended", wait.message))
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
