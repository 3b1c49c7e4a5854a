import pytest

from airflow_ft_provider.testing.dags import dags_folder, run_dag_file, run_dag_source


def test_harness_runs_a_dag_and_reads_xcom():
    result = run_dag_source(
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


TWO_DAGS = """
from airflow.sdk import DAG, task

with DAG("first_of_two", schedule=None) as first:
    @task
    def one():
        return 1

    one()

with DAG("second_of_two", schedule=None) as second:
    @task
    def two():
        return 2

    two()
"""


def test_a_dag_file_outside_the_dags_folder_is_copied_in_and_run(tmp_path):
    path = tmp_path / "elsewhere_two_dags.py"
    path.write_text(TWO_DAGS)
    result = run_dag_file(path, dag_id="second_of_two")
    assert (result.state, result.xcom("two")) == ("success", 2)
    assert (dags_folder() / path.name).read_text() == TWO_DAGS


def test_a_file_with_several_dags_needs_dag_id(tmp_path):
    path = tmp_path / "ambiguous_two_dags.py"
    path.write_text(TWO_DAGS)
    with pytest.raises(ValueError, match=r"defines 2 DAGs \(\['first_of_two', 'second_of_two'\]\): pass dag_id="):
        run_dag_file(path)
    with pytest.raises(ValueError, match="defines no DAG 'third'"):
        run_dag_file(path, dag_id="third")
