"""Truth on every path, over real sockets, for every platform that can cancel.

A :class:`FrontServer` stands before the emulator: what it does not script is the platform's own
answer. A 200 to a cancel that is not the platform's acknowledgement is never ``cancel_sent``: the
job is re-read and reported as it is. A duplicate key in a record is refused, not guessed at.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_ft_provider.errors import MalformedResponseError, UnexpectedResponseError
from airflow_ft_provider.flows import CancelAction, arun_flow, cancel_flow, run_flow
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.platforms.base import Operation
from airflow_ft_provider.platforms.registry import record_for
from airflow_ft_provider.testing import JobScript
from tests.hostile.servers import forwarded_then, reply
from tests.hostile.support import close_async_clients, run_dag_timed, warm_up

CANCELLING = [platform for platform in Platform if record_for(platform).can_cancel]
MODES = ["sync", "async"]
RUNNING = JobScript(running_s=None, cancel_s=60.0)

#: 200 answers to a cancel that no platform acknowledges with (body, content type).
NOT_ACKS = {
    "html": (b"<!DOCTYPE html><html><body>Sign in to the guest Wi-Fi</body></html>", "text/html"),
    "nested-100k": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json"),
    "5000-digits": (b'{"n": ' + b"9" * 5000 + b"}", "application/json"),
    "latin-1": ('{"status": "cancelled", "note": "annulé"}'.encode("latin-1"), "application/json"),
    "array": (b"[]", "application/json"),
}


def cancel(hook: Any, job_id: str, mode: str) -> Any:
    """The cancel flow (read, cancel, re-read when needed) as the operators and the notifier run it."""
    if mode == "sync":
        return run_flow(hook, cancel_flow(job_id))

    async def main() -> Any:
        try:
            return await arun_flow(hook, cancel_flow(job_id))
        finally:
            await close_async_clients()

    return asyncio.run(main())


# -- the acknowledgement ----------------------------------------------------------------------------
#: The flows through the hook, on every platform: the Airflow version cannot change them (the
#: operators, the bulk operator and the notifier below run on each Airflow).
NEWEST_ONLY = pytest.mark.newest_only


@NEWEST_ONLY
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", NOT_ACKS)
@pytest.mark.parametrize("platform", CANCELLING, ids=str)
def test_a_200_that_is_no_acknowledgement_is_never_cancel_sent(front, emu, platform, answer, mode):
    """The cancel never reached the platform: the re-read shows the job running, the error stands.
    Where a cancel never succeeds with a 200 (watsonx.ai's 204), the 200 is refused as unexpected."""
    target = front(platform)
    job_id = emu.seed(platform, script=RUNNING)
    body, content_type = NOT_ACKS[answer]
    target.server.always(reply(200, body, content_type=content_type), on="cancel")
    if not answers_200(platform):
        with pytest.raises(UnexpectedResponseError, match="HTTP 200"):
            cancel(target.hook(), job_id, mode)
        assert target.server.count("cancel") == 1 and emu.job_phase(platform, job_id) == "running"
        return
    with pytest.raises(MalformedResponseError) as info:
        cancel(target.hook(), job_id, mode)
    assert "acknowledgement" in str(info.value) or "JSON" in str(info.value)
    assert info.value.retryable
    assert target.server.count("cancel") == 1  # max_retries=0: one attempt
    assert target.server.count("get") == 2, "the job was not re-read after the cancel's answer"
    assert emu.job_phase(platform, job_id) == "running"


def answers_200(platform: Platform) -> bool:
    """Whether the platform's cancel succeeds with a 200 (and a body): most; watsonx.ai's with a 204."""
    return 200 in record_for(platform).dialect.success_statuses[Operation.CANCEL]


@NEWEST_ONLY
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", CANCELLING, ids=str)
def test_a_cancel_that_took_effect_behind_a_bad_answer_is_reported_as_the_job_is(front, emu, platform, mode):
    """The platform got the cancel, a proxy spoiled its answer: the re-read says how the job is."""
    target = front(platform)
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.0))
    target.server.always(forwarded_then(200, NOT_ACKS["html"][0]), on="cancel")
    if not answers_200(platform):  # refused as unexpected, never reported as sent
        with pytest.raises(UnexpectedResponseError, match="HTTP 200"):
            cancel(target.hook(), job_id, mode)
        assert emu.job_phase(platform, job_id) == "cancelled"
        return
    result = cancel(target.hook(), job_id, mode)
    assert result.action is not CancelAction.SENT
    assert (result.action, result.after.state) in {
        (CancelAction.ALREADY_ENDED, TuningJobState.CANCELLED),
        (CancelAction.ALREADY_CANCELLING, TuningJobState.CANCELLING),
    }
    assert target.server.count("cancel") == 1 and target.server.count("get") == 2


@NEWEST_ONLY
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", CANCELLING, ids=str)
def test_the_acknowledgement_is_still_cancel_sent(front, emu, platform, mode):
    target = front(platform)
    job_id = emu.seed(platform, script=RUNNING)
    result = cancel(target.hook(), job_id, mode)
    assert result.action is CancelAction.SENT
    assert target.server.count("cancel") == 1 and target.server.count("get") == 1


# -- duplicate keys -----------------------------------------------------------------------------------
def record_with_a_state_twice(server: Any, job_id: str, first: str, last: str) -> bytes:
    """The job's record with its status key twice: ``first``, then ``last``."""
    text = json.dumps({**server.job_body(job_id), "status": first})
    return text.replace(f'"status": "{first}"', f'"status": "{first}", "status": "{last}"', 1).encode()


@pytest.mark.parametrize("mode", MODES)
def test_a_record_with_its_state_twice_is_refused_never_already_ended(hostile, mode):
    target = hostile(Platform.OPENAI)
    job_id = target.server.add_job()
    target.server.always(reply(200, record_with_a_state_twice(target.server, job_id, "running", "cancelled")), on="get")
    with pytest.raises(MalformedResponseError) as info:
        cancel(target.hook(), job_id, mode)
    assert "twice" in str(info.value)
    assert target.server.count("cancel") == 0 and target.server.count("get") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_record_with_its_state_twice_once_is_retried_and_the_cancel_sent(hostile, mode):
    target = hostile(Platform.OPENAI, max_retries=1)
    job_id = target.server.add_job()
    target.server.then(reply(200, record_with_a_state_twice(target.server, job_id, "running", "cancelled")), on="get")
    result = cancel(target.hook(), job_id, mode)
    assert result.action is CancelAction.SENT
    assert target.server.count("get") == 2 and target.server.count("cancel") == 1


# -- through Airflow ------------------------------------------------------------------------------------
CANCEL_DAG = """
from airflow.sdk import DAG
from airflow_ft_provider.operators.cancel import CancelTuningJobOperator
from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator

with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}) as dag:
    {operator}
"""


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
@pytest.mark.parametrize("platform", [Platform.VERTEX_AI, Platform.BEDROCK], ids=str)
def test_the_operator_never_reports_an_unacknowledged_cancel_as_sent(front, emu, platform, deferrable):
    warm_up()
    target = front(platform)
    job_id = emu.seed(platform, script=RUNNING)
    target.server.always(reply(200, NOT_ACKS["html"][0], content_type="text/html"), on="cancel")
    operator = (
        f"CancelTuningJobOperator(task_id='task', conn_id={target.conn_id!r}, job_id={job_id!r}, "
        f"wait_for_completion=False, deferrable={deferrable})"
    )
    result, _ = run_dag_timed("truth_cancel", CANCEL_DAG.format(dag_id="truth_cancel", operator=operator))
    assert result.task_states == {"task": "failed"}, "a cancel the platform never acknowledged passed as sent"
    assert result.xcom("task") is None
    assert target.server.count("cancel") == 1 and target.server.count("get") == 2


def test_the_bulk_operator_reports_an_unacknowledged_cancel_as_failed(front, emu):
    warm_up()
    platform = Platform.DASHSCOPE
    target = front(platform)
    job_ids = emu.seed_many(platform, 2, script=RUNNING)
    target.server.always(reply(200, NOT_ACKS["array"][0]), on="cancel")
    operator = f"BulkCancelTuningJobsOperator(task_id='task', conn_id={target.conn_id!r}, wait_for_completion=False)"
    result, _ = run_dag_timed("truth_bulk", CANCEL_DAG.format(dag_id="truth_bulk", operator=operator))
    assert result.task_states == {"task": "failed"}
    outcomes = result.xcom("task")["jobs"]
    assert sorted(o["job_id"] for o in outcomes) == sorted(job_ids)
    assert {o["action"] for o in outcomes} == {"failed"}
    assert all("acknowledgement" in o["error"] for o in outcomes)
    assert target.server.count("cancel") == 2


def test_the_notifier_never_logs_an_unacknowledged_cancel_as_sent(front, emu, capfd):
    warm_up()
    platform = Platform.VERTEX_AI
    target = front(platform)
    job_id = emu.seed(platform, script=RUNNING)
    target.server.always(reply(200, NOT_ACKS["nested-100k"][0]), on="cancel")
    source = f"""
from airflow.sdk import DAG, task
from airflow_ft_provider.notifications.cancel_job import CancelTuningJobNotifier

with DAG("truth_notifier", schedule=None, default_args={{"retries": 0}}) as dag:
    @task(on_failure_callback=CancelTuningJobNotifier(conn_id={target.conn_id!r}))
    def train(ti=None):
        ti.xcom_push(key="tuning_job_id", value={job_id!r})
        raise RuntimeError("the job started, then the task died")
    train()
"""
    capfd.readouterr()
    run_dag_timed("truth_notifier", source)
    out, err = capfd.readouterr()
    log = out + err
    assert "on failure: NOT cancelled · " in log and f"id {job_id}" in log and "MalformedResponseError" in log
    assert "cancel sent" not in log
    assert target.server.count("cancel") == 1 and target.server.count("get") == 2
