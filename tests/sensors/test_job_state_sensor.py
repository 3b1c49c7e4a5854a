"""TuningJobStateSensor: poke, reschedule and deferrable modes end the same way (real dag.test())."""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for

MODES = ["poke", "reschedule", "deferrable"]


def sensor_dag(dag_id: str, platform: Platform, job_id: str, mode: str, **params: object) -> str:
    mode_args = "deferrable=True, poll_interval=0.5" if mode == "deferrable" else f"mode={mode!r}"
    args = "".join(f", {k}={v!r}" for k, v in params.items())
    return f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}) as dag:
        TuningJobStateSensor(
            task_id="wait", conn_id={conn_id_for(platform)!r}, job_id={job_id!r}, poke_interval=0.3,
            {mode_args}{args}
        )
    """


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", list(Platform))
def test_success_returns_the_job_record(emu, connections, platform, mode):
    job_id = emu.seed(platform, script=JobScript(running_s=1.0))
    result = run_dag_source("sense_ok", sensor_dag("sense_ok", platform, job_id, mode, target_states=["SUCCEEDED"]))
    assert result.task_states == {"wait": "success"}
    assert result.xcom("wait")["state"] == "SUCCEEDED"


@pytest.mark.parametrize("mode", MODES)
def test_failure_state_fails_with_the_platform_message(emu, connections, mode):
    job_id = emu.seed(
        Platform.OPENAI,
        script=JobScript(running_s=0.5, end_state="failed"),
        error_message="training file has invalid JSONL",
    )
    result = run_dag_source(
        "sense_fail", sensor_dag("sense_fail", Platform.OPENAI, job_id, mode, target_states=["SUCCEEDED"])
    )
    assert result.task_states == {"wait": "failed"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("soft_fail", "task_state"), [(False, "failed"), (True, "skipped")])
def test_timeout_and_soft_fail(emu, connections, mode, soft_fail, task_state):
    job_id = emu.seed(Platform.DASHSCOPE, script=JobScript(running_s=None))
    result = run_dag_source(
        "sense_timeout",
        sensor_dag("sense_timeout", Platform.DASHSCOPE, job_id, mode, timeout=1.5, soft_fail=soft_fail),
    )
    assert result.task_states == {"wait": task_state}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("soft_fail", "task_state"), [(False, "failed"), (True, "skipped")])
def test_failure_state_with_soft_fail(emu, connections, mode, soft_fail, task_state):
    job_id = emu.seed(Platform.TOGETHER, script=JobScript(running_s=0.3, end_state="failed"))
    result = run_dag_source(
        "sense_soft",
        sensor_dag("sense_soft", Platform.TOGETHER, job_id, mode, target_states=["SUCCEEDED"], soft_fail=soft_fail),
    )
    assert result.task_states == {"wait": task_state}


def test_default_targets_any_terminal_state(emu, connections):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=0.3, end_state="failed"))
    result = run_dag_source("sense_any", sensor_dag("sense_any", Platform.OPENAI, job_id, "poke"))
    assert result.task_states == {"wait": "success"}
    assert result.xcom("wait")["state"] == "FAILED"


def test_bad_states_are_refused_with_the_choices():
    from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

    with pytest.raises(ValueError, match="RUNNING"):
        TuningJobStateSensor(task_id="t", conn_id="c", job_id="j", target_states=["DONE"])
    with pytest.raises(ValueError, match="both target and failure"):
        TuningJobStateSensor(task_id="t", conn_id="c", job_id="j", target_states=["FAILED"], failure_states=["FAILED"])
