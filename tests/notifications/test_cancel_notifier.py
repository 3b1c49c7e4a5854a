"""On-failure cancellation through real Airflow, against the platform emulators.

Task callbacks run in the task's process (in-process under ``dag.test()``), where XComs are read
through the task SDK. DAG callbacks run in the dag-processor (task SDK again) or, under
``dag.test()``, in the test's own process (metadata DB): both are exercised, the dag-processor
by Airflow's own ``DagFileProcessorProcess`` handling a callback request as the scheduler sends it.
Callback logs go through Airflow's structlog to stdout, hence ``capfd``.
"""

from __future__ import annotations

import json
import selectors
import socket
import string
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_ft_provider.job_display import job_ref
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Emulator, Fault, JobScript
from airflow_ft_provider.testing.dags import RunResult, run_dag_source
from tests.conftest import PLATFORMS, conn_id_for, connection_dict

CANCELLABLE = [p for p in PLATFORMS if p is not Platform.GEMINI]
TWO_PLATFORMS = [Platform.OPENAI, Platform.VERTEX_AI]
NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)
HEADER = """\
import os

from airflow.sdk import DAG, task

from airflow_ft_provider.notifications.cancel_job import CancelTuningJobNotifier, cancel_tuning_job_on_failure
"""
#: What Airflow logs when a callback raised: a notifier that never raises never causes it.
CALLBACK_RAISED = ("Failed to run task callback", "Callback failed", "Error in callback")


def run(dag_id: str, body: str, **values: Any) -> RunResult:
    """Run a DAG whose body uses ``$dag_id`` and ``$<name>`` for ``values`` (Jinja braces stay as they are)."""
    source = HEADER + string.Template(textwrap.dedent(body)).substitute(dag_id=dag_id, **values)
    return run_dag_source(dag_id, source)


def cancel_posts(emu: Emulator, platform: Platform) -> list[str]:
    """The paths of the cancels the emulator saw (Bedrock's stop, watsonx.ai's DELETE too)."""
    return [r.path for r in emu.requests(platform) if r.is_cancel]


def callback_log(capfd: pytest.CaptureFixture[str]) -> str:
    """Everything printed so far; fails if Airflow reports that a callback raised."""
    out, err = capfd.readouterr()
    text = out + err
    for marker in CALLBACK_RAISED:
        assert marker not in text
    return text


def outcome_of(log: str, platform: Platform, job_id: str, detail: str = "was RUNNING") -> str:
    """The notifier's log line about ``job_id`` that carries ``detail``, from its outcome on: the
    outcome leads, then the short job reference (the full id comes last, where it is longer)."""
    ref = f" · {job_ref(platform, job_id)} · {detail}"
    line = next(line for line in log.splitlines() if ref in line and "on failure: " in line)
    return line[line.index("on failure: ") : line.index(ref)]


def cancelled_or_cancelling(emu: Emulator, platform: Platform, job_id: str) -> bool:
    return emu.job_phase(platform, job_id) in ("cancelling", "cancelled")


def one_failing_task(callback: str) -> str:
    """A DAG whose only task starts (pushes) a job under the notifier's default key, then fails."""
    return f"""
        with DAG("$dag_id", schedule=None) as dag:
            @task(on_failure_callback={callback})
            def train(ti=None):
                ti.xcom_push(key="tuning_job_id", value="$job_id")
                raise RuntimeError("the job started, then the task died")

            train()
        """


# -- task callbacks ---------------------------------------------------------------------------
@pytest.mark.parametrize("platform", CANCELLABLE, ids=str)
def test_task_callback_cancels_the_job_its_template_names(emu, connections, capfd, platform):
    job_id = emu.seed(platform, script=NEVER_ENDS)
    result = run(
        f"cancel_by_template_{platform}",
        """
        with DAG("$dag_id", schedule=None) as dag:
            @task
            def start_job():
                return "$job_id"

            @task(
                on_failure_callback=CancelTuningJobNotifier(
                    conn_id="$conn_id", job_id="{{ ti.xcom_pull(task_ids='start_job') }}"
                )
            )
            def train():
                raise RuntimeError("training failed")

            start_job() >> train()
        """,
        job_id=job_id,
        conn_id=conn_id_for(platform),
    )
    assert result.state == "failed"
    assert result.task_states == {"start_job": "success", "train": "failed"}
    assert cancelled_or_cancelling(emu, platform, job_id)
    assert len(cancel_posts(emu, platform)) == 1
    log = callback_log(capfd)
    assert outcome_of(log, platform, job_id, "from job_id") == "on failure: cancelling"
    # The cancel answer may say the job is cancelled, still running, or nothing about it.
    assert outcome_of(log, platform, job_id) in {
        "on failure: CANCELLED ← cancel sent",
        "on failure: cancel sent; job still RUNNING",
        "on failure: cancel sent; job still CANCELLING",
        "on failure: cancel sent",
    }


@pytest.mark.parametrize("style", ["notifier", "function", "named_task"])
@pytest.mark.parametrize("platform", TWO_PLATFORMS, ids=str)
def test_failing_task_that_started_the_job_is_found_by_xcom_key(emu, connections, capfd, platform, style):
    job_id = emu.seed(platform, script=NEVER_ENDS)
    callback = {
        "notifier": 'CancelTuningJobNotifier(conn_id="$conn_id")',
        "function": 'cancel_tuning_job_on_failure("$conn_id")',
        "named_task": 'CancelTuningJobNotifier(conn_id="$conn_id", xcom_task_ids="train")',
    }[style]
    result = run(
        f"cancel_by_key_{platform}_{style}",
        one_failing_task(callback),
        job_id=job_id,
        conn_id=conn_id_for(platform),
    )
    assert (result.state, result.task_states) == ("failed", {"train": "failed"})
    assert cancelled_or_cancelling(emu, platform, job_id)
    assert len(cancel_posts(emu, platform)) == 1
    assert "from XCom 'tuning_job_id' of task 'train'" in callback_log(capfd)


def test_mapped_task_cancels_only_the_job_of_its_failed_index(emu, connections):
    jobs = emu.seed_many(Platform.OPENAI, 3, script=NEVER_ENDS)
    result = run(
        "cancel_mapped_index",
        """
        with DAG("$dag_id", schedule=None) as dag:
            @task(on_failure_callback=CancelTuningJobNotifier(conn_id="$conn_id"))
            def train(job_id, ti=None):
                ti.xcom_push(key="tuning_job_id", value=job_id)
                if job_id == "$failing":
                    raise RuntimeError("this shard failed")

            train.expand(job_id=$jobs)
        """,
        jobs=json.dumps(jobs),
        failing=jobs[1],
        conn_id=conn_id_for(Platform.OPENAI),
    )
    assert result.state == "failed"
    assert [cancelled_or_cancelling(emu, Platform.OPENAI, j) for j in jobs] == [False, True, False]
    assert cancel_posts(emu, Platform.OPENAI) == [f"/v1/fine_tuning/jobs/{jobs[1]}/cancel"]


def test_one_notifier_shared_by_tasks_renders_for_each_of_them(emu, connections):
    """Rendering is in place in Airflow: without a fresh copy per call, the second task would reuse
    the first task's job id and leak its own job."""
    first, second = emu.seed_many(Platform.OPENAI, 2, script=NEVER_ENDS)
    run(
        "cancel_shared_notifier",
        """
        notifier = CancelTuningJobNotifier(
            conn_id="$conn_id", job_id="{{ ti.xcom_pull(task_ids=ti.task_id, key='tuning_job_id') }}"
        )
        with DAG("$dag_id", schedule=None, default_args={"on_failure_callback": notifier}) as dag:
            @task
            def first(ti=None):
                ti.xcom_push(key="tuning_job_id", value="$first")
                raise RuntimeError("first failed")

            @task
            def second(ti=None):
                ti.xcom_push(key="tuning_job_id", value="$second")
                raise RuntimeError("second failed")

            first()
            second()
        """,
        first=first,
        second=second,
        conn_id=conn_id_for(Platform.OPENAI),
    )
    assert cancelled_or_cancelling(emu, Platform.OPENAI, first)
    assert cancelled_or_cancelling(emu, Platform.OPENAI, second)
    assert len(cancel_posts(emu, Platform.OPENAI)) == 2


@pytest.mark.parametrize("platform", TWO_PLATFORMS, ids=str)
def test_job_that_already_ended_gets_no_cancel(emu, connections, capfd, platform):
    job_id = emu.seed(platform, script=JobScript(running_s=0.0))
    callback = 'CancelTuningJobNotifier(conn_id="$conn_id")'
    run(f"cancel_ended_{platform}", one_failing_task(callback), job_id=job_id, conn_id=conn_id_for(platform))
    assert cancel_posts(emu, platform) == []
    assert {r.method for r in emu.requests(platform) if r.path != "/token"} == {"GET"}
    assert outcome_of(callback_log(capfd), platform, job_id, "was SUCCEEDED") == (
        "on failure: already SUCCEEDED; no cancel sent"
    )


def test_wait_for_cancelled_confirms_the_end(emu, connections, capfd):
    platform = Platform.VERTEX_AI  # its cancel answers without the job: the wait is what reports the end
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=1.0))
    callback = 'CancelTuningJobNotifier(conn_id="$conn_id", wait_for_cancelled=True, timeout=30)'
    run("cancel_and_wait", one_failing_task(callback), job_id=job_id, conn_id=conn_id_for(platform))
    assert emu.job_phase(platform, job_id) == "cancelled"
    log = callback_log(capfd)
    assert outcome_of(log, platform, job_id) == "on failure: cancel sent, confirming..."
    confirmed = f"on failure: CANCELLED (confirmed) · {job_ref(platform, job_id)} · id {job_id}"
    assert confirmed in log


def test_nothing_to_cancel_sends_nothing(emu, connections, capfd):
    """``{{ ti.xcom_pull(...) }}`` of nothing renders "None"; the XComs hold nothing either."""
    result = run(
        "cancel_nothing",
        """
        with DAG("$dag_id", schedule=None) as dag:
            @task(
                on_failure_callback=CancelTuningJobNotifier(
                    conn_id="$conn_id", job_id="{{ ti.xcom_pull(task_ids='train', key='never_pushed') }}"
                )
            )
            def train():
                raise RuntimeError("failed before starting any job")

            train()
        """,
        conn_id=conn_id_for(Platform.OPENAI),
    )
    assert result.task_states == {"train": "failed"}
    assert emu.requests(Platform.OPENAI) == []
    assert "no tuning job id found (job_id was 'None'; looked under XCom key 'tuning_job_id'" in callback_log(capfd)


# -- never raises -----------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_time(log: str, fragment: str) -> datetime:
    line = next(line for line in log.splitlines() if fragment in line)
    return datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "problem", ["wrong_credentials", "missing_job", "unreachable", "no_connection", "cannot_cancel", "timeout"]
)
def test_callback_never_raises_and_leaves_the_run_as_it_was(emu, connections, set_connection, capfd, problem):
    platform = Platform.GEMINI if problem == "cannot_cancel" else Platform.OPENAI
    job_id = emu.seed(platform, script=NEVER_ENDS)
    conn_id, timeout = conn_id_for(platform), 60
    if problem == "wrong_credentials":
        set_connection(conn_id, connection_dict(emu, platform, key="wrong-key-4242"))
    elif problem == "missing_job":
        job_id = "ftjob-missing"
    elif problem == "unreachable":
        set_connection(conn_id, {**connection_dict(emu, platform), "host": f"http://127.0.0.1:{_closed_port()}/v1"})
    elif problem == "no_connection":
        conn_id = "ft_nowhere"
    elif problem == "timeout":
        emu.inject(platform, Fault.slow(5, method="GET"))
        timeout = 1
    callback = f'CancelTuningJobNotifier(conn_id="{conn_id}", timeout={timeout})'

    result = run(f"cancel_never_raises_{problem}", one_failing_task(callback), job_id=job_id)

    assert (result.state, result.task_states) == ("failed", {"train": "failed"})
    log = callback_log(capfd)
    expected = {
        "wrong_credentials": f"on failure: NOT cancelled · {job_ref(platform, job_id)}: AuthenticationError",
        "missing_job": f"on failure: NOT cancelled · {job_ref(platform, job_id)}: JobNotFoundError",
        "unreachable": f"on failure: NOT cancelled · {job_ref(platform, job_id)}: PlatformUnavailableError",
        "no_connection": f"on failure: NOT cancelled: cannot use connection 'ft_nowhere' · job(s) {job_id}: "
        "AirflowNotFoundException",
        # A Gemini id (tunedModels/...) is shortened in the reference, so the full one follows.
        "cannot_cancel": f"on failure: NOT cancelled · {job_ref(platform, job_id)} · id {job_id}: "
        "OperationNotSupportedError",
        "timeout": f"on failure: NOT cancelled · {job_ref(platform, job_id)}: RequestTimeoutError",
    }[problem]
    assert expected in log
    assert "wrong-key-4242" not in log
    if problem == "timeout":
        took = _log_time(log, expected) - _log_time(log, f"{job_ref(platform, job_id)} · from XCom")
        assert took.total_seconds() < 3.5  # the 1 s deadline ended the read, and the report followed
        # The timeout bounds every request too: nothing is left running after it, nothing is sent late.
        time.sleep(5)
        assert cancel_posts(emu, platform) == []
    elif problem != "missing_job":
        assert not cancelled_or_cancelling(emu, platform, job_id)


# -- DAG callbacks ----------------------------------------------------------------------------
DAG_WITH_DAG_CALLBACK = """
    with DAG("$dag_id", schedule=None, on_failure_callback=$callback) as dag:
        @task
        def start_jobs(ti=None):
            # An id, a job record (what this provider's operators return) and another platform's record.
            ti.xcom_push(
                key="tuning_job_id",
                value=[
                    "$first",
                    {"platform": "$platform", "job_id": "$second", "state": "RUNNING"},
                    {"platform": "together", "job_id": "$elsewhere", "state": "RUNNING"},
                ],
            )

        @task
        def evaluate():
            raise RuntimeError("evaluation failed")

        start_jobs() >> evaluate()
    """


@pytest.mark.parametrize("platform", TWO_PLATFORMS, ids=str)
def test_dag_callback_in_dag_test_cancels_every_job_of_the_run(emu, connections, capfd, platform):
    first, second = emu.seed_many(platform, 2, script=NEVER_ENDS)
    elsewhere = emu.seed(Platform.TOGETHER, script=NEVER_ENDS)
    result = run(
        f"cancel_dag_level_{platform}",
        DAG_WITH_DAG_CALLBACK,
        callback=f'CancelTuningJobNotifier(conn_id="{conn_id_for(platform)}", wait_for_cancelled=True, timeout=30)',
        platform=platform,
        first=first,
        second=second,
        elsewhere=elsewhere,
    )
    assert (result.state, result.task_states) == ("failed", {"start_jobs": "success", "evaluate": "failed"})
    assert cancelled_or_cancelling(emu, platform, first)
    assert cancelled_or_cancelling(emu, platform, second)
    assert len(cancel_posts(emu, platform)) == 2
    assert emu.requests(Platform.TOGETHER) == []
    log = callback_log(capfd)
    assert f"on failure: skipped · {job_ref(Platform.TOGETHER, elsewhere)} · connection" in log
    for job_id in (first, second):
        # OpenAI's cancel answer already says cancelled; Vertex AI's says nothing, so the wait confirms it.
        assert outcome_of(log, platform, job_id) == "on failure: CANCELLED ← cancel sent" or (
            f"on failure: CANCELLED (confirmed) · {job_ref(platform, job_id)}" in log
        )


def test_dag_callback_in_the_dag_processor(emu, connections, monkeypatch, tmp_path):
    """The production path: Airflow's dag-processor runs the DAG callback the scheduler requested.

    ``dag.test()`` would run the DAG callback itself first, so the DAG file only attaches it when
    parsed in the dag-processor (marked by an environment variable its child process inherits).
    """
    platform = Platform.OPENAI
    first, second = emu.seed_many(platform, 2, script=NEVER_ENDS)
    elsewhere = emu.seed(Platform.TOGETHER, script=NEVER_ENDS)
    dag_id = "cancel_dag_level_in_dag_processor"
    callback = (
        f'CancelTuningJobNotifier(conn_id="{conn_id_for(platform)}") if "FT_IN_DAG_PROCESSOR" in os.environ else None'
    )
    result = run(
        dag_id,
        DAG_WITH_DAG_CALLBACK,
        callback=callback,
        platform=platform,
        first=first,
        second=second,
        elsewhere=elsewhere,
    )
    assert result.state == "failed"
    assert emu.requests(platform) == []

    monkeypatch.setenv("FT_IN_DAG_PROCESSOR", "1")
    log = run_failure_callback_in_dag_processor(dag_id, tmp_path / "dag_processor.log")

    assert cancelled_or_cancelling(emu, platform, first)
    assert cancelled_or_cancelling(emu, platform, second)
    assert len(cancel_posts(emu, platform)) == 2
    assert emu.requests(Platform.TOGETHER) == []
    assert "from XCom 'tuning_job_id' of task 'start_jobs'" in log
    assert "Callback failed" not in log


def run_failure_callback_in_dag_processor(dag_id: str, log_path: Path) -> str:
    """Send the DAG's last run's failure callback to a dag-processor child, as the scheduler would.

    Builds the request like ``DagRun.update_state`` and starts the child like
    ``DagFileProcessorManager._create_process`` (in-process Execution API, JSON log file); returns the log.
    """
    import inspect

    import structlog
    from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI
    from airflow.callbacks.callback_requests import DagCallbackRequest, DagRunContext
    from airflow.dag_processing.processor import DagFileProcessorProcess
    from airflow.models.dagrun import DagRun
    from airflow.sdk.api.client import Client
    from airflow.sdk.log import logging_processors
    from airflow.utils.session import create_session
    from uuid6 import uuid7

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        failed = [ti for ti in run.get_task_instances(session=session) if ti.state == "failed"]
        request = DagCallbackRequest(
            filepath=run.dag_model.relative_fileloc,
            dag_id=dag_id,
            run_id=run.run_id,
            bundle_name=run.dag_model.bundle_name,
            bundle_version=run.bundle_version,
            context_from_server=DagRunContext(dag_run=run, last_ti=failed[0]),
            is_failure_callback=True,
            msg="task_failure",
        )
        dag_file = Path(run.dag_model.fileloc)

    client = Client(base_url=None, token="", dry_run=True, transport=InProcessExecutionAPI().transport)
    client.base_url = "http://in-process.invalid./"  # type: ignore[assignment]
    selector = selectors.DefaultSelector()
    extra: dict[str, Any] = {}
    if "bundle_name" in inspect.signature(DagFileProcessorProcess.start).parameters:  # Airflow 3.2+
        extra = {"bundle_name": request.bundle_name, "dag_file_rel_path": request.filepath}
    with log_path.open("ab") as handle:
        logger = structlog.wrap_logger(
            structlog.BytesLogger(handle), processors=logging_processors(json_output=True), logger_name="processor"
        ).bind()
        process = DagFileProcessorProcess.start(
            id=uuid7(),
            path=dag_file,
            bundle_path=dag_file.parent,
            callbacks=[request],
            selector=selector,
            logger=logger,
            logger_filehandle=handle,
            client=client,
            **extra,
        )
        deadline = time.monotonic() + 60
        while not process.is_ready:
            assert time.monotonic() < deadline, "the dag-processor child did not finish"
            for key, _ in selector.select(timeout=1.0):  # what the manager's socket loop does
                handler, on_close = key.data
                try:
                    more = handler(key.fileobj)
                except (BrokenPipeError, ConnectionResetError):
                    more = False
                if not more:
                    on_close(key.fileobj)
                    key.fileobj.close()
    return log_path.read_text()
