"""Cancel one fine-tuning job given as a DAG param, and confirm it ended (deferred wait).

Trigger it with a config such as ``{"conn_id": "ft_openai_default", "job_id": "ftjob-abc123"}``;
the connection's type decides the platform.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

with DAG(
    dag_id="example_cancel_tuning_job",
    schedule=None,
    params={
        "conn_id": Param("ft_openai_default", type="string", description="Connection of the job's platform"),
        "job_id": Param("", type="string", description="Job id or resource name"),
    },
    tags=["fine-tuning", "example"],
) as dag:
    CancelTuningJobOperator(
        task_id="cancel_and_confirm",
        conn_id="{{ params.conn_id }}",
        job_id="{{ params.job_id }}",
        deferrable=True,  # the wait for the platform's confirmation takes no worker slot
        timeout=15 * 60,
        if_ended="succeed",  # an already-finished job is fine: nothing is spending
        min_poll_interval=1.0,
    )
