"""Every ten minutes, find fine-tuning jobs whose Airflow run is over and (once you say so) cancel them.

A job is a candidate only if the task that created it labelled it with
``airflow_ft_provider.run_labels.run_labels`` (Vertex AI labels, OpenAI and Azure OpenAI metadata).
The reaper asks Airflow whether each job's DAG run still runs: jobs of failed, succeeded, marked or
deleted runs are orphans; jobs of DAGs this Airflow has no runs of are left alone. It is a dry run
as shipped: the log and XCom list what it would cancel. Set ``dry_run=False`` once they show what
you expect.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from airflow_ft_provider.operators.reaper import ReapOrphanedTuningJobsOperator

with DAG(
    dag_id="example_reap_orphaned_tuning_jobs",
    schedule=timedelta(minutes=10),
    catchup=False,
    max_active_runs=1,
    params={
        "conn_ids": Param(
            ["ft_vertex_ai_default", "ft_openai_default"],
            type="array",
            description="Connections whose labelled jobs to judge (platforms whose listings show labels).",
        ),
    },
    tags=["fine-tuning", "example"],
) as dag:

    @task
    def connections_to_reap(params: dict | None = None) -> list[str]:
        return list((params or {})["conn_ids"])

    ReapOrphanedTuningJobsOperator.partial(
        task_id="reap_orphaned_jobs",
        dry_run=True,  # safe to copy: lists and judges, cancels nothing
        scope="run",  # a job lives as long as its DAG run ("task": as long as the task that created it)
        max_jobs=200,
        timeout=5 * 60,
    ).expand(conn_id=connections_to_reap())
