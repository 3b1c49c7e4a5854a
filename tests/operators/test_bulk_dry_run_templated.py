"""``dry_run`` of BulkCancelTuningJobsOperator comes from a run's conf through a template, read strictly."""

from __future__ import annotations

import pytest

from airflow_ft_provider.arguments import flag
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for

PLATFORM = Platform.OPENAI


def dag_source(dag_id: str, param: str) -> str:
    return f"""
    from airflow.sdk import DAG, Param
    from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}, params={{"dry_run": {param}}}) as dag:
        BulkCancelTuningJobsOperator(
            task_id="cancel",
            conn_id={conn_id_for(PLATFORM)!r},
            dry_run="{{{{ params.dry_run }}}}",
            min_poll_interval=0.2,
            poll_interval=0.5,
            timeout=30,
        )
    """


def cancels(emu) -> list:
    return [r for r in emu.requests(PLATFORM) if r.is_cancel]


@pytest.mark.parametrize(("conf", "dry"), [(None, True), ({"dry_run": True}, True), ({"dry_run": False}, False)])
def test_dry_run_from_the_runs_conf(emu, connections, conf, dry):
    """The param's default (True) holds unless the run's conf says otherwise."""
    jobs = emu.seed_many(PLATFORM, 2, script=JobScript(running_s=None, cancel_s=0.2))
    result = run_dag_source("bulk_dry_conf", dag_source("bulk_dry_conf", 'Param(True, type="boolean")'), conf=conf)
    assert result.task_states == {"cancel": "success"}
    xcom = result.xcom("cancel")
    assert xcom["dry_run"] is dry
    if dry:
        assert xcom["counts"]["dry_run"] == 2 and cancels(emu) == []
        assert all(emu.job_phase(PLATFORM, j) == "running" for j in jobs)
    else:
        assert xcom["counts"]["cancel_sent"] == 2 and len(cancels(emu)) == 2


@pytest.mark.parametrize("rendered", ["maybe", "", "0", "yes"])
def test_a_value_neither_true_nor_false_fails_before_anything_is_sent(emu, connections, capfd, rendered):
    emu.seed_many(PLATFORM, 2, script=JobScript(running_s=None))
    result = run_dag_source("bulk_dry_bad", dag_source("bulk_dry_bad", '"true"'), conf={"dry_run": rendered})
    assert result.task_states == {"cancel": "failed"}
    assert emu.requests(PLATFORM) == []  # refused before the listing
    out, err = capfd.readouterr()  # the task log, as dag.test() prints it
    assert f"dry_run={rendered!r} is neither true nor false" in out + err


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), ("True", True), ("false", False), (" FALSE\n", False)]
)
def test_flag_reads_bools_and_what_templates_render_for_them(value, expected):
    assert flag(value, "dry_run") is expected


def test_a_literal_that_is_no_flag_fails_the_dag_import():
    with pytest.raises(ValueError, match=r"dry_run='no' is neither true nor false: pass a bool"):
        BulkCancelTuningJobsOperator(task_id="t", conn_id="c", dry_run="no")


def test_dry_run_is_a_template_field():
    assert "is_dry_run" in BulkCancelTuningJobsOperator.template_fields
