"""TuningJobStateSensor: wait until a fine-tuning job reaches the states you name."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_ft_provider.arguments import rendered_job_id, seconds, states
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.job_display import job_line, native_state, outcome_line, state_line
from airflow_ft_provider.jobs import TERMINAL_STATES, TuningJob
from airflow_ft_provider.links import CONSOLE_URL_XCOM_KEY, TuningJobConsoleLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.hooks.base import TuningJobHook


#: How long ``on_kill`` may spend cancelling the job.
ON_KILL_SECONDS = 20.0


class TuningJobStateSensor(BaseSensorOperator):
    """Succeeds when the job reaches one of ``target_states``; fails when it reaches a failure state.

    Poke, reschedule and deferrable modes end the same way: the job record (JSON) on success,
    a failed task naming the platform's error on a failure state, ``AirflowSensorTimeout`` (or a
    skip with ``soft_fail``) when ``timeout`` passes.

    :param conn_id: connection of one of the provider's types; it decides the platform.
    :param job_id: job id or resource name (templated).
    :param target_states: normalized states that end the wait (default: any terminal state); a list,
        or one string of comma-separated names.
    :param failure_states: states that fail the task (default: the terminal states not targeted).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param cancel_on_kill: cancel the job when a user kills the waiting task (deferred: Airflow 3.3's
        trigger ``on_kill``, older versions check the task's state; poke mode: ``on_kill``).
    :param poll_interval: deferrable mode: the longest pause between reads (``poke_interval`` otherwise).
    :param poke_interval: poke and reschedule modes: seconds between two reads (Airflow's own parameter).
    """

    template_fields: Sequence[str] = ("job_id", "conn_id")
    operator_extra_links = (TuningJobConsoleLink(),)

    def __init__(
        self,
        *,
        conn_id: str,
        job_id: str,
        target_states: Iterable[str] | str | None = None,
        failure_states: Iterable[str] | str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = False,
        poll_interval: Any = 30.0,
        poke_interval: Any = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.job_id = job_id
        self.target_states = states(target_states or TERMINAL_STATES, "target_states")
        self.failure_states = (
            states(failure_states, "failure_states")
            if failure_states is not None
            else TERMINAL_STATES - self.target_states
        )
        if overlap := self.target_states & self.failure_states:
            raise ValueError(f"States {sorted(overlap)} are both target and failure states; choose one side.")
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.poll_interval = seconds(poll_interval, "poll_interval")
        self._hook: TuningJobHook | None = None

    def _get_hook(self) -> TuningJobHook:
        if self._hook is None:
            from airflow_ft_provider.hooks.registry import get_hook

            self._hook = get_hook(self.conn_id)
        return self._hook

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_ft_provider.task_errors import task_failure

        try:
            job = self._get_hook().get_job(rendered_job_id(self.job_id, self.conn_id), urgent=False)
        except (TuningJobError, ValueError) as exc:
            if isinstance(exc, TuningJobError) and exc.retryable:
                read_failed = outcome_line("read failed, will try again", exc.platform, str(self.job_id), str(exc))
                self.log.warning("%s", read_failed)
                return False
            # Expected and explained in full by the message: our internals' traceback adds nothing.
            raise task_failure(exc, self.conn_id) from None
        self.log.info("%s", state_line(job))
        return self._judge(job, context)

    def _judge(self, job: TuningJob, context: Context) -> bool | PokeReturnValue:
        context["ti"].xcom_push(key=CONSOLE_URL_XCOM_KEY, value=job.console_url or "")
        if job.state in self.failure_states:
            raise AirflowFailException(_failure_message(job, self.conn_id))
        if job.state in self.target_states:
            return PokeReturnValue(is_done=True, xcom_value=job.to_xcom())
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # No read on the worker first: the trigger's first poll is immediate, and ending every
        # path in execute_complete keeps soft_fail/timeout handling identical to poke mode.
        from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger
        from airflow_ft_provider.version_compat import encryption_broken

        if reason := encryption_broken():
            raise AirflowFailException(reason)
        # Airflow renders extra links when a task defers: give the link its XCom now.
        context["ti"].xcom_push(key=CONSOLE_URL_XCOM_KEY, value="")
        self.defer(
            trigger=TuningJobStateTrigger(
                conn_id=self.conn_id,
                platform=self._get_hook().platform,
                job_id=rendered_job_id(self.job_id, self.conn_id),
                target_states=[s.value for s in self.target_states],
                failure_states=[s.value for s in self.failure_states],
                deadline=time.time() + float(self.timeout),
                poll_interval=self.poll_interval,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            # The trigger keeps the deadline itself and reports "timeout" (see resume below).
            timeout=None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        from airflow_ft_provider.flows import WaitStatus
        from airflow_ft_provider.triggers.job_state import JobStateEvent

        try:
            parsed = JobStateEvent.parse(event)
        except ValueError as exc:
            raise AirflowException(str(exc)) from None
        status = WaitStatus(parsed.status)
        if status is WaitStatus.TIMEOUT:
            raise AirflowSensorTimeout(f"{parsed.message} (timeout={self.timeout} s, connection {self.conn_id!r}).")
        if status is WaitStatus.ERROR:
            error = AirflowException if parsed.retryable else AirflowFailException
            platform = parsed.job.platform if parsed.job is not None else None
            why = f"connection {self.conn_id!r}: {parsed.message}"
            raise error(outcome_line("wait FAILED", platform, parsed.job_id, why))
        if parsed.job is None:
            raise AirflowException(f"Trigger reported {status} without the job record: {event!r}")
        context["ti"].xcom_push(key=CONSOLE_URL_XCOM_KEY, value=parsed.job.console_url or "")
        if status is WaitStatus.FAILED:
            raise AirflowFailException(_failure_message(parsed.job, self.conn_id))
        return parsed.job.to_xcom()

    def on_kill(self) -> None:
        """Poke mode: the user killed the task while it waited on the worker."""
        if not self.cancel_on_kill or self._hook is None:
            return
        from airflow_ft_provider.flows import cancel_flow, run_flow

        try:
            deadline = time.time() + ON_KILL_SECONDS
            result = run_flow(self._hook, cancel_flow(self.job_id), deadline=deadline)
            self.log.info("%s", job_line(f"task killed; {result.summary()}", result.after))
        except Exception:
            self.log.exception("%s", outcome_line("task killed; cancel FAILED", self._hook.platform, str(self.job_id)))


def _failure_message(job: TuningJob, conn_id: str) -> str:
    return job_line(f"reached {job.state}", job, f"connection {conn_id!r}", native_state(job), job.error_message)
