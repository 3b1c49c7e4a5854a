"""The notifier in the triggerer: a Deadline Alert's ``AsyncCallback`` cancels the run's jobs.

Airflow imports the callback's path in the triggerer and awaits ``path(**kwargs, context=context)``;
for :class:`~airflow_ft_provider.notifications.cancel_job.CancelTuningJobNotifier` that builds a
notifier and awaits it. The context holds the DAG run as Airflow's API shows it (``dag_run``) and
the deadline; no task, no DAG, no XCom. Everything here runs on the triggerer's event loop: the
run's XComs are read over its channel to Airflow's API, the jobs through the hook's coroutines.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

from airflow_ft_provider.metrics import failing_before_flow
from airflow_ft_provider.notifications.cancelling import acancel
from airflow_ft_provider.notifications.job_refs import JobRef, aread_run_xcoms, job_refs, unique
from airflow_ft_provider.notifications.labelled import alabelled
from airflow_ft_provider.notifications.outcomes import Outcome, log_error

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.notifications.cancel_job import CancelTuningJobNotifier

CAUSE = "on missed deadline"


async def arender_and_notify(notifier: CancelTuningJobNotifier) -> None:
    """What awaiting the notifier does: render its fields with the callback's context, then notify.

    Airflow builds a new notifier for every callback, so rendering in place is safe here.
    """
    notifier._cause = CAUSE
    try:
        notifier._update_context(notifier.context)
        notifier.render_template_fields(notifier.context)
    except Exception as exc:
        notifier._render_failed(exc)
    else:
        await notifier.async_notify(notifier.context)
    notifier._settle()


async def anotify(notifier: CancelTuningJobNotifier, context: Context) -> None:
    """Find the jobs, cancel them (and wait, if asked) within the notifier's ``timeout``; never raises
    (what could not be cancelled is left for ``on_cancel_failure``)."""
    notifier._cause = CAUSE
    deadline = time.time() + notifier.timeout
    run = cast("dict[str, Any]", context.get("dag_run") or {})  # the DAG run as Airflow's API shows it
    dag_id, run_id = run.get("dag_id"), run.get("dag_run_id") or run.get("run_id")
    try:
        with failing_before_flow(notifier.conn_id):
            async with asyncio.timeout(notifier.timeout):
                refs = await _afind_jobs(notifier, dag_id, run_id)
    except Exception as exc:
        what = f"{CAUSE}: NOT cancelled: could not read the XComs of run {run_id!r} to find the job id(s)"
        notifier._failed((), log_error(notifier.log, exc, what))
        if not notifier.labels:
            return
        refs = []  # the labels may still find them
    if not refs and not notifier.labels:
        where = f"task(s) {', '.join(notifier.xcom_task_ids) or '(every one)'} of run {run_id!r}"
        notifier.log.warning("%s: nothing to cancel: no tuning job id found (%s).", CAUSE, notifier._looked(where))
        return
    try:
        from airflow_ft_provider.hooks.registry import get_hook

        with failing_before_flow(notifier.conn_id, jobs=max(1, len(refs))):
            hook = get_hook(notifier.conn_id)
            async with asyncio.timeout(max(0.0, deadline - time.time())):
                await hook.aprepare()
    except Exception as exc:
        notifier._unusable(exc, refs)
        return
    if notifier.labels:
        try:
            refs = notifier._add_labelled(refs, await alabelled(hook, notifier.labels, deadline))
        except Exception as exc:
            log_error(notifier.log, exc, f"{CAUSE}: could not find the jobs labelled {notifier.labels}")
    outcomes = [Outcome(job_id) for job_id in notifier._for_platform(refs, hook)]
    await acancel(hook, outcomes, wait_for_cancelled=notifier.wait_for_cancelled, deadline=deadline)
    notifier._report(hook, outcomes)


async def _afind_jobs(notifier: CancelTuningJobNotifier, dag_id: str | None, run_id: str | None) -> list[JobRef]:
    refs = list(job_refs(notifier.job_id, "job_id"))
    if refs:
        return unique(refs)
    if not dag_id or not run_id:
        raise ValueError("the callback's context names no DAG run; give the notifier a job_id")
    for task_id, value in await aread_run_xcoms(dag_id, run_id, notifier.xcom_key, notifier.xcom_task_ids):
        refs.extend(notifier._refs_in(task_id, value))
    return unique(refs)
