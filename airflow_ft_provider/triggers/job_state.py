"""Wait for a tuning job's state in the triggerer, without a worker slot.

The trigger serializes only ids, states and timing (credentials stay in the Airflow
connection, read asynchronously when it runs), shares one pooled ``httpx.AsyncClient``
per connection with every other trigger in the process, keeps its own absolute deadline,
and yields exactly one event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from pydantic import BaseModel, ValidationError

from airflow_ft_provider import version_compat
from airflow_ft_provider.errors import MAX_MESSAGE, TuningJobError
from airflow_ft_provider.flows.wait import MAX_TRANSIENT_ERRORS
from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.jobs import TERMINAL_STATES, TuningJob, TuningJobState
from airflow_ft_provider.server_text import clean

if TYPE_CHECKING:
    from airflow_ft_provider.flows.steps import AsyncJobs

log = logging.getLogger(__name__)

#: Seconds a kill-time cancel may take (Airflow bounds on_kill by [triggerer] on_kill_timeout too).
CANCEL_ON_KILL_TIMEOUT = 25.0
#: Task states only a user's action leaves behind a deferred task: mark failed/success, clear (no
#: state). A task still deferred (the trigger moved to another triggerer), or scheduled, queued or
#: running (another triggerer's event resumed it) was not killed: its job is left alone.
_KILLED_STATES = frozenset({"failed", "success", "skipped", "up_for_retry", "restarting", "removed", None})


class JobStateEvent(BaseModel):
    """The one event the trigger yields; operators and sensors validate it before use."""

    status: str  # a WaitStatus value
    job_id: str
    message: str
    job: TuningJob | None = None
    polls: int = 0
    retryable: bool = False

    @classmethod
    def parse(cls, event: Any) -> JobStateEvent:
        """Validate a trigger event, with an error that says what was wrong."""
        from airflow_ft_provider.flows import WaitStatus

        try:
            parsed = cls.model_validate(event)
            WaitStatus(parsed.status)
        except (ValidationError, ValueError) as exc:
            raise ValueError(f"Unexpected event from TuningJobStateTrigger: {event!r} ({exc})") from None
        return parsed


class TuningJobStateTrigger(BaseTrigger):
    """Polls a job until it reaches ``target_states`` or ``failure_states``, or ``deadline`` passes.

    :param conn_id: Airflow connection of the platform.
    :param platform: which platform the connection is for (picks the hook without a lookup).
    :param job_id: the job id or resource name.
    :param target_states: states that end the wait successfully (default: any terminal state).
    :param failure_states: states that end the wait as a failure.
    :param deadline: absolute Unix time after which the trigger reports a timeout; kept
        by the trigger itself so that a framework timeout never cuts the wait short.
    :param min_poll_interval: first polls come this often.
    :param poll_interval: the cap the polling interval backs off to.
    :param max_transient_errors: consecutive transient failures tolerated (after retries).
    :param cancel_on_kill: cancel the job if a user kills the deferred task.
    :param urgent: the wait confirms a cancel this provider just sent: its reads go before background
        watching in the connection's request budget.
    :param confirming_since: the wait confirms a cancel acknowledged (or a job seen cancelling) at
        this Unix time: seeing the job CANCELLED counts the ``confirmed`` metric and its time.
    :param done_before: what the deferring task did before the wait (a ``CancelAction`` value, e.g.
        ``cancel_sent``), so a kill-time log can say whether the cancel had already been sent.
    """

    def __init__(
        self,
        conn_id: str,
        platform: str,
        job_id: str,
        target_states: Iterable[str] | None = None,
        failure_states: Iterable[str] = (),
        deadline: float | None = None,
        min_poll_interval: float = 1.0,
        poll_interval: float = 30.0,
        max_transient_errors: int = MAX_TRANSIENT_ERRORS,
        cancel_on_kill: bool = False,
        urgent: bool = False,
        confirming_since: float | None = None,
        done_before: str | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        from airflow_ft_provider.platforms.registry import record_for

        self.platform = record_for(platform).name
        self.job_id = job_id
        self.target_states = [TuningJobState(s) for s in (target_states or sorted(TERMINAL_STATES))]
        self.failure_states = [TuningJobState(s) for s in failure_states]
        self.deadline = deadline
        self.min_poll_interval = min_poll_interval
        self.poll_interval = poll_interval
        self.max_transient_errors = max_transient_errors
        self.cancel_on_kill = cancel_on_kill
        self.urgent = urgent
        self.confirming_since = confirming_since
        self.done_before = done_before
        self._finished = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "platform": self.platform,
                "job_id": self.job_id,
                "target_states": [s.value for s in self.target_states],
                "failure_states": [s.value for s in self.failure_states],
                "deadline": self.deadline,
                "min_poll_interval": self.min_poll_interval,
                "poll_interval": self.poll_interval,
                "max_transient_errors": self.max_transient_errors,
                "cancel_on_kill": self.cancel_on_kill,
                "urgent": self.urgent,
                "confirming_since": self.confirming_since,
                "done_before": self.done_before,
            },
        )

    def _hook(self) -> Any:
        from airflow_ft_provider.hooks.registry import hook_class_for_platform

        return hook_class_for_platform(self.platform)(conn_id=self.conn_id)

    def _reads(self) -> AsyncJobs:
        """Where the wait reads its job: the connection's shared watcher (``triggers.watcher``)."""
        from airflow_ft_provider.triggers.watcher import WatchedJobs

        return WatchedJobs(self._hook())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_ft_provider.flows import PollSchedule, arun_flow, wait_flow

        flow = wait_flow(
            self.job_id,
            deadline=self.deadline,
            target_states=self.target_states,
            failure_states=self.failure_states,
            schedule=PollSchedule(minimum=self.min_poll_interval, maximum=self.poll_interval),
            max_transient_errors=self.max_transient_errors,
            urgent=self.urgent,
            confirming_since=self.confirming_since,
        )
        try:
            result = await arun_flow(self._reads(), flow, deadline=self.deadline)
            event = JobStateEvent(
                status=result.status,
                job_id=self.job_id,
                message=result.message,
                job=result.job,
                polls=result.polls,
                retryable=result.retryable,
            )
        except Exception as exc:  # configuration or unexpected errors end the wait with an error event
            failed = outcome_line("wait FAILED", self.platform, self.job_id, f"connection {self.conn_id!r}")
            # An expected error (auth, not found, configuration) says it all; anything else keeps its traceback.
            expected = isinstance(exc, TuningJobError | ValueError)
            log.error("%s: %s: %s", failed, type(exc).__name__, exc, exc_info=None if expected else exc)
            message = clean(f"{type(exc).__name__}: {exc}", MAX_MESSAGE)  # may quote a server, as any error
            event = JobStateEvent(status="error", job_id=self.job_id, message=message)
        self._finished = True
        yield TriggerEvent(event.model_dump(mode="json"))

    async def on_kill(self) -> None:
        """Airflow 3.3+: called when a user kills the deferred task (mark failed/success, clear).

        Since 3.3.0 it can also fire when the trigger is handed to another triggerer after a missed
        heartbeat (apache/airflow#73454), while the task is still deferred and watched there: so the
        task's state is checked first, and only a state a user's action leaves cancels the job.
        """
        if not (self.cancel_on_kill or self.done_before) or not await self._task_was_killed():
            return
        if self.cancel_on_kill:
            # Shielded: the triggerer cancels a killed trigger again while on_kill still runs (its
            # next sync), which would end a cancel that waits in the budget before it is sent.
            await asyncio.shield(self._cancel_job())
        else:
            log.info("%s", self._killed_note())

    async def cleanup(self) -> None:
        """Before 3.3 there is no ``on_kill``: cancel only if the task is no longer deferred,
        so a triggerer restart or redistribution never cancels a job."""
        if (
            (self.cancel_on_kill or self.done_before)
            and not version_compat.trigger_on_kill_supported()
            and not self._finished
            and await self._task_was_killed()
        ):
            if self.cancel_on_kill:
                await self._cancel_job()
            else:
                log.info("%s", self._killed_note())

    def _killed_note(self) -> str:
        """What a killed task had done before this wait (its cancel, sent or not needed), so its log says it."""
        from airflow_ft_provider.flows import CancelAction

        done: dict[str, str] = {
            CancelAction.SENT.value: "the cancel had already been sent before the wait",
            CancelAction.ALREADY_CANCELLING.value: "no cancel sent: the job was already CANCELLING",
        }
        note = done.get(str(self.done_before), f"done before the wait: {self.done_before}")
        return outcome_line(f"task killed while confirming; {note}", self.platform, self.job_id, "no longer watched")

    async def _cancel_job(self) -> None:
        from airflow_ft_provider.flows import arun_flow, cancel_flow

        try:
            deadline = time.time() + CANCEL_ON_KILL_TIMEOUT
            result = await arun_flow(self._hook(), cancel_flow(self.job_id), deadline=deadline)
            log.info("%s", outcome_line(f"task killed; {result.summary()}", self.platform, self.job_id))
        except Exception:
            log.exception("%s", outcome_line("task killed; cancel FAILED", self.platform, self.job_id))

    async def _task_was_killed(self) -> bool:
        ti = self.task_instance
        if ti is None:
            return False
        try:
            state = await version_compat.atask_state(ti.dag_id, ti.task_id, ti.run_id)
        except Exception:
            log.warning("Could not read the state of task %s; not cancelling", ti.task_id, exc_info=True)
            return False
        if state not in _KILLED_STATES:
            left = f"left running: task {ti.task_id} is {state}, not killed"
            log.info("%s", outcome_line(left, self.platform, self.job_id))
            return False
        return True
