"""Drills where Airflow's own processes die: the triggerer and a Celery worker, SIGKILLed mid-wait.

Jobs in these drills run until the drill ends them (their native state is pinned to an end once
the waits are shown to have resumed), so no timing of the machine can make a wait end before the
kill or after the assertions.
"""

from __future__ import annotations

import os
import time

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from tests.e2e.deployment import conn_id, wait_for
from tests.e2e.helpers import (
    NATIVE_CANCELLED,
    NATIVE_SUCCEEDED,
    accepted_cancels,
    assert_no_job_left_running,
    cancels,
    job_requests,
    now,
    reads,
    seed,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SENSOR_DAG, CANCEL_DAG, WORKER_DAG = "e2e_wait_for_job", "example_cancel_tuning_job", "e2e_cancel_on_worker"
FOREVER = 3600.0  # a cancel that takes longer than any drill: only the drill's pin ends it


def test_triggerer_killed_while_sensors_are_deferred(deployment, api, emu):
    """SIGKILL the triggerer with a deferred wait per platform (5 sensors with cancel_on_kill, 2
    cancels awaiting confirmation), start it again: every wait resumes in the new triggerer. Then
    stop that one with SIGTERM and start another: the waits resume again, and complete. No job is
    cancelled by the crash or the restarts."""
    sensor_jobs = {p: seed(emu, p, display_name=f"e2e-trig-sensor-{p.value}") for p in Platform}
    cancel_jobs = {
        p: seed(emu, p, display_name=f"e2e-trig-cancel-{p.value}", script=JobScript(cancel_s=FOREVER))
        for p in (Platform.TOGETHER, Platform.VERTEX_AI)
    }
    sensor_runs = {p: api.trigger(SENSOR_DAG, {"conn_id": conn_id(p), "job_id": j}) for p, j in sensor_jobs.items()}
    cancel_runs = {p: api.trigger(CANCEL_DAG, {"conn_id": conn_id(p), "job_id": j}) for p, j in cancel_jobs.items()}
    all_jobs = [*sensor_jobs.items(), *cancel_jobs.items()]

    for run in sensor_runs.values():
        api.wait_task_state(SENSOR_DAG, run, "wait", {"deferred"}, timeout=240)
    for run in cancel_runs.values():
        api.wait_task_state(CANCEL_DAG, run, "cancel_and_confirm", {"deferred"}, timeout=240)
    deferred_at = now()
    # Every trigger is running: each job gets read after all tasks deferred.
    for platform, job_id in all_jobs:
        wait_for(
            f"the triggerer to poll {platform} job {job_id}",
            lambda p=platform, j=job_id: [r for r in reads(job_requests(emu, p, j)) if r.time > deferred_at],
            timeout=60,
        )

    triggerer = deployment.processes["triggerer"]
    old_pid, tree = triggerer.pid, triggerer.tree()
    killed_at = now()
    triggerer.kill()
    assert not triggerer.alive and triggerer.living(tree) == []
    time.sleep(5)
    # The waits lived only in the dead triggerer: nobody polls now.
    silent_from = killed_at + 1.0
    polled = [r for p, j in all_jobs for r in job_requests(emu, p, j) if r.time > silent_from]
    assert polled == [], polled

    restarted_at = now()
    deployment.restart("triggerer")
    assert triggerer.pid != old_pid
    for platform, job_id in all_jobs:
        wait_for(
            f"the new triggerer to resume polling {platform} job {job_id}",
            lambda p=platform, j=job_id: [r for r in reads(job_requests(emu, p, j)) if r.time > restarted_at],
            timeout=180,
            diag=deployment.diagnostics,
        )
    resumed_at = now()
    # Still deferred: a restart is not an end.
    for run in sensor_runs.values():
        assert api.task_instance(SENSOR_DAG, run, "wait")["state"] == "deferred"

    # Then an orderly restart (SIGTERM, as in a deploy): the triggerer cancels its trigger tasks on
    # the way out, which must not be taken for a user's kill either (no cancel from cleanup/on_kill).
    second_pid = triggerer.pid
    assert triggerer.stop(), "the triggerer did not stop on SIGTERM within its grace period"
    restarted_again_at = now()
    deployment.restart("triggerer")
    for platform, job_id in all_jobs:
        wait_for(
            f"the third triggerer to resume polling {platform} job {job_id}",
            lambda p=platform, j=job_id: [r for r in reads(job_requests(emu, p, j)) if r.time > restarted_again_at],
            timeout=180,
            diag=deployment.diagnostics,
        )
    resumed_again_at = now()
    for run in sensor_runs.values():
        assert api.task_instance(SENSOR_DAG, run, "wait")["state"] == "deferred"

    for platform, job_id in sensor_jobs.items():
        emu.set_native_state(platform, job_id, NATIVE_SUCCEEDED[platform])
    for platform, job_id in cancel_jobs.items():
        emu.set_native_state(platform, job_id, NATIVE_CANCELLED[platform])

    for platform, run in sensor_runs.items():
        ended = api.wait_run(SENSOR_DAG, run, timeout=180)
        assert ended["state"] == "success", api.explain(SENSOR_DAG, run)
        ti = api.task_instance(SENSOR_DAG, run, "wait")
        assert ti["try_number"] == 1  # resumed, not retried
        record = api.xcom(SENSOR_DAG, run, "wait")
        assert (record["job_id"], record["state"]) == (sensor_jobs[platform], "SUCCEEDED")
        # cancel_on_kill is on, yet neither the crash nor the restarts cancelled anything.
        assert cancels(job_requests(emu, platform, sensor_jobs[platform])) == []
    for platform, run in cancel_runs.items():
        ended = api.wait_run(CANCEL_DAG, run, timeout=180)
        assert ended["state"] == "success", api.explain(CANCEL_DAG, run)
        assert api.task_instance(CANCEL_DAG, run, "cancel_and_confirm")["try_number"] == 1
        assert api.xcom(CANCEL_DAG, run, "cancel_and_confirm")["state"] == "CANCELLED"
        assert len(cancels(job_requests(emu, platform, cancel_jobs[platform]))) == 1
    assert_no_job_left_running(emu, all_jobs)
    print(
        f"\ntriggerer drill: SIGKILLed pid {old_pid}; pid {second_pid} polled every job "
        f"{resumed_at - restarted_at:.0f} s after its start; SIGTERMed it; pid {triggerer.pid} polled every job "
        f"{resumed_again_at - restarted_again_at:.0f} s after its start"
    )


def test_worker_killed_during_a_synchronous_wait(deployment, api, emu):
    """SIGKILL the Celery worker (its whole process group: pool, supervisors, task processes) while
    two cancels wait on it. The scheduler notices the lost heartbeats, retries, a new worker runs the
    retry: it re-reads the job, does not cancel again where the platform shows the cancel under way
    (Together), cancels again harmlessly where the platform does not show it (OpenAI), and completes."""
    visible = seed(emu, Platform.TOGETHER, display_name="e2e-worker-visible", script=JobScript(cancel_s=FOREVER))
    # OpenAI has no cancelling state; in a lost race the job reads "running" until it ends.
    invisible = seed(
        emu,
        Platform.OPENAI,
        display_name="e2e-worker-invisible",
        script=JobScript(cancel_s=FOREVER, cancel_outcome="succeeded"),
    )
    jobs = {Platform.TOGETHER: visible, Platform.OPENAI: invisible}
    runs = {p: api.trigger(WORKER_DAG, {"conn_id": conn_id(p), "job_id": j}) for p, j in jobs.items()}
    for platform, job_id in jobs.items():
        # Cancel sent and the wait on the worker under way (a read after the cancel).
        def waiting(p: Platform = platform, j: str = job_id) -> bool:
            log = job_requests(emu, p, j)
            sent = accepted_cancels(log)
            return bool(sent) and any(r.time > sent[0].time for r in reads(log))

        wait_for(f"the {platform} wait on the worker", waiting, timeout=240, diag=deployment.diagnostics)
    for run in runs.values():
        assert api.task_instance(WORKER_DAG, run, "cancel")["state"] == "running"

    worker = deployment.processes["worker"]
    old_pid, tree = worker.pid, worker.tree()
    # The worker and its pool in one process group, each task process in a group of its own.
    groups = {os.getpgid(pid) for pid in worker.living(tree)}
    assert len(groups) >= 3, (tree, groups)
    killed_at = now()
    worker.kill()
    assert worker.living(tree) == []
    deployment.restart("worker")
    deployment.wait_worker_ready()

    for platform, run in runs.items():
        wait_for(
            f"the retry of the {platform} cancel to run",
            lambda r=run: (
                api.task_instance(WORKER_DAG, r, "cancel")["try_number"] == 2
                and api.task_instance(WORKER_DAG, r, "cancel")["state"] == "running"
            ),
            timeout=180,
            interval=1.0,
            diag=lambda r=run: api.explain(WORKER_DAG, r),
        )
    for platform, job_id in jobs.items():
        wait_for(
            f"the retry to read the {platform} job",
            lambda p=platform, j=job_id: len(reads([r for r in job_requests(emu, p, j) if r.time > killed_at])) >= 2,
            timeout=60,
        )
    retried_at = now()
    emu.set_native_state(Platform.TOGETHER, visible, NATIVE_CANCELLED[Platform.TOGETHER])
    emu.set_native_state(Platform.OPENAI, invisible, NATIVE_CANCELLED[Platform.OPENAI])

    for run in runs.values():
        ended = api.wait_run(WORKER_DAG, run, timeout=120)
        assert ended["state"] == "success", api.explain(WORKER_DAG, run)
        ti = api.task_instance(WORKER_DAG, run, "cancel")
        assert ti["try_number"] == 2
        assert api.xcom(WORKER_DAG, run, "cancel")["state"] == "CANCELLED"
    # Together showed "cancel_requested": the retry sent nothing more.
    log_visible = job_requests(emu, Platform.TOGETHER, visible)
    assert len(cancels(log_visible)) == 1, log_visible
    # OpenAI showed "running": the retry cancelled again, and the platform took it as a no-op.
    log_invisible = job_requests(emu, Platform.OPENAI, invisible)
    assert len(cancels(log_invisible)) == 2, log_invisible
    assert len(accepted_cancels(log_invisible)) == 2, log_invisible
    assert cancels(log_invisible)[1].time > killed_at
    assert_no_job_left_running(emu, jobs.items())
    print(
        f"\nworker drill: killed pid {old_pid} and its {len(tree) - 1} descendants ({len(groups)} process groups); "
        f"new pid {worker.pid}; "
        f"retries re-read the jobs {retried_at - killed_at:.0f} s after the kill"
    )
