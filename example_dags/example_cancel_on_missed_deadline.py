"""Cancel the run's fine-tuning job when the run misses its deadline (Airflow Deadline Alerts).

``start_tuning_job`` creates an OpenAI fine-tuning job (any OpenAI-compatible host, e.g. the
provider's emulator) and pushes its id; the deferred sensor waits for it to succeed. If the run is
still going 6 hours after it was queued, Airflow fires the DAG's Deadline Alert: its callback, this
provider's notifier as an ``AsyncCallback``, runs in the triggerer, reads the job id the run pushed,
cancels the job and waits until the platform confirms it ended. Nothing else would stop it: no
task failed, and the sensor only watches (``cancel_on_kill=False``).

Deadline Alerts are experimental in Airflow 3.1 to 3.3 and need a running triggerer.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from airflow.sdk import DAG, BaseHook, task
from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

from airflow_ft_provider.notifications.cancel_job import TUNING_JOB_ID_XCOM_KEY, CancelTuningJobNotifier
from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

CONN_ID = "ft_openai_default"

with DAG(
    dag_id="example_cancel_on_missed_deadline",
    schedule=None,
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=6),
        # Airflow imports the class in the triggerer and awaits it with these arguments (no Jinja
        # from Airflow; the notifier renders its own fields with the run's data).
        callback=AsyncCallback(
            CancelTuningJobNotifier,
            kwargs={
                "conn_id": CONN_ID,
                "xcom_task_ids": ["start_tuning_job"],  # read only the task that starts jobs
                "timeout": 120,
                "wait_for_cancelled": True,
            },
        ),
    ),
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
        ti.xcom_push(key=TUNING_JOB_ID_XCOM_KEY, value=job_id)  # where the alert's callback looks for it
        return job_id

    start_tuning_job() >> TuningJobStateSensor(
        task_id="wait_for_tuning",
        conn_id=CONN_ID,
        job_id="{{ ti.xcom_pull(task_ids='start_tuning_job', key='" + TUNING_JOB_ID_XCOM_KEY + "') }}",
        target_states=["SUCCEEDED"],
        deferrable=True,
        cancel_on_kill=False,  # it watches; the deadline decides when the job must stop
        timeout=24 * 60 * 60,
    )
