"""Every hour, list (and, once you go live, cancel) fine-tuning jobs running for over two hours.

One mapped task per configured platform connection; each lists the connection's jobs once,
cancels the matches concurrently (respecting the platform's rate limits) and confirms they
ended. The connection ids come from the ``conn_ids`` param, so the same DAG sweeps whatever
platforms a deployment has.

Safe to copy: the ``dry_run`` param defaults to true, so a run lists what it would cancel (in the
task log and its XCom) and sends nothing. To go live, read a dry run's list first, then trigger
a run with the conf ``{"dry_run": false}``, or set the param's default to ``False`` for the
scheduled runs.
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
        # Going live: False here (scheduled runs take the defaults), or {"dry_run": false} in a run's conf.
        "dry_run": Param(
            True,
            type="boolean",
            description="List the jobs that would be cancelled and send nothing. Set to false to cancel them.",
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
        dry_run="{{ params.dry_run }}",
        timeout=30 * 60,
    ).expand(conn_id=connections_to_sweep())
