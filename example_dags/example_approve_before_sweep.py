"""A bulk cancel a person approves first: a dry run lists the jobs, a person sees them, then the sweep.

1. ``list_jobs``: ``BulkCancelTuningJobsOperator`` with ``dry_run=True`` lists the jobs the filter
   selects and sends nothing.
2. ``approve``: an ``ApprovalOperator`` (Airflow 3.1+) shows them in the UI's "Required actions"
   (or answer through the REST API's ``hitlDetails``). "Reject" skips the sweep.
3. ``sweep``: cancels exactly the jobs that were shown (``job_ids``), never jobs created since, and
   confirms they ended.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param

from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator

LISTED = "ti.xcom_pull(task_ids='list_jobs')"

with DAG(
    dag_id="example_approve_before_sweep",
    schedule=None,
    catchup=False,
    params={
        "conn_id": Param("ft_openai_default", type="string", description="The connection to sweep."),
        "running_longer_than_s": Param(2 * 3600, type="integer", description="Only jobs running longer (seconds)."),
    },
    tags=["fine-tuning", "example"],
) as dag:
    listed = BulkCancelTuningJobsOperator(
        task_id="list_jobs",
        conn_id="{{ params.conn_id }}",
        running_longer_than="{{ params.running_longer_than_s }}",
        dry_run=True,
        max_jobs=500,
    )
    approve = ApprovalOperator(
        task_id="approve",
        subject="Cancel {{ " + LISTED + "['jobs'] | length }} fine-tuning jobs on {{ params.conn_id }}?",
        body=(
            "These jobs match `{{ " + LISTED + "['filter'] }}`. Approve to cancel exactly these; jobs "
            "created since are not touched.\n\n"
            "| job | name | state |\n|---|---|---|\n"
            # Names are the platform's text: shown as code, so none renders as a link or breaks the table.
            "{% for job in " + LISTED + "['jobs'] %}"
            "| `{{ job.job_id }}` | `{{ (job.display_name or '-') | replace('`', \"'\") | replace('|', '/') }}` "
            "| {{ job.state_before }} |\n"
            "{% endfor %}"
        ),
        response_timeout=timedelta(hours=4),
        defaults="Reject",  # nobody answered in time: cancel nothing
    )
    sweep = BulkCancelTuningJobsOperator(
        task_id="sweep",
        conn_id="{{ params.conn_id }}",
        running_longer_than="{{ params.running_longer_than_s }}",
        job_ids="{{ " + LISTED + "['jobs'] | map(attribute='job_id') | join(',') }}",
        max_jobs=500,
        timeout=30 * 60,
    )
    listed >> approve >> sweep
