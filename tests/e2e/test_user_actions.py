"""Drills where a person or a failure ends a task: "mark failed" through the API, a failed training task."""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from tests.e2e.deployment import conn_id, wait_for
from tests.e2e.helpers import accepted_cancels, cancels, job_requests, now, reads, seed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_mark_failed_cancels_the_job_of_a_deferred_sensor_with_cancel_on_kill(api, emu):
    """A user marks two deferred sensors failed: only the one with ``cancel_on_kill`` cancels its job."""
    job_a = seed(emu, Platform.DASHSCOPE, display_name="e2e-mark-failed-a", script=JobScript(cancel_s=2.0))
    job_b = seed(emu, Platform.VERTEX_AI, display_name="e2e-mark-failed-b")
    run = api.trigger(
        "e2e_mark_failed",
        {
            "conn_id_a": conn_id(Platform.DASHSCOPE),
            "job_a": job_a,
            "conn_id_b": conn_id(Platform.VERTEX_AI),
            "job_b": job_b,
        },
    )
    for task_id in ("wait_cancel_on_kill", "wait_keep_job"):
        api.wait_task_state("e2e_mark_failed", run, task_id, {"deferred"}, timeout=180)
    # Both triggers are polling in the triggerer.
    wait_for("both jobs to be read by the triggerer", lambda: reads(job_requests(emu, "dashscope", job_a)), 60)
    wait_for("both jobs to be read by the triggerer", lambda: reads(job_requests(emu, "vertex_ai", job_b)), 60)

    marked_at = now()
    api.set_task_state("e2e_mark_failed", run, "wait_cancel_on_kill", "failed")
    api.set_task_state("e2e_mark_failed", run, "wait_keep_job", "failed")

    wait_for(
        "the job of the sensor with cancel_on_kill to be cancelled",
        lambda: emu.job_phase(Platform.DASHSCOPE, job_a) == "cancelled",
        timeout=90,
        diag=lambda: api.explain("e2e_mark_failed", run),
    )
    log_a = job_requests(emu, Platform.DASHSCOPE, job_a)
    assert len(cancels(log_a)) == 1, log_a
    assert len(accepted_cancels(log_a)) == 1, log_a
    assert cancels(log_a)[0].time > marked_at

    # The other trigger stopped too, and never cancelled: the user did not ask for it.
    stopped_at = now()
    wait_for("a quiet period", lambda: now() > stopped_at + 8, 20)
    log_b = job_requests(emu, Platform.VERTEX_AI, job_b)
    assert cancels(log_b) == [], log_b
    assert [r for r in log_b if r.time > stopped_at] == [], "the killed sensor's trigger still polls"
    assert emu.job_phase(Platform.VERTEX_AI, job_b) == "running"

    # Nothing turned green: the run failed with both sensors failed.
    ended = api.wait_run("e2e_mark_failed", run, timeout=60)
    assert ended["state"] == "failed"
    assert api.task_states("e2e_mark_failed", run) == {"wait_cancel_on_kill": "failed", "wait_keep_job": "failed"}


def cancel_sent_line(log: str, job_id: str) -> bool:
    """Whether the notifier logged, outcome first, that it sent the cancel of ``job_id``."""
    return any(
        "on failure: " in line and "cancel sent" in line and f"OpenAI job {job_id} · was RUNNING" in line
        for line in log.splitlines()
    )


def test_on_failure_notifier_cancels_the_job_a_failed_task_started(deployment, api, emu):
    """Tasks start OpenAI jobs and fail: the task's notifier (worker) and the DAG's (dag-processor)
    cancel what they started."""
    run = api.trigger("e2e_on_failure", {"conn_id": conn_id(Platform.OPENAI)})
    ended = api.wait_run("e2e_on_failure", run, timeout=240)
    assert ended["state"] == "failed"
    assert api.task_states("e2e_on_failure", run) == {
        "train_with_task_callback": "failed",
        "train_without_task_callback": "failed",
    }
    job_task_cb = api.xcom("e2e_on_failure", run, "train_with_task_callback", key="tuning_job_id")
    job_dag_cb = api.xcom("e2e_on_failure", run, "train_without_task_callback", key="tuning_job_id")

    for job_id in (job_task_cb, job_dag_cb):
        wait_for(
            f"job {job_id} to be cancelled by an on-failure notifier",
            lambda job_id=job_id: emu.job_phase(Platform.OPENAI, job_id) == "cancelled",
            timeout=120,
            diag=lambda: api.explain("e2e_on_failure", run),
        )
    # The task's own callback did it, on the worker, and said so in the task's log.
    task_log = api.task_log("e2e_on_failure", run, "train_with_task_callback", 1)
    assert cancel_sent_line(task_log, job_task_cb), task_log[-3000:]
    # The other task had no callback: only the DAG's notifier can have cancelled its job, and it
    # ran where Airflow runs DAG callbacks, in the dag-processor.
    log_dag_cb = job_requests(emu, Platform.OPENAI, job_dag_cb)
    assert len(accepted_cancels(log_dag_cb)) == 1, log_dag_cb
    processor_logs = "".join(
        path.read_text(errors="replace")
        for path in (deployment.home / "logs" / "dag_processor").rglob("e2e_ft_drills.py.log")
    )
    assert cancel_sent_line(processor_logs, job_dag_cb)
    # Two notifiers saw the first job; the platform accepted one cancel (a second notifier finds it
    # ended and sends nothing, or, if the two raced, is refused and re-reads it).
    log_task_cb = job_requests(emu, Platform.OPENAI, job_task_cb)
    assert len(accepted_cancels(log_task_cb)) == 1, log_task_cb
