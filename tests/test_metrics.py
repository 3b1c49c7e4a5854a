"""The cancel metrics, read from Airflow's own metrics pipeline (see ``tests.metrics_otlp``).

One DAG run exercises every outcome a user alerts on: a cancel confirmed by its answer, one
confirmed by the trigger of a deferred task, a cancel of a job that had already ended, a job the
platform does not know, a refused cancel (Gemini cannot cancel), and an on-failure notifier whose
connection id has a typo: the failure before any flow counts too.
"""

from __future__ import annotations

import textwrap

import pytest

from airflow_ft_provider import version_compat
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from tests.conftest import conn_id_for
from tests.metrics_otlp import otlp_receiver, run_dag_with_metrics

DAG = """
from airflow.sdk import DAG, task

from airflow_ft_provider.notifications.cancel_job import CancelTuningJobNotifier
from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

with DAG("ft_metrics", schedule=None) as dag:
    CancelTuningJobOperator(task_id="confirmed", conn_id="{openai}", job_id="{running}", min_poll_interval=0.2)
    CancelTuningJobOperator(task_id="ended", conn_id="{openai}", job_id="{ended}")
    CancelTuningJobOperator(task_id="gone", conn_id="{openai}", job_id="ftjob-missing", if_not_found="succeed")
    CancelTuningJobOperator(task_id="refused", conn_id="{gemini}", job_id="{gemini_job}")
    CancelTuningJobOperator(
        task_id="deferred", conn_id="{vertex}", job_id="{vertex_job}", deferrable=True, min_poll_interval=0.2
    )

    @task(on_failure_callback=CancelTuningJobNotifier(conn_id="ft_opneai_typo", job_id="{noticed}"))
    def train():
        raise RuntimeError("the job started, then the task died")

    train()
"""


def test_every_cancel_outcome_reaches_airflow_metrics_tagged_by_platform_and_connection(emu, connections, tmp_path):
    openai, gemini, vertex = (conn_id_for(p) for p in (Platform.OPENAI, Platform.GEMINI, Platform.VERTEX_AI))
    running = emu.seed(Platform.OPENAI, script=JobScript(running_s=None, cancel_s=0.3))
    ended = emu.seed(Platform.OPENAI, script=JobScript(running_s=0))
    source = DAG.format(
        openai=openai,
        gemini=gemini,
        vertex=vertex,
        vertex_job=emu.seed(Platform.VERTEX_AI, script=JobScript(running_s=None, cancel_s=1.0)),
        running=running,
        ended=ended,
        gemini_job=emu.seed(Platform.GEMINI, script=JobScript(running_s=None)),
        noticed=emu.seed(Platform.OPENAI, script=JobScript(running_s=None)),
    )
    with otlp_receiver() as (port, received):
        result, output = run_dag_with_metrics("ft_metrics", textwrap.dedent(source), port, tmp_path)

    assert result["tasks"] == {
        "confirmed": "success",
        "ended": "success",
        "gone": "success",
        "refused": "failed",
        "deferred": "success",
        "train": "failed",
    }, output[-3000:]
    on_openai = {"platform": "openai", "conn_id": openai}
    assert received.value("ft_provider.cancel.sent", **on_openai) == 1
    assert received.value("ft_provider.cancel.not_needed", **on_openai) == 1
    assert received.value("ft_provider.cancel.not_found", **on_openai) == 1
    assert received.value("ft_provider.cancel.confirmed", **on_openai) == 1
    assert received.value("ft_provider.cancel.refused", platform="gemini", conn_id=gemini) == 1
    # Deferred: the cancel answer said CANCELLING, the trigger saw CANCELLED and counted it.
    on_vertex = {"platform": "vertex_ai", "conn_id": vertex}
    assert received.value("ft_provider.cancel.sent", **on_vertex) == 1
    assert received.value("ft_provider.cancel.confirmed", **on_vertex) == 1
    assert received.has("ft_provider.cancel.confirm_time", **on_vertex)
    # The notifier never reached a flow: its connection does not exist.
    assert received.value("ft_provider.cancel.failed", platform="unknown", conn_id="ft_opneai_typo") == 1
    # Plain StatsD drops tags: every counter also carries the platform in its name.
    assert received.value("ft_provider.cancel.sent.openai") == 1
    assert received.value("ft_provider.cancel.failed.unknown") == 1
    assert received.has("ft_provider.cancel.confirm_time", **on_openai)
    if version_compat.AIRFLOW_V_3_2_PLUS:  # a histogram; Airflow 3.1 sends timers as gauges
        assert received.value("ft_provider.cancel.confirm_time", **on_openai) == 1
    assert not {name for name in received.names() if name.startswith("ft_provider.cancel.failed.")} - {
        "ft_provider.cancel.failed.unknown"
    }


@pytest.mark.parametrize("value", ["loud", "RAISE", 3, None])
def test_a_bad_on_cancel_failure_names_the_choices(value):
    from airflow_ft_provider.notifications.cancel_job import CancelTuningJobNotifier

    with pytest.raises(ValueError, match=r"use 'log'.*'raise'.*callable"):
        CancelTuningJobNotifier(conn_id="c", on_cancel_failure=value)
