"""Server text is data, over real sockets: what a server says reaches exceptions, logs, XCom and
trigger events scrubbed of the connection's secrets, with its control characters escaped.

A server that echoes the request's headers in an error puts the API key (``Authorization`` or
``api-key``) or the access token into the text we report; one that names a job
``"x\\n... Task exited with return code 0"`` forges task-log lines. Neither gets through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from unittest import mock

import pytest

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.flows import run_flow, wait_flow
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger
from tests.hostile.servers import echo_headers, job_answer, reply
from tests.hostile.support import call, close_async_clients, run_dag_timed, warm_up

MODES = ["sync", "async"]
RUNNING = JobScript(running_s=None, cancel_s=60.0)
#: One key per way of sending it: Bearer (OpenAI, Together, DashScope, a Bedrock API key), an
#: ``access_token`` extra (Vertex AI), the ``api-key`` header (Azure OpenAI).
ECHOED = [
    Platform.OPENAI,
    Platform.VERTEX_AI,
    Platform.BEDROCK,
    Platform.AZURE_OPENAI,
    Platform.DASHSCOPE,
    Platform.TOGETHER,
]
#: A newline, ANSI colours, a Unicode line separator and the line Airflow writes when a task succeeded.
FORGED = "cancelled\n\x1b[32m[2026-12-07] INFO - Task exited with return code 0\x1b[0m\u2028\r"
FORGED_SEEN = "cancelled\\n\\x1b[32m[2026-12-07] INFO - Task exited with return code 0\\x1b[0m\\u2028\\r"


def assert_scrubbed(text: str, key: str) -> None:
    assert key not in text, "the connection's secret is in the text"
    assert "***" in text, "the echo was dropped rather than scrubbed (the test proves nothing)"


# -- echoed credentials -------------------------------------------------------------------------------
# The hook's errors on every platform: the Airflow version cannot change them (trigger events, XCom
# and logs below run on each Airflow).
@pytest.mark.newest_only
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("operation", ["get_job", "cancel_job"])
@pytest.mark.parametrize("platform", ECHOED, ids=str)
def test_an_echoed_credential_is_in_no_exception(front, emu, platform, operation, status, mode):
    target = front(platform)
    job_id = emu.seed(platform, script=RUNNING)
    target.server.always(echo_headers(status))
    with pytest.raises(TuningJobError) as info:
        call(target.hook(), operation, job_id, mode=mode)
    error = info.value
    for text in (str(error), repr(error.args), error.message, repr(error)):
        assert_scrubbed(text, target.key)


@pytest.mark.parametrize("platform", [Platform.OPENAI, Platform.VERTEX_AI], ids=str)
def test_an_echoed_credential_is_in_no_trigger_event(front, emu, platform):
    target = front(platform)
    job_id = emu.seed(platform, script=RUNNING)
    target.server.always(echo_headers(401))
    trigger = TuningJobStateTrigger(
        conn_id=target.conn_id, platform=platform, job_id=job_id, deadline=time.time() + 30, poll_interval=0.5
    )

    async def main() -> list[dict[str, Any]]:
        try:
            return [event.payload async for event in trigger.run()]
        finally:
            await trigger.cleanup()
            await close_async_clients()

    events = asyncio.run(main())
    assert [event["status"] for event in events] == ["error"]
    assert_scrubbed(json.dumps(events), target.key)


def test_an_echoed_credential_is_in_no_xcom(front, emu):
    warm_up()
    platform = Platform.AZURE_OPENAI
    target = front(platform)
    emu.seed_many(platform, 2, script=RUNNING)
    target.server.always(echo_headers(403), on="cancel")
    source = f"""
from airflow.sdk import DAG
from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator

with DAG("text_echo_bulk", schedule=None, default_args={{"retries": 0}}) as dag:
    BulkCancelTuningJobsOperator(task_id="task", conn_id={target.conn_id!r}, wait_for_completion=False)
"""
    result, _ = run_dag_timed("text_echo_bulk", source)
    assert result.task_states == {"task": "failed"}
    outcomes = result.xcom("task")
    assert [job["action"] for job in outcomes["jobs"]] == ["failed", "failed"]
    assert_scrubbed(json.dumps(outcomes), target.key)


# -- forged log lines ---------------------------------------------------------------------------------
def assert_one_line_each(caplog: pytest.LogCaptureFixture, *, expect: int) -> None:
    """Every record is one line without escapes; ``expect`` of them quote the forged text, escaped."""
    messages = [record.getMessage() for record in caplog.records]
    for message in messages:
        assert not any(c in message for c in "\n\r\x1b\u2028"), f"raw control characters logged: {message!r}"
    quoting = [m for m in messages if "Task exited with return code 0" in m]
    assert len(quoting) >= expect, messages
    assert all("\\n" in m or "\\x1b" in m for m in quoting), quoting


def sensor(conn_id: str, job_id: str) -> Any:
    """The sensor, logging to a standard logger: what its task log receives, caplog sees."""
    from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

    task = TuningJobStateSensor(task_id="sense", conn_id=conn_id, job_id=job_id)
    task._cached_logger = logging.getLogger("tests.hostile.sensor")  # Airflow's is structlog
    return task


@pytest.mark.parametrize("platform", [Platform.OPENAI, Platform.VERTEX_AI], ids=str)
def test_a_forged_state_is_one_escaped_line_in_the_sensors_poke(hostile, caplog, platform):
    target = hostile(platform)
    job_id = target.server.add_job()
    target.server.always(job_answer(native_state=FORGED, display_name=FORGED, error_message=FORGED), on="get")
    with caplog.at_level(logging.INFO):
        assert sensor(target.conn_id, job_id).poke({"ti": mock.MagicMock()}) is False
    assert_one_line_each(caplog, expect=1)
    assert FORGED_SEEN in caplog.text


@pytest.mark.parametrize("platform", [Platform.OPENAI, Platform.VERTEX_AI], ids=str)
def test_a_forged_error_is_one_escaped_line_in_the_sensors_retry_warning(hostile, caplog, platform):
    target = hostile(platform)
    job_id = target.server.add_job()
    target.server.always(reply(503, target.server.speaker.error(503, FORGED)), on="get")
    with caplog.at_level(logging.INFO):
        assert sensor(target.conn_id, job_id).poke({"ti": mock.MagicMock()}) is False
    assert_one_line_each(caplog, expect=1)
    assert any(r.levelno == logging.WARNING and FORGED_SEEN in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("platform", [Platform.OPENAI, Platform.VERTEX_AI], ids=str)
def test_forged_text_is_one_escaped_line_in_the_wait_flows_logs(hostile, caplog, platform):
    """A transient error quoting the forged text (warned), then the job ended with it as its error."""
    target = hostile(platform)
    job_id = target.server.add_job()
    speaker = target.server.speaker
    target.server.then(reply(503, speaker.error(503, FORGED)), on="get")
    target.server.always(job_answer(native_state=speaker.cancelled, error_message=FORGED), on="get")
    with caplog.at_level(logging.INFO):
        result = run_flow(target.hook(), wait_flow(job_id, deadline=time.time() + 30), sleep=lambda _: None)
    assert result.status.value == "reached" and FORGED_SEEN in result.message
    assert_one_line_each(caplog, expect=1)
    assert any(r.levelno == logging.WARNING and FORGED_SEEN in r.getMessage() for r in caplog.records)
    assert target.server.count("get") == 2
