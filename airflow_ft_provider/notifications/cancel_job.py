"""Cancel on failure or on a missed deadline: stop the fine-tuning jobs a DAG run started.

A failed or overdue run must not leave a job spending compute. Use :class:`CancelTuningJobNotifier`
(or :func:`cancel_tuning_job_on_failure`) as ``on_failure_callback`` of a task or DAG, or as a
Deadline Alert's ``AsyncCallback``. It cancels "as a user means it" (read first, cancel only an
active job, tolerate "already cancelling"), is bounded in time, counts every cancel in Airflow's
metrics, and by default never raises: a callback error must not hide what triggered it, so every
problem is logged instead (``on_cancel_failure`` makes a failed cancel fail the callback or call back).

Where it runs: a task's callback in the task process on the worker; a DAG's callback in the
dag-processor (in ``dag.test()``, the test's own process); a Deadline Alert's in the triggerer.
Only Airflow and light modules are imported at module level: DAG files import this at every parse.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.common.compat.sdk import BaseNotifier

from airflow_ft_provider import version_compat
from airflow_ft_provider.arguments import seconds
from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.metrics import failing_before_flow
from airflow_ft_provider.notifications.cancel_failure import (
    CancelFailure,
    CancelOnFailureError,
    OnCancelFailure,
    checked,
    settle,
)
from airflow_ft_provider.notifications.job_refs import (
    TUNING_JOB_ID_XCOM_KEY,
    JobRef,
    job_refs,
    read_xcoms,
    unique,
)
from airflow_ft_provider.notifications.labelled import label_filter, labelled
from airflow_ft_provider.notifications.outcomes import Outcome, log_error, report

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.hooks.base import TuningJobHook

__all__ = [
    "TUNING_JOB_ID_XCOM_KEY",
    "CancelFailure",
    "CancelOnFailureError",
    "CancelTuningJobNotifier",
    "cancel_tuning_job_on_failure",
]


class CancelTuningJobNotifier(BaseNotifier):
    """Cancel the fine-tuning job(s) that a failed task, failed or overdue DAG run started.

    Which jobs: ``job_id`` if it renders to something; else the XComs under ``xcom_key`` of the
    tasks in ``xcom_task_ids``; else, as a task callback, the failed task's own XCom under
    ``xcom_key`` (its map index only), and as a DAG callback, that key in every task of the run.
    An XCom (or a natively rendered ``job_id``) may hold a job id, a job record with ``job_id``
    (what this provider's operators return) or a list of them; every job found is cancelled.
    A job record of another platform than the connection's is skipped. With ``labels``, the
    active jobs of the connection carrying them are cancelled too.

    ``notify`` reads the connection in the calling thread (the channel to Airflow's supervisor is
    not thread-safe on Airflow 3.1), then cancels in a thread joined with ``timeout``.

    :param conn_id: connection of one of the provider's types; it decides the platform (templated).
    :param job_id: the job's id or resource name (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='start_job') }}"``. Empty or ``"None"``: look in XCom.
    :param xcom_task_ids: task id(s) whose XComs hold the job id, when ``job_id`` is not given.
    :param xcom_key: the XCom key to look under; ``"return_value"`` reads what tasks returned.
    :param timeout: seconds the whole callback may take; past it, log and return.
    :param wait_for_cancelled: also wait (within ``timeout``) until the job is terminal; by
        default the callback only makes sure that the cancel was sent.
    :param labels: also cancel every active job of the connection carrying all these labels
        (templated; Vertex AI labels, OpenAI metadata...: the bulk filter's ``labels``), e.g.
        ``{"airflow-run-id": "{{ run_id }}"}``; found by listing the connection's jobs.
    :param on_cancel_failure: when a job could not be cancelled (or the notifier could not find out
        which): ``"log"`` (default) logs and never raises; ``"raise"`` also fails the callback with
        ``CancelOnFailureError``; a callable is called with a ``CancelFailure`` (its errors propagate).
        The ``ft_provider.cancel.failed`` metric counts such cancels whatever the choice.
    :param context: given by Airflow when the notifier is a Deadline Alert's ``AsyncCallback``
        (see :meth:`async_notify`); never set it yourself.
    """

    template_fields: Sequence[str] = ("conn_id", "job_id", "labels")
    #: How the log lines begin: what made the notifier cancel.
    _cause = "on failure"

    def __init__(
        self,
        *,
        conn_id: str,
        job_id: str | None = None,
        xcom_task_ids: str | Sequence[str] | None = None,
        xcom_key: str = TUNING_JOB_ID_XCOM_KEY,
        timeout: Any = 60.0,
        wait_for_cancelled: bool = False,
        labels: dict[str, str] | None = None,
        on_cancel_failure: OnCancelFailure = "log",
        context: Context | None = None,
    ) -> None:
        super().__init__(context)
        self.conn_id = conn_id
        self.job_id = job_id
        self.xcom_task_ids = (xcom_task_ids,) if isinstance(xcom_task_ids, str) else tuple(xcom_task_ids or ())
        self.xcom_key = xcom_key
        self.timeout = seconds(timeout, "timeout")
        self.wait_for_cancelled = wait_for_cancelled
        self.labels = labels
        if labels and "{{" not in repr(labels):
            label_filter(labels)  # a bad literal fails the DAG import, not the callback
        self.on_cancel_failure = checked(on_cancel_failure)
        self._failure: CancelFailure | None = None

    def __call__(self, *args: Any) -> None:
        """Render and notify on a copy; raises only as ``on_cancel_failure`` asks.

        Rendering replaces the template in place, so the instance Airflow holds would keep the
        first run's job id: one notifier shared by several tasks (``default_args``), or a DAG's
        callback run for several runs by one dag-processor, would cancel the wrong job.
        """
        run = copy.copy(self)
        try:
            with failing_before_flow(self.conn_id):
                BaseNotifier.__call__(run, *args)
        except Exception as exc:
            run._render_failed(exc)
        run._settle()

    def _render_failed(self, exc: Exception) -> None:
        what = f"{self._cause}: nothing was cancelled: could not render the notifier"
        self.log.exception("%s (connection %r, job_id %r).", what, self.conn_id, self.job_id)
        self._failed((), f"{what}: {type(exc).__name__}")

    def _failed(self, job_ids: Sequence[str], problem: str) -> None:
        """Note that ``job_ids`` (or, empty, whatever was to be cancelled) could not be cancelled."""
        before = self._failure or CancelFailure(str(self.conn_id), (), ())
        self._failure = CancelFailure(before.conn_id, (*before.job_ids, *job_ids), (*before.problems, problem))

    def _settle(self) -> None:
        """Act on what could not be cancelled (logged already) as ``on_cancel_failure`` says."""
        if self._failure is not None:
            settle(self.on_cancel_failure, self._failure)

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
        deadline = time.time() + self.timeout
        try:
            with failing_before_flow(self.conn_id):
                refs = self._find_jobs(context)
        except Exception as exc:
            what = f"{self._cause}: NOT cancelled: could not read the run's XComs to find the job id(s)"
            self._failed((), log_error(self.log, exc, what))
            if not self.labels:
                return
            refs = []  # the labels may still find them
        if not refs and not self.labels:
            self.log.warning(
                "%s: nothing to cancel: no tuning job id found (%s).", self._cause, self._looked_at(context)
            )
            return
        try:
            from airflow_ft_provider.hooks.registry import get_hook

            with failing_before_flow(self.conn_id, jobs=max(1, len(refs))):
                hook = get_hook(self.conn_id)
                hook.prepare()  # reads the connection (and masks its secrets) in this thread
        except Exception as exc:
            self._unusable(exc, refs)
            return
        if self.labels:
            try:
                refs = self._add_labelled(refs, labelled(hook, self.labels, deadline))
            except Exception as exc:
                log_error(self.log, exc, f"{self._cause}: could not find the jobs labelled {self.labels}")
        from airflow_ft_provider.notifications.cancelling import cancel_in_thread

        outcomes = [Outcome(job_id) for job_id in self._for_platform(refs, hook)]
        cancel_in_thread(hook, outcomes, wait_for_cancelled=self.wait_for_cancelled, deadline=deadline)
        self._report(hook, outcomes)

    def __await__(self) -> Generator[Any, None, None]:
        """Render and notify in the triggerer (a Deadline Alert's ``AsyncCallback``); never raises."""
        from airflow_ft_provider.notifications.missed_deadline import arender_and_notify

        return arender_and_notify(self).__await__()

    async def async_notify(self, context: Context) -> None:
        """Cancel from the triggerer's event loop: the flows of :meth:`notify`, driven async, within ``timeout``.

        A Deadline Alert's context holds the DAG run (``dag_run``) and the deadline, no task and no
        DAG: the jobs are ``job_id``, else those the run's tasks (``xcom_task_ids``, default every
        task) pushed under ``xcom_key``, read through the triggerer's channel to Airflow; and, with
        ``labels``, the active jobs carrying them.
        """
        from airflow_ft_provider.notifications.missed_deadline import anotify

        await anotify(self, context)

    # -- which jobs -----------------------------------------------------------------------
    def _find_jobs(self, context: Context) -> list[JobRef]:
        refs = list(job_refs(self.job_id, "job_id"))
        if refs:
            return unique(refs)
        dag_id, run_id = context["dag"].dag_id, context["run_id"]
        task_ids, map_index = self._xcom_scope(context)
        for task_id, value in read_xcoms(dag_id, run_id, self.xcom_key, task_ids, map_index):
            refs.extend(self._refs_in(task_id, value))
        return unique(refs)

    def _refs_in(self, task_id: str, value: Any) -> list[JobRef]:
        found = list(job_refs(value, f"XCom {self.xcom_key!r} of task {task_id!r}"))
        if not found and value is not None:
            self.log.warning(
                "%s: ignored XCom %r of task %r: a %s is neither a job id nor a job record.",
                self._cause,
                self.xcom_key,
                task_id,
                type(value).__name__,
            )
        return found

    def _add_labelled(self, refs: list[JobRef], found: list[JobRef]) -> list[JobRef]:
        if not found:
            self.log.info(
                "%s: no active job of connection %r carries labels %s.", self._cause, self.conn_id, self.labels
            )
        return unique(refs + found)

    def _unusable(self, exc: Exception, refs: list[JobRef]) -> None:
        ids = [ref.job_id for ref in refs]
        named = ", ".join(ids) or "(jobs by labels)"
        what = f"{self._cause}: NOT cancelled: cannot use connection {self.conn_id!r} · job(s) {named}"
        self._failed(ids, log_error(self.log, exc, what))

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
        return self._looked(where)

    def _looked(self, where: str) -> str:
        return f"job_id was {self.job_id!r}; looked under XCom key {self.xcom_key!r} of {where}"

    def _for_platform(self, refs: list[JobRef], hook: TuningJobHook) -> list[str]:
        keep = []
        for ref in refs:
            if ref.platform is not None and ref.platform != hook.platform:
                other = f"connection {self.conn_id!r} is for {hook.platform}"
                skipped = outcome_line(f"{self._cause}: skipped", ref.platform, ref.job_id, other, f"from {ref.source}")
                self.log.info("%s", skipped)
            else:
                cancelling = outcome_line(f"{self._cause}: cancelling", hook.platform, ref.job_id, f"from {ref.source}")
                self.log.info("%s", cancelling)
                keep.append(ref.job_id)
        return keep

    def _report(self, hook: TuningJobHook, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            problem = report(self.log, self._cause, hook.platform, outcome, self.timeout, self.wait_for_cancelled)
            if problem is not None:
                self._failed([outcome.job_id], problem)


def cancel_tuning_job_on_failure(
    conn_id: str,
    job_id: str | None = None,
    *,
    xcom_task_ids: str | Sequence[str] | None = None,
    xcom_key: str = TUNING_JOB_ID_XCOM_KEY,
    timeout: float = 60.0,
    wait_for_cancelled: bool = False,
    on_cancel_failure: OnCancelFailure = "log",
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
        on_cancel_failure=on_cancel_failure,
    )

    def cancel_tuning_job(context: Context) -> None:
        notifier(context)

    return cancel_tuning_job
