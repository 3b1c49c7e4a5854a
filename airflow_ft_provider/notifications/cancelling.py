"""Cancelling the jobs a notifier found: one flow, driven in a worker thread or on the triggerer's loop.

:func:`cancel_jobs_flow` holds the order (every cancel first, then the waits: stopping the spend
comes first); :func:`cancel_in_thread` drives it for ``notify`` (worker, dag-processor) and
:func:`acancel` for ``async_notify`` (a Deadline Alert callback in the triggerer). Both are bounded
by the same deadline, and both leave in each ``Outcome`` what got done, for the report.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.flows import PollSchedule, arun_flow, cancel_flow, run_flow, wait_flow
from airflow_ft_provider.notifications.outcomes import Outcome

if TYPE_CHECKING:
    from airflow_ft_provider.flows import Flow
    from airflow_ft_provider.hooks.base import TuningJobHook

#: Seconds past the deadline the caller waits for the flow, whose requests end at the deadline.
JOIN_GRACE = 2.0
_SCHEDULE = PollSchedule(minimum=0.5, maximum=5.0)


def cancel_jobs_flow(outcomes: list[Outcome], *, wait_for_cancelled: bool, deadline: float) -> Flow[None]:
    """Send every cancel first, then (if asked) wait for each job to end; a platform error ends
    only its own job's part."""
    for outcome in outcomes:
        try:
            outcome.cancel = yield from cancel_flow(outcome.job_id)
        except TuningJobError as exc:
            outcome.error = exc
    if not wait_for_cancelled:
        return
    for outcome in outcomes:
        if outcome.cancel is not None and not outcome.cancel.after.is_terminal:
            try:
                job_id = outcome.cancel.after.job_id
                since = time.time()  # the confirmation's time is a metric (ft_provider.cancel.confirm_time)
                outcome.wait = yield from wait_flow(
                    job_id, deadline=deadline, schedule=_SCHEDULE, confirming_since=since
                )
            except TuningJobError as exc:
                outcome.error = exc


def cancel_in_thread(
    hook: TuningJobHook, outcomes: list[Outcome], *, wait_for_cancelled: bool, deadline: float
) -> None:
    """Drive the flow in a daemon thread joined until the deadline: a callback that hangs would hold
    the worker slot or the dag-processor."""

    def work() -> None:
        try:
            flow = cancel_jobs_flow(outcomes, wait_for_cancelled=wait_for_cancelled, deadline=deadline)
            run_flow(hook, flow, deadline=deadline)
        except Exception as exc:
            _record(outcomes, exc, wait_for_cancelled)
        finally:
            hook.close()

    worker = threading.Thread(target=work, name="ft-cancel-on-failure", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.time()) + JOIN_GRACE)


async def acancel(hook: TuningJobHook, outcomes: list[Outcome], *, wait_for_cancelled: bool, deadline: float) -> None:
    """Drive the flow with the hook's coroutines; nothing blocks the triggerer's loop."""
    flow = cancel_jobs_flow(outcomes, wait_for_cancelled=wait_for_cancelled, deadline=deadline)
    try:
        async with asyncio.timeout(max(0.0, deadline - time.time()) + JOIN_GRACE):
            await arun_flow(hook, flow, deadline=deadline)
    except TimeoutError:
        pass  # the outcomes without a result are reported as not done within the timeout
    except Exception as exc:
        _record(outcomes, exc, wait_for_cancelled)


def _record(outcomes: list[Outcome], exc: Exception, wait_for_cancelled: bool) -> None:
    """An error outside the platform's (a bug, a bad id) stops the flow: it is what the rest met."""
    for outcome in outcomes:
        if outcome.unfinished(wait_for_cancelled):
            outcome.error = exc
