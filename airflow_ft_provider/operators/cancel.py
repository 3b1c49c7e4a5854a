"""CancelTuningJobOperator: stop a fine-tuning job and confirm how it ended.

The connection's type picks the platform. Only Airflow and this package's light modules
are imported here: DAG files import this module at every parse, so hooks, httpx and the
trigger are loaded inside ``execute``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    BaseOperator,
    conf,
)

from airflow_ft_provider.arguments import rendered_job_id, seconds
from airflow_ft_provider.errors import JobNotFoundError, TuningJobError
from airflow_ft_provider.job_display import job_line, native_state, outcome_line
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.links import CONSOLE_URL_XCOM_KEY, TuningJobConsoleLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.flows import WaitResult
    from airflow_ft_provider.hooks.base import TuningJobHook


#: How long ``on_kill`` may spend making sure the cancel was sent.
ON_KILL_SECONDS = 20.0


class IfEnded(StrEnum):
    """What to do when the job had already ended before the cancel."""

    SUCCEED = "succeed"
    SKIP = "skip"
    FAIL = "fail"


class IfNotFound(StrEnum):
    """What to do when the platform does not know the job."""

    FAIL = "fail"
    SUCCEED = "succeed"  # cleanup DAGs: a job that is gone is as good as cancelled
    SKIP = "skip"


def _choice(enum: type[StrEnum], value: str, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise ValueError(f"{name}={value!r} is not valid; use one of {allowed}.") from None


class CancelTuningJobOperator(BaseOperator):
    """Cancel one fine-tuning job and wait until the platform confirms it ended.

    1. Reads the job. If it already ended, sends nothing (``if_ended`` decides the task's outcome).
    2. If it is already cancelling, sends nothing more and waits.
    3. Otherwise sends cancel once; "already cancelling / cancelled" answers count as success.
    4. With ``wait_for_completion``, waits (on the worker, or deferred to the triggerer) until the
       job is terminal. A job that won the race and ended SUCCEEDED or FAILED is reported plainly;
       ``fail_if_not_cancelled`` decides whether that fails the task.

    ``timeout`` is one absolute deadline for the whole task (read, cancel and wait, across deferral):
    no request or wait outlives it. Returns the final job record (JSON, no secrets) to XCom, with
    ``state_before`` (the state first read) and ``action`` (``cancel_sent``, ``already_cancelling`` or
    ``already_ended``) added; its ``usage`` holds the cost and usage the platform reports (the
    amount as a decimal string), also shown in the task log's last line.

    :param conn_id: connection of one of the provider's types; it decides the platform.
    :param job_id: job id or resource name (templated).
    :param wait_for_completion: wait until the job is terminal (default True).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param timeout: seconds (or a timedelta) for the whole task, kept as one absolute deadline across deferral.
    :param if_ended: ``"succeed"`` (default), ``"skip"`` or ``"fail"`` when the job had already ended.
    :param if_not_found: ``"fail"`` (default, no retries), ``"succeed"`` or ``"skip"``.
    :param fail_if_not_cancelled: fail when the job ended SUCCEEDED/FAILED/EXPIRED instead of CANCELLED.
    :param poll_interval: the longest pause between two reads of the job while waiting.
    :param min_poll_interval: the first pauses after the cancel; polling backs off from here.
    """

    template_fields: Sequence[str] = ("job_id", "conn_id")
    operator_extra_links = (TuningJobConsoleLink(),)
    ui_color = "#f4c7c3"

    def __init__(
        self,
        *,
        conn_id: str,
        job_id: str,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        timeout: Any = 60 * 60,
        if_ended: str = IfEnded.SUCCEED,
        if_not_found: str = IfNotFound.FAIL,
        fail_if_not_cancelled: bool = False,
        poll_interval: Any = 30.0,
        min_poll_interval: Any = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.job_id = job_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.timeout = seconds(timeout, "timeout")
        self.if_ended = _choice(IfEnded, if_ended, "if_ended")
        self.if_not_found = _choice(IfNotFound, if_not_found, "if_not_found")
        self.fail_if_not_cancelled = fail_if_not_cancelled
        self.poll_interval = seconds(poll_interval, "poll_interval")
        self.min_poll_interval = min(seconds(min_poll_interval, "min_poll_interval"), self.poll_interval)
        self._hook: TuningJobHook | None = None
        self._cancel_sent = False
        self._confirming_since: float | None = None

    # -- execution ---------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_ft_provider.flows import CancelAction, cancel_flow, run_flow
        from airflow_ft_provider.hooks.registry import get_hook
        from airflow_ft_provider.metrics import failing_before_flow
        from airflow_ft_provider.task_errors import task_failure
        from airflow_ft_provider.version_compat import encryption_broken

        # Before anything is sent: a cancel whose wait then cannot defer would be left unconfirmed.
        if self.deferrable and self.wait_for_completion and (reason := encryption_broken()):
            raise AirflowFailException(reason)
        # Airflow renders extra links on failure and deferral too: the link's XCom always exists.
        context["ti"].xcom_push(key=CONSOLE_URL_XCOM_KEY, value="")
        deadline = time.time() + self.timeout
        try:
            with failing_before_flow(self.conn_id):
                job_id = rendered_job_id(self.job_id, self.conn_id)
                hook = self._hook = get_hook(self.conn_id)
            result = run_flow(hook, cancel_flow(job_id), deadline=deadline)
        except JobNotFoundError as exc:
            self._not_found(exc)
            return None
        except (TuningJobError, ValueError) as exc:
            # Expected and explained in full by the message: our internals' traceback adds nothing.
            raise task_failure(exc, self.conn_id) from None
        self._cancel_sent = result.action is CancelAction.SENT
        self._confirming_since = time.time()
        job = result.after
        if job.console_url:
            context["ti"].xcom_push(key=CONSOLE_URL_XCOM_KEY, value=job.console_url)
        done = {"state_before": result.before.state.value, "action": result.action.value}
        if result.action is CancelAction.ALREADY_ENDED:
            return self._already_ended(job, done)
        if job.is_terminal:
            return self._finish(job, done, result.summary())
        waiting = self.wait_for_completion
        self.log.info("%s", job_line(result.summary(confirming=waiting), job, f"was {result.before.state}", usage=True))
        if not waiting:
            return {**job.to_xcom(), **done}

        if self.deferrable:
            self._defer(job, deadline, done)
        return self._after_wait(self._wait_here(hook, job.job_id, deadline), done)

    def _wait_here(self, hook: TuningJobHook, job_id: str, deadline: float) -> WaitResult:
        from airflow_ft_provider.flows import PollSchedule, run_flow, wait_flow

        schedule = PollSchedule(minimum=self.min_poll_interval, maximum=self.poll_interval)
        flow = wait_flow(job_id, deadline=deadline, schedule=schedule, confirming_since=self._confirming_since)
        return run_flow(hook, flow, deadline=deadline)

    def _defer(self, job: TuningJob, deadline: float, done: dict[str, str]) -> None:
        from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger

        self.defer(
            trigger=TuningJobStateTrigger(
                conn_id=self.conn_id,
                platform=job.platform,
                job_id=job.job_id,
                deadline=deadline,
                min_poll_interval=self.min_poll_interval,
                poll_interval=self.poll_interval,
                # Confirming a cancel sent just now: it goes before background watching.
                urgent=done["action"] == "cancel_sent",
                confirming_since=self._confirming_since,
                # So the log of a user's kill during the wait says whether the cancel had been sent.
                done_before=done["action"],
            ),
            method_name="execute_complete",
            # What was done before deferring, for the result (ids and states only, no secret).
            kwargs={"done": done},
            # The trigger keeps the deadline: a framework timeout would skip execute_complete.
            timeout=None,
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, done: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        from airflow_ft_provider.flows import WaitResult, WaitStatus
        from airflow_ft_provider.triggers.job_state import JobStateEvent

        try:
            parsed = JobStateEvent.parse(event)
        except ValueError as exc:
            raise AirflowException(str(exc)) from None
        self._cancel_sent = (done or {}).get("action") == "cancel_sent"
        result = WaitResult(WaitStatus(parsed.status), parsed.job, parsed.message, parsed.polls, parsed.retryable)
        return self._after_wait(result, done or {})

    # -- outcomes ------------------------------------------------------------------------
    def _after_wait(self, result: WaitResult, done: dict[str, str]) -> dict[str, Any] | None:
        from airflow_ft_provider.flows import WaitStatus

        if result.status is WaitStatus.REACHED and result.job is not None:
            return self._finish(result.job, done)
        if result.status is WaitStatus.TIMEOUT:
            raise AirflowException(
                f"not confirmed within timeout={self.timeout:g} s (cancel "
                f"{'sent' if self._cancel_sent else 'not needed'}): {result.message}. "
                "Raise timeout if the platform is slow."
            )
        platform = result.job.platform if result.job is not None else None
        why = f"connection {self.conn_id!r}: {result.message}"
        failure = outcome_line("wait FAILED", platform, str(self.job_id), why)
        if result.retryable:
            raise AirflowException(failure)
        raise AirflowFailException(failure)

    def _finish(self, job: TuningJob, done: dict[str, str], outcome: str | None = None) -> dict[str, Any]:
        """The last line: how the job ended, with what it reported it cost."""
        before = f"was {done.get('state_before')}" if done.get("state_before") else None
        if job.state is TuningJobState.CANCELLED:
            self.log.info("%s", job_line(outcome or "CANCELLED (confirmed)", job, before, usage=True))
            return {**job.to_xcom(), **done}
        message = job_line(
            f"{job.state}, not CANCELLED: it finished before the cancel took effect",
            job,
            native_state(job),
            usage=True,
        )
        if self.fail_if_not_cancelled:
            raise AirflowFailException(message)
        self.log.warning("%s", message)
        return {**job.to_xcom(), **done}

    def _already_ended(self, job: TuningJob, done: dict[str, str]) -> dict[str, Any]:
        message = job_line(f"already {job.state}; no cancel sent", job, usage=True)
        if self.if_ended is IfEnded.FAIL:
            raise AirflowFailException(message)
        if self.if_ended is IfEnded.SKIP:
            raise AirflowSkipException(message)
        self.log.info("%s", message)
        return {**job.to_xcom(), **done}

    def _not_found(self, exc: JobNotFoundError) -> None:
        platform = self._hook.platform if self._hook is not None else None
        message = outcome_line("not found", platform, str(self.job_id), f"connection {self.conn_id!r}: {exc}")
        if self.if_not_found is IfNotFound.SUCCEED:
            self.log.warning("%s; treating it as done (if_not_found='succeed').", message)
            return None
        if self.if_not_found is IfNotFound.SKIP:
            raise AirflowSkipException(message)
        raise AirflowFailException(message)

    def on_kill(self) -> None:
        """Killed while reading or waiting on the worker: make sure the cancel was sent."""
        if self._hook is None:
            return
        platform = self._hook.platform
        if self._cancel_sent:
            killed = "task killed while confirming; the cancel had already been sent"
            self.log.info("%s", outcome_line(killed, platform, str(self.job_id)))
            return
        from airflow_ft_provider.flows import cancel_flow, run_flow

        try:
            # The worker gives on_kill a few seconds only: bounded, it cannot hang the kill.
            result = run_flow(self._hook, cancel_flow(self.job_id), deadline=time.time() + ON_KILL_SECONDS)
            self.log.info("%s", job_line(f"task killed; {result.summary()}", result.after))
        except Exception:
            self.log.exception("%s", outcome_line("task killed; cancel FAILED", platform, str(self.job_id)))
