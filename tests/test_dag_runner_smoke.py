from tests.dag_runner import run_dag


def test_harness_runs_a_dag_and_reads_xcom():
    result = run_dag(
        "harness_smoke",
        """
        from airflow.sdk import DAG, task

        with DAG("harness_smoke", schedule=None) as dag:
            @task
            def answer():
                return {"n": 42}

            answer()
        """,
    )
    assert result.state == "success"
    assert result.task_states == {"answer": "success"}
    assert result.xcom("answer") == {"n": 42}
