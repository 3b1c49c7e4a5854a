"""The notifier as a Deadline Alert callback: awaited by Airflow's own callback trigger, against the emulators.

Airflow runs an ``AsyncCallback`` in the triggerer by importing its path and awaiting
``path(**kwargs, context=context)``; the context holds the DAG run as Airflow's API shows it and the
deadline. The tests run that trigger class itself (``CallbackTrigger``, 3.2+; ``DeadlineCallbackTrigger``
on 3.1) with the context Airflow builds. Reading the run's XComs needs Airflow's channel to its API:
those tests run the trigger inside a task of a real DAG run (``dag.test()``), which has one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import string
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for, connection_dict

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_cancel_on_missed_deadline.py"

NOTIFIER = "airflow_ft_provider.notifications.cancel_job.CancelTuningJobNotifier"
NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)
CANCELLING = "on missed deadline: cancelling"


def said(log: str, cause: str, summary: str, platform: str, job_id: str, *details: str) -> bool:
    """Whether ``log`` has the notifier's line for a job's cancel: ``<cause>:``, then what was done
    with ``summary`` in it (``CANCELLED ← cancel sent``, ``cancel sent; job still RUNNING``), then
    the job and ``details``."""
    rest = outcome_line("", platform, job_id, *details)  # " · <job> · <details>..."
    line = re.escape(f"{cause}: ") + r"[^·\n]*" + re.escape(summary) + r"[^·\n]*" + re.escape(rest)
    return re.search(line, log) is not None


#: Runs Airflow's callback trigger as the triggerer would: the task returns the states it reported.
HEADER = """
import asyncio

from airflow.sdk import DAG, task


def run_callback(kwargs, dag_run, path="$notifier"):
    try:
        from airflow.triggers.callback import CallbackTrigger
    except ImportError:  # Airflow 3.1
        from airflow.triggers.deadline import DeadlineCallbackTrigger as CallbackTrigger

    context = {"dag_run": dag_run, "deadline": {"id": "0", "deadline_time": "2026-01-01T00:00:00+00:00"}}
    trigger = CallbackTrigger(callback_path=path, callback_kwargs={**kwargs, "context": context})

    async def events():
        return [str(event.payload["state"]) async for event in trigger.run()]

    return asyncio.run(events())
"""


def callback_trigger(kwargs: dict[str, Any], dag_run: dict[str, Any]) -> list[str]:
    """What Airflow's callback trigger reports when it awaits the notifier outside any DAG run."""
    try:
        from airflow.triggers.callback import CallbackTrigger
    except ImportError:  # Airflow 3.1
        from airflow.triggers.deadline import DeadlineCallbackTrigger as CallbackTrigger

    context = {"dag_run": dag_run, "deadline": {"id": "0", "deadline_time": "2026-01-01T00:00:00+00:00"}}
    trigger = CallbackTrigger(callback_path=NOTIFIER, callback_kwargs={**kwargs, "context": context})

    async def events() -> list[str]:
        return [str(event.payload["state"]).rsplit(".", 1)[-1].lower() async for event in trigger.run()]

    return asyncio.run(events())


def run(dag_id: str, body: str, **values: Any):  # type: ignore[no-untyped-def]
    source = string.Template(HEADER).substitute(notifier=NOTIFIER) + string.Template(textwrap.dedent(body)).substitute(
        dag_id=dag_id, **values
    )
    return run_dag_source(dag_id, source)


def cancels(emu, platform: Platform) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.path for r in emu.requests(platform) if r.is_cancel]


def test_missed_deadline_cancels_and_confirms_every_job_the_run_pushed(emu, connections, capfd):
    """Jobs of a mapped task and of a plain task, found through the run's task instances and XComs."""
    jobs = emu.seed_many(Platform.OPENAI, 3, script=NEVER_ENDS)
    result = run(
        "deadline_cancels_pushed_jobs",
        """
        with DAG("$dag_id", schedule=None) as dag:
            @task
            def shard(job_id, ti=None):
                ti.xcom_push(key="tuning_job_id", value=job_id)

            @task
            def train_3(ti=None):
                ti.xcom_push(key="tuning_job_id", value={"job_id": "$single", "platform": "openai"})

            @task
            def deadline_missed(dag_run=None):
                kwargs = {"conn_id": "$conn_id", "timeout": 60, "wait_for_cancelled": True}
                return run_callback(kwargs, {"dag_id": dag_run.dag_id, "dag_run_id": dag_run.run_id})

            shard.expand(job_id=$shards) >> train_3() >> deadline_missed()
        """,
        shards=json.dumps(jobs[:2]),
        single=jobs[2],
        conn_id=conn_id_for(Platform.OPENAI),
    )
    assert result.state == "success", result.task_states
    states = [state.rsplit(".", 1)[-1].lower() for state in result.xcom("deadline_missed")]
    assert states == ["running", "success"]
    assert {emu.job_phase(Platform.OPENAI, job) for job in jobs} <= {"cancelling", "cancelled"}
    assert len(cancels(emu, Platform.OPENAI)) == 3
    log = capfd.readouterr().out
    for job in jobs:
        assert said(log, "on missed deadline", "cancel sent", "openai", job, "was RUNNING")
    assert outcome_line(CANCELLING, "openai", jobs[0], "from XCom 'tuning_job_id' of task 'shard'") in log
    assert outcome_line(CANCELLING, "openai", jobs[2], "from XCom 'tuning_job_id' of task 'train_3'") in log
    # Only the instances that exist were read: the mapped task by index, the task named train_3 as is.
    reads = [line for line in log.splitlines() if "XCom not found" in line]
    assert not [line for line in reads if "'shard'" in line or "'train'" in line], reads


def test_only_the_named_tasks_xcoms_are_read(emu, connections, capfd):
    kept, cancelled = emu.seed_many(Platform.OPENAI, 2, script=NEVER_ENDS)
    result = run(
        "deadline_named_tasks",
        """
        with DAG("$dag_id", schedule=None) as dag:
            @task
            def evaluate(ti=None):
                ti.xcom_push(key="tuning_job_id", value="$kept")

            @task
            def train(ti=None):
                ti.xcom_push(key="tuning_job_id", value="$cancelled")

            @task
            def deadline_missed(dag_run=None):
                kwargs = {"conn_id": "$conn_id", "xcom_task_ids": ["train"]}
                return run_callback(kwargs, {"dag_id": dag_run.dag_id, "dag_run_id": dag_run.run_id})

            [evaluate(), train()] >> deadline_missed()
        """,
        kept=kept,
        cancelled=cancelled,
        conn_id=conn_id_for(Platform.OPENAI),
    )
    assert result.state == "success", result.task_states
    assert emu.job_phase(Platform.OPENAI, kept) == "running"
    assert emu.job_phase(Platform.OPENAI, cancelled) in ("cancelling", "cancelled")
    assert cancels(emu, Platform.OPENAI) == [f"/v1/fine_tuning/jobs/{cancelled}/cancel"]


def test_a_run_without_job_ids_cancels_nothing_and_says_where_it_looked(emu, connections, capfd):
    result = run(
        "deadline_nothing_pushed",
        """
        with DAG("$dag_id", schedule=None) as dag:
            @task
            def deadline_missed(dag_run=None):
                kwargs = {"conn_id": "$conn_id"}
                return run_callback(kwargs, {"dag_id": dag_run.dag_id, "dag_run_id": dag_run.run_id})

            deadline_missed()
        """,
        conn_id=conn_id_for(Platform.OPENAI),
    )
    assert result.state == "success", result.task_states
    assert cancels(emu, Platform.OPENAI) == []
    assert "on missed deadline: nothing to cancel: no tuning job id found (job_id was None; looked under XCom key" in (
        capfd.readouterr().out
    )


@pytest.mark.parametrize("platform", [Platform.DASHSCOPE, Platform.TOGETHER], ids=str)
def test_a_given_job_id_is_cancelled_and_confirmed_without_reading_airflow(emu, connections, capfd, platform):
    """With ``job_id``, no XCom is read: it works where there is no channel to Airflow at all."""
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=1.5))
    kwargs = {"conn_id": conn_id_for(platform), "job_id": job_id, "wait_for_cancelled": True}
    assert callback_trigger(kwargs, {"dag_id": "d", "dag_run_id": "r"}) == ["running", "success"]
    assert emu.job_phase(platform, job_id) == "cancelled"
    assert len(cancels(emu, platform)) == 1
    log = capfd.readouterr().out
    assert said(log, "on missed deadline", "cancel sent", platform, job_id, "was RUNNING")
    assert outcome_line("on missed deadline: CANCELLED (confirmed)", platform, job_id) in log


def test_the_timeout_bounds_the_callback_and_it_says_the_job_may_still_run(emu, connections, capfd):
    job_id = emu.seed(Platform.OPENAI, script=NEVER_ENDS)
    emu.inject(Platform.OPENAI, Fault.slow(30.0, count=None))
    kwargs = {"conn_id": conn_id_for(Platform.OPENAI), "job_id": job_id, "timeout": 2}
    assert callback_trigger(kwargs, {"dag_id": "d", "dag_run_id": "r"}) == ["running", "success"]
    log = capfd.readouterr().out
    assert outcome_line("on missed deadline: NOT cancelled", "openai", job_id) in log


def test_problems_are_logged_never_raised(emu, connections, capfd):
    """A missing connection, a context without a DAG run: the callback logs and succeeds."""
    assert callback_trigger({"conn_id": "no_such_connection", "job_id": "ftjob-1"}, {}) == ["running", "success"]
    assert callback_trigger({"conn_id": conn_id_for(Platform.OPENAI)}, {}) == ["running", "success"]
    log = capfd.readouterr().out
    assert "on missed deadline: NOT cancelled: cannot use connection 'no_such_connection' · job(s) ftjob-1" in log
    assert "the callback's context names no DAG run; give the notifier a job_id" in log


def test_the_examples_alert_cancels_the_job_its_start_task_pushed(emu, set_connection, capfd):
    """The example DAG's alert, as Airflow stores it (path and kwargs), run for a run of that shape."""
    set_connection("ft_openai_default", connection_dict(emu, Platform.OPENAI))
    spec = importlib.util.spec_from_file_location("example_cancel_on_missed_deadline", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    deadline = module.dag.deadline
    alert = deadline[0] if isinstance(deadline, list) else deadline
    callback = alert.callback.serialize()
    started, other = emu.seed_many(Platform.OPENAI, 2, script=NEVER_ENDS)
    result = run(
        "deadline_example_shape",
        """
        with DAG("$dag_id", schedule=None) as dag:
            @task
            def start_tuning_job(ti=None):
                ti.xcom_push(key="tuning_job_id", value="$started")
                return "$started"

            @task
            def another_task(ti=None):
                ti.xcom_push(key="tuning_job_id", value="$other")

            @task
            def deadline_missed(dag_run=None):
                run = {"dag_id": dag_run.dag_id, "dag_run_id": dag_run.run_id}
                return run_callback($kwargs, run, path="$path")

            [start_tuning_job(), another_task()] >> deadline_missed()
        """,
        started=started,
        other=other,
        kwargs=repr(callback["kwargs"]),
        path=callback["path"],
    )
    assert result.state == "success", result.task_states
    assert emu.job_phase(Platform.OPENAI, started) in ("cancelling", "cancelled")
    assert emu.job_phase(Platform.OPENAI, other) == "running"  # not in the example's xcom_task_ids
    assert cancels(emu, Platform.OPENAI) == [f"/v1/fine_tuning/jobs/{started}/cancel"]


def test_labels_find_the_runs_jobs_when_no_task_recorded_them(emu, connections, capfd):
    """The labels are rendered with the callback's context (the run's conf here); only active jobs match."""
    ours = emu.seed(Platform.OPENAI, labels={"batch": "b7"}, script=NEVER_ENDS)
    ended = emu.seed(Platform.OPENAI, labels={"batch": "b7"}, native_state="succeeded")
    others = emu.seed(Platform.OPENAI, labels={"batch": "b8"}, script=NEVER_ENDS)
    kwargs = {"conn_id": conn_id_for(Platform.OPENAI), "labels": {"batch": "{{ dag_run.conf.batch }}"}}
    run = {"dag_id": "d", "dag_run_id": "r", "conf": {"batch": "b7"}}
    assert callback_trigger(kwargs, run) == ["running", "success"]
    assert cancels(emu, Platform.OPENAI) == [f"/v1/fine_tuning/jobs/{ours}/cancel"]
    assert emu.job_phase(Platform.OPENAI, others) == "running"
    log = capfd.readouterr().out
    assert outcome_line(CANCELLING, "openai", ours, "from labels {'batch': 'b7'}") in log
    assert ended not in log
    # Outside the triggerer there is no channel to read XComs with: said, and the labels still worked.
    assert "on missed deadline: NOT cancelled: could not read the XComs of run 'r'" in log


def test_labels_on_a_platform_without_labels_are_refused_by_name(emu, connections, capfd):
    job_id = emu.seed(Platform.TOGETHER, script=NEVER_ENDS)
    kwargs = {"conn_id": conn_id_for(Platform.TOGETHER), "job_id": job_id, "labels": {"batch": "b7"}}
    assert callback_trigger(kwargs, {}) == ["running", "success"]
    log = capfd.readouterr().out
    assert "together jobs carry no labels, so labels={'batch': 'b7'} could never match" in log
    assert emu.job_phase(Platform.TOGETHER, job_id) in ("cancelling", "cancelled")  # its job_id still counts


def test_labels_work_on_failure_too(emu, connections, capfd):
    """The same parameter for an on-failure callback (the worker), where no task pushed an id."""
    job_id = emu.seed(Platform.OPENAI, labels={"dag": "labels_on_failure"}, script=NEVER_ENDS)
    result = run(
        "labels_on_failure",
        """
        from airflow_ft_provider.notifications.cancel_job import CancelTuningJobNotifier

        with DAG("$dag_id", schedule=None) as dag:
            @task(on_failure_callback=CancelTuningJobNotifier(conn_id="$conn_id", labels={"dag": "{{ dag.dag_id }}"}))
            def train():
                raise RuntimeError("the worker lost the job id")

            train()
        """,
        conn_id=conn_id_for(Platform.OPENAI),
    )
    assert result.state == "failed"
    assert cancels(emu, Platform.OPENAI) == [f"/v1/fine_tuning/jobs/{job_id}/cancel"]
    assert said(capfd.readouterr().out, "on failure", "cancel sent", "openai", job_id, "was RUNNING")


def test_bad_literal_labels_fail_at_dag_parse_time():
    from airflow_ft_provider.notifications.cancel_job import CancelTuningJobNotifier

    with pytest.raises(ValueError, match="labels must be a mapping"):
        CancelTuningJobNotifier(conn_id="c", labels=["batch"])  # type: ignore[arg-type]
