"""The example DAG on the distributed deployment, triggered through the REST API on every platform."""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.acks import AckKind
from airflow_ft_provider.platforms.registry import record_for
from airflow_ft_provider.platforms.states import Phase
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.reqlog import REDACTED
from tests.e2e.deployment import conn_id
from tests.e2e.helpers import accepted_cancels, cancels, job_requests, reads, seed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAG_ID = "example_cancel_tuning_job"
TASK_ID = "cancel_and_confirm"
CANCELLABLE = [p for p in Platform if record_for(p).can_cancel]


def confirmed_by_the_cancel(platform: Platform) -> bool:
    """Whether the cancel's answer alone confirms it: the job's record, on a platform without a
    cancelling state, shows it cancelled at once (OpenAI); elsewhere the triggerer reads until it does."""
    dialect = record_for(platform).dialect
    return dialect.cancel_ack.kind is AckKind.JOB_RECORD and Phase.CANCELLING not in dialect.states.timeline


def test_example_dag_cancels_a_running_job_on_every_platform(api, emu):
    """One run per platform at once: deferred cancel, confirmation through the triggerer, XCom."""
    jobs = {
        p: seed(emu, p, display_name=f"e2e-example-{p.value}", script=JobScript(running_s=None, cancel_s=3.0))
        for p in Platform
    }
    runs = {p: api.trigger(DAG_ID, {"conn_id": conn_id(p), "job_id": jobs[p]}) for p in Platform}
    ended = {p: api.wait_run(DAG_ID, runs[p], timeout=240) for p in Platform}

    for platform in CANCELLABLE:
        job_id, run_id = jobs[platform], runs[platform]
        assert ended[platform]["state"] == "success", api.explain(DAG_ID, run_id)
        ti = api.task_instance(DAG_ID, run_id, TASK_ID)
        assert ti["state"] == "success"
        assert ti["try_number"] == 1
        record = api.xcom(DAG_ID, run_id, TASK_ID)
        assert record["platform"] == platform.value
        assert record["job_id"] == job_id
        assert record["state"] == "CANCELLED"
        assert "console_url" in record
        assert emu.job_phase(platform, job_id) == "cancelled"
        log = job_requests(emu, platform, job_id)
        # Read first, one cancel, then (unless the cancel's answer confirmed it) reads in the
        # triggerer until it confirmed.
        assert log[0].is_read, log
        assert len(cancels(log)) == 1, log
        assert len(accepted_cancels(log)) == 1, log
        if not confirmed_by_the_cancel(platform):
            after_cancel = [r for r in reads(log) if r.time > cancels(log)[0].time]
            assert after_cancel, "nobody waited for the confirmation"
        for r in log:  # credentials (whichever header carries them) never reach the log in clear
            assert any(value.endswith(REDACTED) for value in r.headers.values()), (platform, r.headers)
    vertex = [r for r in emu.requests("vertex_ai") if r.path == "/token"]
    assert vertex, "the Vertex AI connection's service-account key was not exchanged for a token"

    # The Gemini API has no cancel method: the task must fail, not report a cancellation.
    gemini_run = runs[Platform.GEMINI]
    assert ended[Platform.GEMINI]["state"] == "failed"
    assert api.task_instance(DAG_ID, gemini_run, TASK_ID)["state"] == "failed"
    # The one cancel attempt met the API's "method not found", and nothing was cancelled.
    gemini_cancels = cancels(job_requests(emu, Platform.GEMINI, jobs[Platform.GEMINI]))
    assert [r.status for r in gemini_cancels] == [404], gemini_cancels
    assert emu.job_phase(Platform.GEMINI, jobs[Platform.GEMINI]) == "running"
