"""TuningJobStateTrigger run the way the triggerer runs it: an async generator on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from types import SimpleNamespace

import pytest

from airflow_ft_provider import version_compat
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.triggers.job_state import JobStateEvent, TuningJobStateTrigger
from tests.conftest import conn_id_for, connection_dict


def trigger_for(platform: Platform, job_id: str, **kwargs) -> TuningJobStateTrigger:
    kwargs.setdefault("min_poll_interval", 0.1)
    return TuningJobStateTrigger(conn_id=conn_id_for(platform), platform=platform, job_id=job_id, **kwargs)


async def events_of(trigger: TuningJobStateTrigger) -> list[dict]:
    events = [event.payload async for event in trigger.run()]
    await trigger.cleanup()
    return events


def run(coro):
    async def main():
        try:
            return await coro
        finally:
            await process_cache.aclose()

    return asyncio.run(main())


def test_serialization_round_trip_carries_no_secret(emu, connections):
    trigger = trigger_for(Platform.OPENAI, "ftjob-1", deadline=123.0, cancel_on_kill=True)
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    text = json.dumps(kwargs)
    assert emu.api_key(Platform.OPENAI) not in text
    assert set(kwargs) == {
        "conn_id", "platform", "job_id", "target_states", "failure_states", "deadline",
        "min_poll_interval", "poll_interval", "max_transient_errors", "cancel_on_kill", "urgent",
        "confirming_since",
        "done_before",
    }  # fmt: skip


@pytest.mark.parametrize("platform", [Platform.OPENAI, Platform.TOGETHER, Platform.DASHSCOPE])
def test_yields_exactly_one_event_when_the_job_ends(emu, connections, platform):
    job_id = emu.seed(platform, script=JobScript(running_s=0.5))
    events = run(events_of(trigger_for(platform, job_id)))
    assert len(events) == 1
    event = JobStateEvent.parse(events[0])
    assert event.status == "reached"
    assert event.job is not None and event.job.state == "SUCCEEDED"


def test_failure_state_event(emu, connections):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=0.3, end_state="failed"))
    trigger = trigger_for(Platform.OPENAI, job_id, target_states=["SUCCEEDED"], failure_states=["FAILED"])
    (event,) = run(events_of(trigger))
    assert event["status"] == "failed"


def test_deadline_is_kept_by_the_trigger(emu, connections):
    job_id = emu.seed(Platform.TOGETHER, script=JobScript(running_s=None))
    started = time.monotonic()
    (event,) = run(events_of(trigger_for(Platform.TOGETHER, job_id, deadline=time.time() + 1.0)))
    assert event["status"] == "timeout"
    assert 0.9 <= time.monotonic() - started < 5


def test_transient_errors_are_tolerated(emu, connections):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=1.0))
    # 8 failures: one call exhausts its 6 tries, the wait tolerates that and the next call succeeds.
    emu.inject(Platform.OPENAI, Fault.status(503, count=8))
    (event,) = run(events_of(trigger_for(Platform.OPENAI, job_id)))
    assert event["status"] == "reached"


def test_too_many_transient_errors_end_with_a_retryable_error(emu, connections):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=None))
    emu.inject(Platform.OPENAI, Fault.status(503, count=1000))
    (event,) = run(events_of(trigger_for(Platform.OPENAI, job_id, max_transient_errors=1)))
    assert event["status"] == "error"
    assert event["retryable"] is True


def test_wrong_credentials_end_with_a_permanent_error_and_no_secret(emu, connections, set_connection):
    job_id = emu.seed(Platform.DASHSCOPE, script=JobScript(running_s=None))
    set_connection(conn_id_for(Platform.DASHSCOPE), connection_dict(emu, Platform.DASHSCOPE, key="sk-planted-777"))
    (event,) = run(events_of(trigger_for(Platform.DASHSCOPE, job_id)))
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert "sk-planted-777" not in json.dumps(event)


def test_missing_connection_is_an_error_event(emu):
    (event,) = run(events_of(TuningJobStateTrigger(conn_id="nope", platform="openai", job_id="ftjob-1")))
    assert event["status"] == "error"


def test_many_triggers_share_one_client(emu, connections):
    job_ids = emu.seed_many(Platform.OPENAI, 200, script=JobScript(running_s=1.0))

    async def main():
        triggers = [trigger_for(Platform.OPENAI, j, min_poll_interval=0.3) for j in job_ids]
        results = await asyncio.gather(*(events_of(t) for t in triggers))
        entries = process_cache.on_loop()
        return results, [value for key, value in entries.items() if key[0] == "pool"]

    results, pools = run(main())
    assert len(pools) == 1  # one connection, one pool
    # Its 50 connections as five clients of ten (httpcore's pool scan grows with the square).
    assert len(pools[0].clients) == 5
    assert all(len(events) == 1 and events[0]["status"] == "reached" for events in results)


@pytest.mark.parametrize(
    ("cancel_on_kill", "task_state", "cancelled"),
    [
        (False, "failed", False),  # not asked to
        (True, "failed", True),  # marked failed by a user
        (True, None, True),  # cleared by a user
        (True, "deferred", False),  # still deferred: the trigger moved to another triggerer (#73454)
        (True, "scheduled", False),  # another triggerer's event resumed it
    ],
)
def test_on_kill_cancels_only_when_asked_and_the_task_was_killed(
    emu, connections, monkeypatch, cancel_on_kill, task_state, cancelled
):
    job_id = emu.seed(Platform.TOGETHER, script=JobScript(running_s=None, cancel_s=0.1))

    async def state_of(dag_id: str, task_id: str, run_id: str) -> str | None:
        assert (dag_id, task_id, run_id) == ("dag", "wait", "run")
        return task_state

    monkeypatch.setattr(version_compat, "atask_state", state_of)
    trigger = trigger_for(Platform.TOGETHER, job_id, cancel_on_kill=cancel_on_kill)
    trigger.task_instance = SimpleNamespace(dag_id="dag", task_id="wait", run_id="run")
    run(trigger.on_kill())
    time.sleep(0.3)
    assert emu.job_phase(Platform.TOGETHER, job_id) == ("cancelled" if cancelled else "running")


def test_on_kill_cancel_survives_the_triggerers_second_cancellation(emu, connections, monkeypatch):
    """Airflow 3.3's triggerer cancels a killed trigger again at its next sync while ``on_kill`` still
    runs: the kill-time cancel, here waiting out a 429's one-second hint, must still be sent."""
    job_id = emu.seed(Platform.TOGETHER, script=JobScript(running_s=None, cancel_s=0.1))
    emu.inject(Platform.TOGETHER, Fault.status(429, retry_after=1.0))

    async def killed(dag_id: str, task_id: str, run_id: str) -> str | None:
        return "failed"

    monkeypatch.setattr(version_compat, "atask_state", killed)
    trigger = trigger_for(Platform.TOGETHER, job_id, cancel_on_kill=True)
    trigger.task_instance = SimpleNamespace(dag_id="dag", task_id="wait", run_id="run")

    async def triggerer() -> None:
        kill = asyncio.create_task(trigger.on_kill())
        await asyncio.sleep(0.3)  # the cancel waits for the hint
        kill.cancel()  # the next sync cancels the trigger again
        with contextlib.suppress(asyncio.CancelledError):
            await kill
        for _ in range(100):  # the triggerer's loop lives on
            if emu.job_phase(Platform.TOGETHER, job_id) == "cancelled":
                return
            await asyncio.sleep(0.05)

    run(triggerer())
    assert emu.job_phase(Platform.TOGETHER, job_id) == "cancelled"
    assert sum(r.is_cancel for r in emu.requests(Platform.TOGETHER)) == 1


def test_event_validation_names_the_problem():
    with pytest.raises(ValueError, match="Unexpected event"):
        JobStateEvent.parse({"status": "weird", "job_id": "x", "message": ""})
    with pytest.raises(ValueError, match="Unexpected event"):
        JobStateEvent.parse(None)


@pytest.mark.parametrize(
    ("done_before", "cancel_on_kill", "says"),
    [
        # The operator's wait: its cancel went out before it deferred, and the kill log says so.
        ("cancel_sent", False, "task killed while confirming; the cancel had already been sent before the wait · "),
        (
            "already_cancelling",
            False,
            "task killed while confirming; no cancel sent: the job was already CANCELLING · ",
        ),
        # The sensor's cancel_on_kill: the kill sends it, and says what it did.
        (None, True, "task killed; cancel sent; job still CANCELLING · "),
    ],
)
def test_the_kill_time_log_says_whether_the_cancel_was_already_sent(
    emu, connections, monkeypatch, caplog, done_before, cancel_on_kill, says
):
    job_id = emu.seed(Platform.TOGETHER, script=JobScript(running_s=None, cancel_s=5.0))

    async def marked_failed(dag_id: str, task_id: str, run_id: str) -> str | None:
        return "failed"

    monkeypatch.setattr(version_compat, "atask_state", marked_failed)
    trigger = trigger_for(Platform.TOGETHER, job_id, cancel_on_kill=cancel_on_kill, done_before=done_before)
    trigger.task_instance = SimpleNamespace(dag_id="dag", task_id="wait", run_id="run")
    with caplog.at_level("INFO", logger="airflow_ft_provider.triggers.job_state"):
        run(trigger.on_kill())
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_ft_provider.triggers.job_state"]
    assert lines == [lines[0]] and lines[0].startswith(says + f"Together AI job {job_id}"), lines
    sent = [r for r in emu.requests(Platform.TOGETHER) if r.is_cancel]
    assert len(sent) == (1 if cancel_on_kill else 0)  # a kill never sends a second cancel
