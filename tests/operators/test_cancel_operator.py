"""CancelTuningJobOperator through real Airflow (dag.test()) against the emulators."""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import PLATFORMS, conn_id_for

CANCELLABLE = [p for p in PLATFORMS if p is not Platform.GEMINI]


def cancel_dag(dag_id: str, platform: Platform, job_id: str, **params: object) -> str:
    args = "".join(f", {k}={v!r}" for k, v in params.items())
    return f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}) as dag:
        CancelTuningJobOperator(
            task_id="cancel", conn_id={conn_id_for(platform)!r}, job_id={job_id!r}, min_poll_interval=0.2{args}
        )
    """


def posts(emu, platform):
    """The cancels the emulator saw (a POST; Bedrock's stop, SageMaker's target, watsonx.ai's DELETE)."""
    return [r for r in emu.requests(platform) if r.is_cancel]


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
@pytest.mark.parametrize("platform", CANCELLABLE)
def test_cancels_and_confirms(emu, connections, platform, deferrable):
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.5))
    result = run_dag_source("cancel_one", cancel_dag("cancel_one", platform, job_id, deferrable=deferrable))
    assert result.task_states == {"cancel": "success"}
    record = result.xcom("cancel")
    assert record["state"] == "CANCELLED"
    assert record["platform"] == platform.value
    assert len(posts(emu, platform)) == 1


@pytest.mark.parametrize("platform", CANCELLABLE)
def test_templated_job_id_from_params(emu, connections, platform):
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.2))
    source = f"""
    from airflow.sdk import DAG, Param
    from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

    with DAG("cancel_param", schedule=None, params={{"job_id": Param("", type="string")}}) as dag:
        CancelTuningJobOperator(
            task_id="cancel", conn_id={conn_id_for(platform)!r}, job_id="{{{{ params.job_id }}}}",
            min_poll_interval=0.2,
        )
    """
    result = run_dag_source("cancel_param", source, conf={"job_id": job_id})
    assert result.xcom("cancel")["state"] == "CANCELLED"


@pytest.mark.parametrize(("if_ended", "task_state"), [("succeed", "success"), ("skip", "skipped"), ("fail", "failed")])
def test_already_ended_policy(emu, connections, if_ended, task_state):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=0.0))
    result = run_dag_source("cancel_ended", cancel_dag("cancel_ended", Platform.OPENAI, job_id, if_ended=if_ended))
    assert result.task_states == {"cancel": task_state}
    assert posts(emu, Platform.OPENAI) == []
    if task_state == "success":
        assert result.xcom("cancel")["state"] == "SUCCEEDED"


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_already_cancelling_sends_nothing_and_waits(emu, connections, deferrable):
    platform = Platform.TOGETHER
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=1.0))
    from airflow_ft_provider.hooks.registry import get_hook

    get_hook(conn_id_for(platform)).cancel_job(job_id)
    emu.clear_requests()
    result = run_dag_source(
        "cancel_cancelling", cancel_dag("cancel_cancelling", platform, job_id, deferrable=deferrable)
    )
    assert result.task_states == {"cancel": "success"}
    assert result.xcom("cancel")["state"] == "CANCELLED"
    assert posts(emu, platform) == []


@pytest.mark.parametrize(("if_not_found", "task_state"), [("fail", "failed"), ("succeed", "success")])
def test_not_found_policy(emu, connections, if_not_found, task_state):
    emu.seed(Platform.DASHSCOPE, script=JobScript(running_s=None))
    result = run_dag_source(
        "cancel_missing",
        cancel_dag("cancel_missing", Platform.DASHSCOPE, "ft-202401010000-gone", if_not_found=if_not_found),
    )
    assert result.task_states == {"cancel": task_state}


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
@pytest.mark.parametrize(("fail_if_not_cancelled", "task_state"), [(False, "success"), (True, "failed")])
def test_lost_race(emu, connections, deferrable, fail_if_not_cancelled, task_state):
    job_id = emu.seed(Platform.VERTEX_AI, script=JobScript(running_s=None, cancel_s=0.4, cancel_outcome="succeeded"))
    result = run_dag_source(
        "cancel_race",
        cancel_dag(
            "cancel_race",
            Platform.VERTEX_AI,
            job_id,
            deferrable=deferrable,
            fail_if_not_cancelled=fail_if_not_cancelled,
        ),
    )
    assert result.task_states == {"cancel": task_state}
    if task_state == "success":
        assert result.xcom("cancel")["state"] == "SUCCEEDED"


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_timeout_is_one_deadline(emu, connections, deferrable):
    job_id = emu.seed(Platform.TOGETHER, script=JobScript(running_s=None, cancel_s=60.0))
    result = run_dag_source(
        "cancel_timeout", cancel_dag("cancel_timeout", Platform.TOGETHER, job_id, deferrable=deferrable, timeout=2)
    )
    assert result.task_states == {"cancel": "failed"}


def test_wrong_credentials_fail_without_retries_and_name_the_connection(emu, connections, set_connection):
    from tests.conftest import connection_dict

    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=None))
    set_connection(conn_id_for(Platform.OPENAI), connection_dict(emu, Platform.OPENAI, key="sk-wrong-123"))
    source = cancel_dag("cancel_auth", Platform.OPENAI, job_id).replace('"retries": 0', '"retries": 2')
    result = run_dag_source("cancel_auth", source)
    assert result.task_states == {"cancel": "failed"}
    assert len(emu.requests(Platform.OPENAI)) == 1


def test_outage_is_retried_inside_the_hook(emu, connections):
    job_id = emu.seed(Platform.TOGETHER, script=JobScript(running_s=None, cancel_s=0.2))
    emu.inject(Platform.TOGETHER, Fault.status(503, count=3))
    result = run_dag_source("cancel_outage", cancel_dag("cancel_outage", Platform.TOGETHER, job_id))
    assert result.xcom("cancel")["state"] == "CANCELLED"


def test_gemini_fails_clearly(emu, connections):
    job_id = emu.seed(Platform.GEMINI, script=JobScript(running_s=None))
    result = run_dag_source("cancel_gemini", cancel_dag("cancel_gemini", Platform.GEMINI, job_id))
    assert result.task_states == {"cancel": "failed"}


def test_invalid_job_id_is_refused_before_any_request(emu, connections):
    result = run_dag_source("cancel_bad_id", cancel_dag("cancel_bad_id", Platform.OPENAI, "../../v1/files"))
    assert result.task_states == {"cancel": "failed"}
    assert emu.requests(Platform.OPENAI) == []


def test_bad_policy_value_names_the_choices():
    from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

    with pytest.raises(ValueError, match="'succeed', 'skip', 'fail'"):
        CancelTuningJobOperator(task_id="t", conn_id="c", job_id="j", if_ended="ignore")
