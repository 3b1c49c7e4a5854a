"""Start a fine-tuning job, watch it, and cancel it when a downstream check fails.

``start_tuning_job`` creates an OpenAI fine-tuning job (any OpenAI-compatible host, e.g. the
provider's emulator) and pushes its id. The deferred sensor waits, without holding a worker
slot, until training is really running (and fails at once if the job fails to start).
``check_first_checkpoint`` then fails, as a real evaluation gate would; its on-failure
notifier cancels the job so it stops spending, and confirms it ended.
"""

from __future__ import annotations

import httpx
from airflow.sdk import DAG, BaseHook, task

from airflow_ft_provider.notifications.cancel_job import TUNING_JOB_ID_XCOM_KEY, CancelTuningJobNotifier
from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

CONN_ID = "ft_openai_default"
JOB_ID = "{{ ti.xcom_pull(task_ids='start_tuning_job', key='" + TUNING_JOB_ID_XCOM_KEY + "') }}"

with DAG(
    dag_id="example_tuning_pipeline_with_cleanup",
    schedule=None,
    tags=["fine-tuning", "example"],
) as dag:

    @task
    def start_tuning_job(ti=None) -> str:
        """Create the job with the same connection the provider uses (the openai SDK would do too)."""
        conn = BaseHook.get_connection(CONN_ID)
        response = httpx.post(
            f"{(conn.host or 'https://api.openai.com/v1').rstrip('/')}/fine_tuning/jobs",
            headers={"Authorization": f"Bearer {conn.password}"},
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": "file-demo-train", "suffix": "nightly"},
            timeout=30,
        )
        response.raise_for_status()
        job_id = response.json()["id"]
        ti.xcom_push(key=TUNING_JOB_ID_XCOM_KEY, value=job_id)  # where the notifier looks for it
        return job_id

    wait_until_running = TuningJobStateSensor(
        task_id="wait_until_running",
        conn_id=CONN_ID,
        job_id=JOB_ID,
        target_states=["RUNNING"],  # any terminal state (the job died first) fails the task
        deferrable=True,
        cancel_on_kill=True,  # a user killing this task also stops the job
        timeout=60 * 60,
    )

    @task(
        on_failure_callback=CancelTuningJobNotifier(conn_id=CONN_ID, job_id=JOB_ID, wait_for_cancelled=True),
    )
    def check_first_checkpoint() -> None:
        raise ValueError("Evaluation gate failed: loss on the held-out set rose 3 checkpoints in a row.")

    start_tuning_job() >> wait_until_running >> check_first_checkpoint()
