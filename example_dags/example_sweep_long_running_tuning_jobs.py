"""Every hour, cancel fine-tuning jobs that have been running for more than two hours.

One mapped task per configured platform connection; each lists the connection's jobs once,
cancels the matches concurrently (respecting the platform's rate limits) and confirms they
ended. The connection ids come from the ``conn_ids`` param, so the same DAG sweeps whatever
platforms a deployment has. Set ``dry_run=True`` on the operator to list what would be
cancelled without sending anything.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator

with DAG(
    dag_id="example_sweep_long_running_tuning_jobs",
    schedule="@hourly",
    catchup=False,
    max_active_runs=1,
    params={
        "conn_ids": Param(
            ["ft_vertex_ai_default", "ft_dashscope_default", "ft_together_default", "ft_openai_default"],
            type="array",
            description="Connections to sweep (the Gemini API cannot cancel tuning, so it is not listed).",
        ),
    },
    tags=["fine-tuning", "example"],
) as dag:

    @task
    def connections_to_sweep(params: dict | None = None) -> list[str]:
        return list((params or {})["conn_ids"])

    BulkCancelTuningJobsOperator.partial(
        task_id="cancel_jobs_running_over_2h",
        states=["QUEUED", "PENDING", "RUNNING"],
        running_longer_than=timedelta(hours=2),
        max_jobs=500,  # a filter gone wrong must not cancel a whole account
        timeout=30 * 60,
    ).expand(conn_id=connections_to_sweep())
