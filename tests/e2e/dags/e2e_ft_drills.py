"""DAGs for the e2e fault drills (tests/e2e): each takes its connection and job ids as params.

Loaded by the e2e deployment's dag-processor next to the example DAGs. Polling is tuned for
tests (a read every few seconds); everything else is what a user would write.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from airflow_ft_provider.notifications.cancel_job import TUNING_JOB_ID_XCOM_KEY, CancelTuningJobNotifier
from airflow_ft_provider.operators.cancel import CancelTuningJobOperator
from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

FAST_POLLS = {"min_poll_interval": 1.0, "poll_interval": 3.0}


def _params(*names: str) -> dict[str, Param]:
    return {name: Param("", type="string") for name in names}


# Triggerer drill: a deferred wait for a job to succeed. cancel_on_kill is on, so the drill also
# proves that a triggerer crash or restart is not mistaken for a user's kill.
with DAG(
    dag_id="e2e_wait_for_job",
    schedule=None,
    params=_params("conn_id", "job_id"),
    default_args={"retries": 0},
    tags=["e2e"],
):
    TuningJobStateSensor(
        task_id="wait",
        conn_id="{{ params.conn_id }}",
        job_id="{{ params.job_id }}",
        target_states=["SUCCEEDED"],
        deferrable=True,
        cancel_on_kill=True,
        poll_interval=3.0,
        timeout=600,
    )

# Worker drill: cancel and wait on the worker (no deferral), with Airflow retries.
with DAG(
    dag_id="e2e_cancel_on_worker",
    schedule=None,
    params=_params("conn_id", "job_id"),
    tags=["e2e"],
):
    CancelTuningJobOperator(
        task_id="cancel",
        conn_id="{{ params.conn_id }}",
        job_id="{{ params.job_id }}",
        deferrable=False,
        timeout=300,
        retries=2,
        retry_delay=timedelta(seconds=2),
        min_poll_interval=1.0,
        poll_interval=2.0,
    )

# "Mark failed" drill: two deferred waits; only the one with cancel_on_kill may cancel its job.
with DAG(
    dag_id="e2e_mark_failed",
    schedule=None,
    params=_params("conn_id_a", "job_a", "conn_id_b", "job_b"),
    default_args={"retries": 0},
    tags=["e2e"],
):
    TuningJobStateSensor(
        task_id="wait_cancel_on_kill",
        conn_id="{{ params.conn_id_a }}",
        job_id="{{ params.job_a }}",
        deferrable=True,
        cancel_on_kill=True,
        poll_interval=3.0,
        timeout=600,
    )
    TuningJobStateSensor(
        task_id="wait_keep_job",
        conn_id="{{ params.conn_id_b }}",
        job_id="{{ params.job_b }}",
        deferrable=True,
        cancel_on_kill=False,
        poll_interval=3.0,
        timeout=600,
    )


def _start_job(conn_id: str, suffix: str) -> str:
    """Start an OpenAI fine-tuning job the way a training step would (the provider has no 'create')."""
    import httpx
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    response = httpx.post(
        f"{conn.host}/fine_tuning/jobs",
        json={"model": "gpt-4o-mini-2024-07-18", "training_file": "file-e2e", "suffix": suffix},
        headers={"Authorization": f"Bearer {conn.password}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["id"])


# Notifier drill: tasks start a job, record its id, then fail. The task's own callback cancels
# the first job on the worker; the DAG's callback (run by the dag-processor) finds the second.
with DAG(
    dag_id="e2e_on_failure",
    schedule=None,
    params=_params("conn_id"),
    default_args={"retries": 0},
    on_failure_callback=CancelTuningJobNotifier(conn_id="{{ params.conn_id }}", timeout=60),
    tags=["e2e"],
):

    @task(on_failure_callback=CancelTuningJobNotifier(conn_id="{{ params.conn_id }}", timeout=60))
    def train_with_task_callback(params=None, ti=None):  # type: ignore[no-untyped-def]
        job_id = _start_job(params["conn_id"], "task-callback")
        ti.xcom_push(key=TUNING_JOB_ID_XCOM_KEY, value=job_id)
        raise RuntimeError(f"training step failed after starting {job_id}")

    @task
    def train_without_task_callback(params=None, ti=None):  # type: ignore[no-untyped-def]
        job_id = _start_job(params["conn_id"], "dag-callback")
        ti.xcom_push(key=TUNING_JOB_ID_XCOM_KEY, value=job_id)
        raise RuntimeError(f"training step failed after starting {job_id}")

    train_with_task_callback()
    train_without_task_callback()

# Platform-fault drills (429s, 503s, unreachable): a deferred cancel, a cancel on the worker and a
# deferred wait, each with its own deadline (timeout) and Airflow retries for what outlasts the hook's.
with DAG(
    dag_id="e2e_under_faults",
    schedule=None,
    params=_params("conn_id", "job_deferred", "job_worker", "job_watched"),
    default_args={"retries": 3, "retry_delay": timedelta(seconds=3)},
    tags=["e2e"],
):
    CancelTuningJobOperator(
        task_id="cancel_deferred",
        conn_id="{{ params.conn_id }}",
        job_id="{{ params.job_deferred }}",
        deferrable=True,
        timeout=150,
        **FAST_POLLS,
    )
    CancelTuningJobOperator(
        task_id="cancel_on_worker",
        conn_id="{{ params.conn_id }}",
        job_id="{{ params.job_worker }}",
        deferrable=False,
        timeout=150,
        **FAST_POLLS,
    )
    TuningJobStateSensor(
        task_id="watch",
        conn_id="{{ params.conn_id }}",
        job_id="{{ params.job_watched }}",
        target_states=["SUCCEEDED"],
        deferrable=True,
        poll_interval=3.0,
        timeout=150,
    )
