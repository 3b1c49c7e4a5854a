"""On-failure cancellation: stop the fine-tuning job that a failed task or DAG run started.

A failed run must not leave a job spending compute. Use :class:`CancelTuningJobNotifier` (or the
plain function from :func:`cancel_tuning_job_on_failure`) as ``on_failure_callback`` of a task or
of a DAG. It cancels "as a user means it" (read first, cancel only an active job, tolerate
"already cancelling"), is bounded in time, and never raises: a callback error must not hide the
failure that triggered it, so every problem is logged instead.

Where it runs: a task's callback runs in the task process on the worker; a DAG's callback runs in
the dag-processor, and inside ``dag.test()`` in the test's own process. Only Airflow and this
package's light modules are imported at module level: DAG files import this module at every parse.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseNotifier

from airflow_ft_provider import version_compat
from airflow_ft_provider.arguments import seconds
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.notifications.job_refs import (
    TUNING_JOB_ID_XCOM_KEY,
    JobRef,
    job_refs,
    read_xcoms,
    unique,
)

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.flows import CancelResult, WaitResult
    from airflow_ft_provider.hooks.base import TuningJobHook

__all__ = ["TUNING_JOB_ID_XCOM_KEY", "CancelTuningJobNotifier", "cancel_tuning_job_on_failure"]

#: Seconds past the deadline the callback waits for its worker, whose requests end at the deadline.
JOIN_GRACE = 2.0

#: Errors whose message says all there is to say; anything else is logged with its traceback.
_EXPECTED_ERRORS = (TuningJobError, ValueError, AirflowNotFoundException)


@dataclass
class _Outcome:
    """What the worker thread got done for one job (read by the caller after the join)."""

    job_id: str
    cancel: CancelResult | None = None
    wait: WaitResult | None = None
    error: Exception | None = None


class CancelTuningJobNotifier(BaseNotifier):
    """Cancel the fine-tuning job(s) that a failed task or DAG run started.

    Which jobs: ``job_id`` if it renders to something; else the XComs under ``xcom_key`` of the
    tasks in ``xcom_task_ids``; else, as a task callback, the failed task's own XCom under
    ``xcom_key`` (its map index only), and as a DAG callback, that key in every task of the run.
    An XCom (or a natively rendered ``job_id``) may hold a job id, a job record with ``job_id``
    (what this provider's operators return) or a list of them; every job found is cancelled.
    A job record of another platform than the connection's is skipped.

    The platform calls run in a daemon thread joined with ``timeout``: a callback that hangs
    would hold the worker slot or the dag-processor. The connection is read before, in the
    calling thread, since the channel to Airflow's supervisor is not thread-safe on Airflow 3.1.

    :param conn_id: connection of one of the provider's types; it decides the platform (templated).
    :param job_id: the job's id or resource name (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='start_job') }}"``. Empty or ``"None"``: look in XCom.
    :param xcom_task_ids: task id(s) whose XComs hold the job id, when ``job_id`` is not given.
    :param xcom_key: the XCom key to look under; ``"return_value"`` reads what tasks returned.
    :param timeout: seconds the whole callback may take; past it, log and return.
    :param wait_for_cancelled: also wait (within ``timeout``) until the job is terminal; by
        default the callback only makes sure that the cancel was sent.
    """

    template_fields: Sequence[str] = ("conn_id", "job_id")

    def __init__(
        self,
        *,
        conn_id: str,
        job_id: str | None = None,
        xcom_task_ids: str | Sequence[str] | None = None,
        xcom_key: str = TUNING_JOB_ID_XCOM_KEY,
        timeout: Any = 60.0,
        wait_for_cancelled: bool = False,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.job_id = job_id
        self.xcom_task_ids = (xcom_task_ids,) if isinstance(xcom_task_ids, str) else tuple(xcom_task_ids or ())
        self.xcom_key = xcom_key
        self.timeout = seconds(timeout, "timeout")
        self.wait_for_cancelled = wait_for_cancelled

    def __call__(self, *args: Any) -> None:
        """Render and notify on a copy; never raises.

        Rendering replaces the template in place, so the instance Airflow holds would keep the
        first run's job id: one notifier shared by several tasks (``default_args``), or a DAG's
        callback run for several runs by one dag-processor, would cancel the wrong job.
        """
        try:
            BaseNotifier.__call__(copy.copy(self), *args)
        except Exception:
            self.log.exception(
                "Cancel on failure (connection %r, job_id %r): could not render the notifier; nothing was cancelled.",
                self.conn_id,
                self.job_id,
            )

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render; also when ``dag.test()`` hands a DAG callback a DAG that cannot template.

        There the context's ``dag`` is the scheduler's ``SerializedDAG``, which has neither a template
        environment nor ``render_template_as_native_obj`` (apache/airflow#64649, open in 3.1 and 3.3):
        render without it, in a plain sandboxed environment.
        """
        if version_compat.dag_can_template(context.get("dag")):
            super().render_template_fields(context, jinja_env)
            return
        without_dag = cast("Context", {key: value for key, value in context.items() if key != "dag"})
        super().render_template_fields(without_dag, jinja_env or self.get_template_env())

    def notify(self, context: Context) -> None:
        started = time.time()
        try:
            refs = self._find_jobs(context)
        except Exception as exc:
            self._log_error(exc, "on failure: NOT cancelled: could not read the run's XComs to find the job id(s)")
            return
        if not refs:
            self.log.warning("on failure: nothing to cancel: no tuning job id found (%s).", self._looked_at(context))
            return
        try:
            from airflow_ft_provider.hooks.registry import get_hook

            hook = get_hook(self.conn_id)
            hook.prepare()  # reads the connection (and masks its secrets) in this thread
        except Exception as exc:
            ids = ", ".join(ref.job_id for ref in refs)
            self._log_error(exc, f"on failure: NOT cancelled: cannot use connection {self.conn_id!r} · job(s) {ids}")
            return
        job_ids = self._for_platform(refs, hook)
        if job_ids:
            self._cancel(hook, job_ids, deadline=started + self.timeout)

    # -- which jobs -----------------------------------------------------------------------
    def _find_jobs(self, context: Context) -> list[JobRef]:
        refs = list(job_refs(self.job_id, "job_id"))
        if refs:
            return unique(refs)
        dag_id, run_id = context["dag"].dag_id, context["run_id"]
        task_ids, map_index = self._xcom_scope(context)
        for task_id, value in read_xcoms(dag_id, run_id, self.xcom_key, task_ids, map_index):
            found = list(job_refs(value, f"XCom {self.xcom_key!r} of task {task_id!r}"))
            if not found and value is not None:
                self.log.warning(
                    "Cancel on failure: ignored XCom %r of task %r: a %s is neither a job id nor a job record.",
                    self.xcom_key,
                    task_id,
                    type(value).__name__,
                )
            refs.extend(found)
        return unique(refs)

    def _xcom_scope(self, context: Context) -> tuple[Sequence[str], int | None]:
        """The task ids whose XComs to read, and the map index to read (None: all of them)."""
        if self.xcom_task_ids:
            return self.xcom_task_ids, None
        ti = context.get("ti")
        # DAG callbacks get a "reason" (and, on a run without task instances, no "ti").
        if ti is not None and "reason" not in context:
            return (ti.task_id,), ti.map_index
        return tuple(context["dag"].task_ids), None

    def _looked_at(self, context: Context) -> str:
        task_ids, map_index = self._xcom_scope(context)
        where = f"task(s) {', '.join(task_ids)}" + (f" map index {map_index}" if map_index not in (None, -1) else "")
        return f"job_id was {self.job_id!r}; looked under XCom key {self.xcom_key!r} of {where}"

    def _for_platform(self, refs: list[JobRef], hook: TuningJobHook) -> list[str]:
        keep = []
        for ref in refs:
            if ref.platform is not None and ref.platform != hook.platform:
                other = f"connection {self.conn_id!r} is for {hook.platform}"
                skipped = outcome_line("on failure: skipped", ref.platform, ref.job_id, other, f"from {ref.source}")
                self.log.info("%s", skipped)
            else:
                cancelling = outcome_line("on failure: cancelling", hook.platform, ref.job_id, f"from {ref.source}")
                self.log.info("%s", cancelling)
                keep.append(ref.job_id)
        return keep

    # -- cancel ---------------------------------------------------------------------------
    def _cancel(self, hook: TuningJobHook, job_ids: list[str], deadline: float) -> None:
        outcomes = [_Outcome(job_id) for job_id in job_ids]
        worker = threading.Thread(
            target=self._work, args=(hook, outcomes, deadline), name="ft-cancel-on-failure", daemon=True
        )
        worker.start()
        # Every request is bounded by the deadline too: the grace lets the worker report how it ended.
        worker.join(max(0.0, deadline - time.time()) + JOIN_GRACE)
        for outcome in outcomes:
            self._report(hook, outcome)

    def _work(self, hook: TuningJobHook, outcomes: list[_Outcome], deadline: float) -> None:
        """Send every cancel first, then (if asked) wait for each job: stopping the spend comes first."""
        from airflow_ft_provider.flows import PollSchedule, cancel_flow, run_flow, wait_flow

        schedule = PollSchedule(minimum=0.5, maximum=5.0)
        try:
            for outcome in outcomes:
                try:
                    outcome.cancel = run_flow(hook, cancel_flow(outcome.job_id), deadline=deadline)
                except Exception as exc:
                    outcome.error = exc
            for outcome in outcomes:
                if self.wait_for_cancelled and outcome.cancel is not None and not outcome.cancel.after.is_terminal:
                    try:
                        job_id = outcome.cancel.after.job_id
                        flow = wait_flow(job_id, deadline=deadline, schedule=schedule)
                        outcome.wait = run_flow(hook, flow, deadline=deadline)
                    except Exception as exc:
                        outcome.error = exc
        finally:
            hook.close()

    def _report(self, hook: TuningJobHook, outcome: _Outcome) -> None:
        from airflow_ft_provider.flows import WaitStatus
        from airflow_ft_provider.jobs import TuningJobState

        def line(what: str, *details: str | None) -> str:
            return outcome_line(f"on failure: {what}", hook.platform, outcome.job_id, *details)

        cancel, wait = outcome.cancel, outcome.wait
        if cancel is None and outcome.error is not None:
            self._log_error(outcome.error, line("NOT cancelled"))
            return
        if cancel is None:
            self.log.error(
                "%s",
                line(
                    f"NOT cancelled: no answer within timeout={self.timeout:g} s",
                    "the job may still be running: cancel it by hand, or raise the notifier's timeout",
                ),
            )
            return
        waiting = self.wait_for_cancelled and not cancel.after.is_terminal
        self.log.info("%s", line(cancel.summary(confirming=waiting), f"was {cancel.before.state}"))
        if not waiting:
            return
        if outcome.error is not None:
            self._log_error(outcome.error, line("waiting for the end FAILED"))
        elif wait is None:  # the worker is still waiting
            self.log.warning("%s", line(f"not confirmed ended within timeout={self.timeout:g} s"))
        elif wait.status is WaitStatus.REACHED and wait.job is not None:
            ended = wait.job.state
            if ended is TuningJobState.CANCELLED:
                self.log.info("%s", line("CANCELLED (confirmed)"))
            else:
                self.log.warning("%s", line(f"{ended}, not CANCELLED: it finished before the cancel took effect"))
        else:
            self.log.warning("%s", line("not confirmed ended", wait.message))

    def _log_error(self, exc: Exception, what: str) -> None:
        if isinstance(exc, _EXPECTED_ERRORS):
            self.log.error("%s: %s: %s", what, type(exc).__name__, exc)
        else:
            self.log.error("%s: unexpected %s.", what, type(exc).__name__, exc_info=exc)


def cancel_tuning_job_on_failure(
    conn_id: str,
    job_id: str | None = None,
    *,
    xcom_task_ids: str | Sequence[str] | None = None,
    xcom_key: str = TUNING_JOB_ID_XCOM_KEY,
    timeout: float = 60.0,
    wait_for_cancelled: bool = False,
) -> Callable[[Context], None]:
    """An ``on_failure_callback`` function for those who prefer functions to notifier objects.

    Same parameters and behaviour as :class:`CancelTuningJobNotifier`, which it builds once here
    (so a bad argument fails at DAG parse time) and calls on every failure.
    """
    notifier = CancelTuningJobNotifier(
        conn_id=conn_id,
        job_id=job_id,
        xcom_task_ids=xcom_task_ids,
        xcom_key=xcom_key,
        timeout=timeout,
        wait_for_cancelled=wait_for_cancelled,
    )

    def cancel_tuning_job(context: Context) -> None:
        notifier(context)

    return cancel_tuning_job
