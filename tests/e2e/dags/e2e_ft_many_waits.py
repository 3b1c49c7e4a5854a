"""DAG for the e2e triggerer drills at scale (tests/e2e/test_triggerer_drills.py): one deferred wait
per job id given, all on one connection, each with ``cancel_on_kill`` (a triggerer crash, restart
or hand-over must never be taken for a user's kill)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

with DAG(
    dag_id="e2e_many_waits",
    schedule=None,
    params={"conn_id": Param("", type="string"), "job_ids": Param([], type="array")},
    default_args={"retries": 0},
    # Every wait defers at once: the DAG's own limit must not hold some of them back.
    max_active_tasks=1024,
    tags=["e2e"],
):

    @task
    def job_ids(params: dict[str, Any] | None = None) -> list[str]:
        return list((params or {})["job_ids"])

    TuningJobStateSensor.partial(
        task_id="wait",
        conn_id="{{ params.conn_id }}",
        target_states=["SUCCEEDED"],
        deferrable=True,
        cancel_on_kill=True,
        poll_interval=10.0,
        timeout=900,
    ).expand(job_id=job_ids())
