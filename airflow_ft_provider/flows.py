"""Cancel and wait, written once for workers and the triggerer.

A *flow* is a generator that yields steps (read a job, cancel a job, sleep) and receives
their results; it does no I/O itself. :func:`run_flow` drives it with a hook's blocking
calls on a worker, :func:`arun_flow` with the hook's coroutines in the triggerer. So the
rules of "cancel as a user means it" and of adaptive polling exist in one place, and
sync and async behave identically by construction.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_ft_provider.errors import JobNotCancellableError, TuningJobError
from airflow_ft_provider.jobs import TERMINAL_STATES, TuningJob, TuningJobState

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import TuningJobHook

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class GetJob:
    job_id: str


@dataclass(frozen=True)
class CancelJob:
    job_id: str


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = GetJob | CancelJob | Sleep
Flow = Generator[Step, Any, T]


def run_flow(hook: TuningJobHook, flow: Flow[T], sleep: Callable[[float], None] = time.sleep) -> T:
    """Drive a flow with blocking calls (workers, callbacks)."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            if isinstance(step, GetJob):
                result = hook.get_job(step.job_id)
            elif isinstance(step, CancelJob):
                result = hook.cancel_job(step.job_id)
            else:
                sleep(step.seconds)
        except TuningJobError as exc:
            error = exc


async def arun_flow(hook: TuningJobHook, flow: Flow[T]) -> T:
    """Drive a flow with the hook's coroutines (triggerer): nothing here blocks the loop."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            if isinstance(step, GetJob):
                result = await hook.aget_job(step.job_id)
            elif isinstance(step, CancelJob):
                result = await hook.acancel_job(step.job_id)
            else:
                await asyncio.sleep(step.seconds)
        except TuningJobError as exc:
            error = exc


# -- cancel -----------------------------------------------------------------------------------


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


def cancel_flow(job_id: str) -> Flow[CancelResult]:
    """Make sure the job stops spending: read it, cancel it only if it is still active.

    No platform takes an idempotency key, so idempotency comes from reading first. A
    refusal because the job just ended or is already cancelling counts as success.
    """
    before: TuningJob = yield GetJob(job_id)
    if before.is_terminal:
        return CancelResult(before, before, CancelAction.ALREADY_ENDED)
    if before.state is TuningJobState.CANCELLING:
        return CancelResult(before, before, CancelAction.ALREADY_CANCELLING)
    try:
        answered: TuningJob | None = yield CancelJob(before.job_id)
    except JobNotCancellableError:
        current: TuningJob = yield GetJob(before.job_id)
        if current.is_terminal or current.state is TuningJobState.CANCELLING:
            return CancelResult(before, current, CancelAction.SENT)
        raise
    return CancelResult(before, answered or before, CancelAction.SENT)


# -- wait -------------------------------------------------------------------------------------


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
    max_transient_errors: int = 5,
    clock: Callable[[], float] = time.time,
) -> Flow[WaitResult]:
    """Poll until the job is in a target or failure state, the deadline passes, or errors win.

    ``deadline`` is an absolute Unix time: the wait keeps it itself so that neither a
    restart of the triggerer nor a framework timeout can lose it. Transient errors (after
    the transport's own retries) are tolerated ``max_transient_errors`` times in a row.
    """
    started = clock()
    polls = transient = 0
    job: TuningJob | None = None
    while True:
        try:
            job = yield GetJob(job_id)
            polls += 1
            transient = 0
        except TuningJobError as exc:
            polls += 1
            if not exc.retryable:
                return WaitResult(WaitStatus.ERROR, job, str(exc), polls)
            transient += 1
            if transient > max_transient_errors:
                message = f"{transient} transient errors in a row; last: {exc}"
                return WaitResult(WaitStatus.ERROR, job, message, polls, retryable=True)
            log.warning("Transient error while waiting for %s (%d in a row): %s", job_id, transient, exc)
        if job is not None and transient == 0:
            if job.state in failure_states:
                return WaitResult(WaitStatus.FAILED, job, _describe(job), polls)
            if job.state in target_states:
                return WaitResult(WaitStatus.REACHED, job, _describe(job), polls)
        now = clock()
        pause = schedule.interval(now - started)
        if deadline is not None:
            if now >= deadline:
                return WaitResult(
                    WaitStatus.TIMEOUT,
                    job,
                    f"Job {job_id} was still {job.state if job else 'unread'} when the deadline passed",
                    polls,
                )
            pause = min(pause, deadline - now)
        yield Sleep(pause)


def _describe(job: TuningJob) -> str:
    message = f"Job {job.job_id} is {job.state} (platform state {job.native_state!r})"
    return f"{message}: {job.error_message}" if job.error_message else message
