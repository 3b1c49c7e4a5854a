"""Waiting for a job's state: adaptive polling until a target, a failure state or the deadline."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.flows.steps import Count, Flow, GetJob, Sleep
from airflow_ft_provider.job_display import outcome_line, state_line
from airflow_ft_provider.jobs import TERMINAL_STATES, TuningJob, TuningJobState

log = logging.getLogger(__name__)

#: Transient failures in a row (each after the transport's own retries) a wait rides out.
MAX_TRANSIENT_ERRORS = 5
#: A wait that sees no change logs that it is still waiting this often.
HEARTBEAT_SECONDS = 600.0


@dataclass(frozen=True)
class PollSchedule:
    """Polls often right after a change is expected, then back off to a cap.

    The interval is ``ramp`` times the time already waited, give or take ``jitter`` (10 %),
    kept within [``minimum``, ``maximum``]: most cancellations finish within seconds and are
    seen within about a second, while a long wait settles at one request per ``maximum``
    seconds. The jitter spreads triggers that started together (a bulk cancel, a triggerer
    restart) so their polls stop arriving in bursts; the bounds still hold exactly.
    """

    minimum: float = 1.0
    maximum: float = 30.0
    ramp: float = 0.1
    jitter: float = 0.1

    def interval(self, waited: float, rand: Callable[[], float] = random.random) -> float:
        spread = 1.0 + self.jitter * (2.0 * rand() - 1.0)
        return max(self.minimum, min(self.maximum, self.ramp * waited * spread))


class WaitStatus(StrEnum):
    REACHED = "reached"  # a target state
    FAILED = "failed"  # a failure state
    TIMEOUT = "timeout"  # the deadline passed first
    ERROR = "error"  # the platform kept failing, or refused (not found, auth)


@dataclass(frozen=True)
class WaitResult:
    status: WaitStatus
    job: TuningJob | None
    message: str
    polls: int
    #: For ERROR: whether trying again later could succeed (an outage, not a refusal).
    retryable: bool = False


def wait_flow(
    job_id: str,
    *,
    deadline: float | None,
    target_states: Collection[TuningJobState] = TERMINAL_STATES,
    failure_states: Collection[TuningJobState] = (),
    schedule: PollSchedule = PollSchedule(),
    max_transient_errors: int = MAX_TRANSIENT_ERRORS,
    urgent: bool = True,
    confirming_since: float | None = None,
    clock: Callable[[], float] = time.time,
) -> Flow[WaitResult]:
    """Poll until the job is in a target or failure state, the deadline passes, or errors win.

    ``deadline`` is an absolute Unix time: the wait keeps it itself so that neither a restart of
    the triggerer nor a framework timeout can lose it (the driver also bounds every request by it).
    Transient errors (after the transport's own retries) are tolerated ``max_transient_errors``
    times in a row. State changes are logged, and a heartbeat while nothing changes.
    ``confirming_since``: the wait confirms a cancel acknowledged (or a job seen cancelling) at this
    Unix time; seeing the job CANCELLED counts ``metrics.CONFIRMED`` and the time it took.
    """
    started = last_log = clock()
    polls = transient = 0
    job: TuningJob | None = None
    while True:
        try:
            read: TuningJob = yield GetJob(job_id, urgent=urgent)
            polls += 1
            transient = 0
            if job is None or read.state is not job.state:
                log.info("%s", state_line(read))
                last_log = clock()
            job = read
        except TuningJobError as exc:
            polls += 1
            if not exc.retryable:
                return WaitResult(WaitStatus.ERROR, job, str(exc), polls)
            transient += 1
            if transient > max_transient_errors:
                message = f"{transient} transient errors in a row; last: {exc}"
                return WaitResult(WaitStatus.ERROR, job, message, polls, retryable=True)
            failed = f"read failed ({transient} in a row), will retry"
            log.warning("%s", outcome_line(failed, _platform(job), job_id, str(exc)))
        if job is not None and transient == 0:
            if job.state in failure_states:
                return WaitResult(WaitStatus.FAILED, job, describe(job), polls)
            if job.state in target_states:
                if confirming_since is not None and job.state is TuningJobState.CANCELLED:
                    yield Count(None, seconds=clock() - confirming_since)
                return WaitResult(WaitStatus.REACHED, job, describe(job), polls)
        now = clock()
        if now - last_log >= HEARTBEAT_SECONDS:
            waited = f"still {_state(job)} after {now - started:.0f} s, {polls} reads"
            log.info("%s", outcome_line(waited, _platform(job), job_id))
            last_log = now
        pause = schedule.interval(now - started)
        if deadline is not None:
            if now >= deadline:
                message = outcome_line(f"still {_state(job)} at the deadline", _platform(job), job_id)
                return WaitResult(WaitStatus.TIMEOUT, job, message, polls)
            pause = min(pause, deadline - now)
        yield Sleep(pause)


def describe(job: TuningJob) -> str:
    """``FAILED · <job> · platform state 'x' · <the platform's error>``: the state first."""
    return state_line(job, job.error_message)


def _state(job: TuningJob | None) -> str:
    return job.state.value if job is not None else "unread"


def _platform(job: TuningJob | None) -> str | None:
    return job.platform if job is not None else None
