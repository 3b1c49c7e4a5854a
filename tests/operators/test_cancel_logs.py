"""What a user reads in the task log and the XCom of a cancel: the outcome first, the cost reported.

Through real Airflow (``dag.test()``) against the emulators; the lines are read where the user reads
them (the task's log output), not from the code that writes them.
"""

from __future__ import annotations

import re

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for, connection_dict
from tests.operators.test_cancel_operator import cancel_dag

#: Airflow's console log line: time, level, the message, then the logger in brackets.
_LINE = re.compile(r"^\S+ \[\w+\s*\] (?P<message>.*?) \[(airflow\.task\.operators\.)?airflow_ft_provider[.\w]*\]")
#: What each platform's emulator reports a job cost (Together once started, the others when ended).
USAGE_SEEN_WHEN_CANCELLED = {
    Platform.TOGETHER: ("USD 2.13 (estimated), 850.0 k tokens", {"cost": "2.125", "currency": "USD"}),
    Platform.FIREWORKS: ("USD 12.40 (estimated)", {"cost": "12.4", "currency": "USD"}),
    Platform.SAGEMAKER: ("tokens", {"cost": None}),
}


def messages(capfd: pytest.CaptureFixture[str]) -> list[str]:
    """This provider's log messages, in order, as the task's console log shows them."""
    out, err = capfd.readouterr()
    return [m["message"] for line in (out + err).splitlines() if (m := _LINE.match(line))]


def about(lines: list[str], job_id: str) -> list[str]:
    short = job_id.rsplit("/", 1)[-1]
    return [line for line in lines if f" job {short}" in line]


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
@pytest.mark.parametrize("platform", [Platform.VERTEX_AI, Platform.BEDROCK])
def test_every_line_leads_with_the_outcome_and_names_the_long_id_once_at_the_end(
    emu, connections, capfd, platform, deferrable
):
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.5))
    assert len(job_id) > 60  # a resource name or an ARN: what pushed the outcome off the screen
    capfd.readouterr()
    result = run_dag_source("cancel_log", cancel_dag("cancel_log", platform, job_id, deferrable=deferrable))
    assert result.task_states == {"cancel": "success"}
    lines = about(messages(capfd), job_id)
    print("\n".join(lines))
    title = {Platform.VERTEX_AI: "Vertex AI", Platform.BEDROCK: "Amazon Bedrock"}[platform]
    ref = f"{title} job {job_id.rsplit('/', 1)[-1]}"
    assert lines and all(f" · {ref}" in line and line.endswith(f" · id {job_id}") for line in lines)
    assert all(line.index(ref) < 40 for line in lines)  # the outcome and the job fit any log view
    # Vertex AI and Bedrock answer a cancel without the job: the first line says what was sent.
    assert lines[0].startswith("cancel sent, confirming... · ")
    assert lines[-1].startswith("CANCELLED (confirmed) · ")
    assert not any("cancel_sent (now" in line for line in lines)


def test_still_running_after_the_cancel_is_no_contradiction(emu, connections, capfd):
    platform = Platform.TOGETHER  # its cancel answers with the job, still running
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.5))
    capfd.readouterr()
    result = run_dag_source("cancel_log_running", cancel_dag("cancel_log_running", platform, job_id))
    assert result.task_states == {"cancel": "success"}
    lines = about(messages(capfd), job_id)
    assert lines[0].startswith("cancel sent; job still CANCELLING, confirming... · Together AI job ")
    assert lines[-1].startswith("CANCELLED (confirmed) · Together AI job ")


def test_wrong_credentials_fail_with_the_message_and_no_chained_traceback(emu, connections, set_connection, capfd):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=None))
    set_connection(conn_id_for(Platform.OPENAI), connection_dict(emu, Platform.OPENAI, key="sk-wrong-123"))
    capfd.readouterr()
    result = run_dag_source("cancel_log_auth", cancel_dag("cancel_log_auth", Platform.OPENAI, job_id))
    assert result.task_states == {"cancel": "failed"}
    out, err = capfd.readouterr()
    text = out + err
    assert "credentials of connection 'ft_openai_test' were refused" in text
    assert "The above exception was the direct cause" not in text
    assert "During handling of the above exception" not in text
    assert "airflow_ft_provider/transport" not in text  # none of our internals' frames
    assert "sk-wrong-123" not in text


# -- cost and usage -----------------------------------------------------------------------------
#: What each platform's emulator reports, as the XCom carries it and the log shows it. Together and
#: Fireworks report on a job being cancelled, SageMaker once it ended; OpenAI, Azure OpenAI and
#: DashScope only on a job that trained to the end (their trained tokens).
CANCELLED_USAGE = {
    Platform.TOGETHER: (
        {"cost": "2.125", "currency": "USD", "estimated": True, "billable_seconds": None, "billable_tokens": 850000},
        "usage: USD 2.125 (estimated), 850.0 k tokens",
    ),
    Platform.FIREWORKS: (
        {"cost": "12.4", "currency": "USD", "estimated": True, "billable_seconds": None, "billable_tokens": None},
        "usage: USD 12.4 (estimated)",
    ),
}
SUCCEEDED_USAGE = {
    platform: (
        {"cost": None, "currency": None, "estimated": False, "billable_seconds": None, "billable_tokens": tokens},
        f"usage: {shown} tokens",
    )
    for platform, tokens, shown in (
        (Platform.OPENAI, 123456, "123.5 k"),
        (Platform.AZURE_OPENAI, 123456, "123.5 k"),
        (Platform.DASHSCOPE, 123456, "123.5 k"),
    )
}


@pytest.mark.parametrize("platform", list(CANCELLED_USAGE))
def test_the_cost_a_cancelled_job_reports_is_in_the_xcom_and_the_last_line(emu, connections, capfd, platform):
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.3))
    capfd.readouterr()
    result = run_dag_source("cancel_cost", cancel_dag("cancel_cost", platform, job_id))
    usage, shown = CANCELLED_USAGE[platform]
    assert result.xcom("cancel")["usage"] == usage
    last = about(messages(capfd), job_id)[-1]
    print(last)
    assert last.startswith("CANCELLED (confirmed) · ") and shown in last


def test_sagemaker_reports_billable_time_and_tokens_once_ended(emu, connections, capfd):
    job_id = emu.seed(Platform.SAGEMAKER, script=JobScript(running_s=None, cancel_s=0.3))
    capfd.readouterr()
    result = run_dag_source("cancel_cost_sm", cancel_dag("cancel_cost_sm", Platform.SAGEMAKER, job_id))
    usage = result.xcom("cancel")["usage"]
    seconds = usage["billable_seconds"]
    assert seconds >= 1 and usage == {
        "cost": None,
        "currency": None,
        "estimated": False,
        "billable_seconds": seconds,
        "billable_tokens": 1000 * seconds,
    }
    last = about(messages(capfd), job_id)[-1]
    print(last)
    assert last.startswith("CANCELLED (confirmed) · ") and f"usage: {1000 * seconds / 1000:.1f} k tokens" in last
    assert f"{seconds} s billable" in last


@pytest.mark.parametrize("platform", list(SUCCEEDED_USAGE))
def test_trained_tokens_of_an_ended_job_are_shown(emu, connections, capfd, platform):
    job_id = emu.seed(platform, script=JobScript(running_s=0.0))
    capfd.readouterr()
    result = run_dag_source("cancel_cost_ended", cancel_dag("cancel_cost_ended", platform, job_id))
    usage, shown = SUCCEEDED_USAGE[platform]
    assert result.xcom("cancel")["usage"] == usage
    last = about(messages(capfd), job_id)[-1]
    print(last)
    assert last.startswith("already SUCCEEDED; no cancel sent · ") and shown in last
