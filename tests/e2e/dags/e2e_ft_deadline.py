"""DAG for the e2e deadline drill: a run that overruns its Deadline Alert gets its job cancelled.

The alert's callback is the provider's notifier as an ``AsyncCallback``: it runs in the triggerer,
finds the job id the run's training task pushed to XCom, cancels the job and waits until the
platform confirms it cancelled. Its connection comes from the run's conf (the notifier renders
its templated fields with the callback's context, which holds the DAG run).
"""

from __future__ import annotations

import time
from datetime import timedelta

from airflow.sdk import DAG, Param, task
from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

from airflow_ft_provider.notifications.cancel_job import TUNING_JOB_ID_XCOM_KEY, CancelTuningJobNotifier

with DAG(
    dag_id="e2e_missed_deadline",
    schedule=None,
    params={"conn_id": Param("", type="string"), "job_id": Param("", type="string")},
    default_args={"retries": 0},
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=30),
        callback=AsyncCallback(
            CancelTuningJobNotifier,
            kwargs={"conn_id": "{{ dag_run.conf.conn_id }}", "timeout": 90, "wait_for_cancelled": True},
        ),
    ),
    tags=["e2e"],
):

    @task
    def start_training(params=None, ti=None):  # type: ignore[no-untyped-def]
        """Stands for the step that starts a job: records its id where the notifier looks."""
        ti.xcom_push(key=TUNING_JOB_ID_XCOM_KEY, value=params["job_id"])

    @task
    def wait_for_training() -> None:
        """Overrun the deadline: the run is still going when the alert fires."""
        time.sleep(75)

    start_training() >> wait_for_training()
