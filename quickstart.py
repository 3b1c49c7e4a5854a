"""quickstart.py: cancel a running job on the OpenAI emulator through a real Airflow DAG run."""

import json
import os

from airflow.sdk import DAG

from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

with DAG("quickstart", schedule=None, params={"job_id": ""}) as dag:
    CancelTuningJobOperator(task_id="cancel", conn_id="ft_openai_default", job_id="{{ params.job_id }}")

if __name__ == "__main__":
    from airflow_ft_provider.testing import Emulator, JobScript, airflow_connection, run_dag_file

    with Emulator() as emu:  # a real HTTP server on 127.0.0.1 speaking OpenAI's API
        os.environ["AIRFLOW_CONN_FT_OPENAI_DEFAULT"] = json.dumps(airflow_connection(emu, "openai"))
        job_id = emu.seed("openai", script=JobScript(running_s=None, cancel_s=2.0))
        result = run_dag_file(__file__, conf={"job_id": job_id})
        outcome = result.xcom("cancel")
        print(f"{job_id}: {outcome['state_before']} -> {outcome['action']} -> {outcome['state']}")
        assert outcome["state"] == "CANCELLED" and emu.job_state("openai", job_id) == "cancelled"
