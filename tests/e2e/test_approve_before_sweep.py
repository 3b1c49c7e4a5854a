"""The approve-before-sweep example on the distributed deployment, answered through the REST API.

A person's answer is what the UI sends: ``PATCH .../taskInstances/approve/-1/hitlDetails``. The
sweep must cancel exactly the jobs the dry run listed and the person saw: not a job that started
matching after the listing, not one the filter never selected.
"""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from tests.e2e.deployment import conn_id
from tests.e2e.helpers import cancels, job_requests, seed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAG_ID = "example_approve_before_sweep"
PLATFORM = Platform.OPENAI
HOURS_3 = 3 * 3600


def running(emu, created_ago_s: float) -> str:
    return seed(emu, PLATFORM, script=JobScript(running_s=None, cancel_s=0.5), created_ago_s=created_ago_s)


def start(api, emu) -> tuple[str, list[str], str]:
    """Two long-running jobs and a fresh one; a run waiting for approval. Returns (run, listed, fresh)."""
    old = [running(emu, HOURS_3), running(emu, HOURS_3)]
    fresh = running(emu, 60)
    run_id = api.trigger(DAG_ID, {"conn_id": conn_id(PLATFORM), "running_longer_than_s": 7200})
    # Airflow 3.3 parks a human-in-the-loop task in "awaiting_input"; 3.1 and 3.2 defer it.
    api.wait_task_state(DAG_ID, run_id, "approve", ["deferred", "awaiting_input"], timeout=240)
    return run_id, old, fresh


def test_approved_sweep_cancels_exactly_the_jobs_shown(api, emu):
    run_id, ours, fresh = start(api, emu)
    # The deployment's emulator keeps other tests' jobs: what was shown is what the dry run listed.
    listed = [job["job_id"] for job in api.xcom(DAG_ID, run_id, "list_jobs")["jobs"]]
    assert set(ours) <= set(listed) and fresh not in listed
    detail = api.hitl_detail(DAG_ID, run_id, "approve")
    assert detail["subject"] == f"Cancel {len(listed)} fine-tuning jobs on {conn_id(PLATFORM)}?"
    assert all(f"`{job_id}`" in detail["body"] for job_id in listed) and fresh not in detail["body"]
    assert detail["options"] == ["Approve", "Reject"]
    late = running(emu, HOURS_3)  # matches the filter now, but nobody saw it

    api.respond_hitl(DAG_ID, run_id, "approve", ["Approve"])
    run = api.wait_run(DAG_ID, run_id, timeout=240)

    assert run["state"] == "success", api.explain(DAG_ID, run_id)
    report = api.xcom(DAG_ID, run_id, "sweep")
    assert report["dry_run"] is False
    assert {job["job_id"]: job["state_after"] for job in report["jobs"]} == dict.fromkeys(listed, "CANCELLED")
    for job_id in listed:
        assert emu.job_phase(PLATFORM, job_id) in ("cancelling", "cancelled")
        assert len(cancels(job_requests(emu, PLATFORM, job_id))) == 1
    for job_id in (fresh, late):
        assert emu.job_phase(PLATFORM, job_id) == "running"
        assert cancels(job_requests(emu, PLATFORM, job_id)) == []


def test_rejected_sweep_cancels_nothing(api, emu):
    run_id, listed, fresh = start(api, emu)
    api.respond_hitl(DAG_ID, run_id, "approve", ["Reject"])
    api.wait_run(DAG_ID, run_id, timeout=240)

    assert api.task_states(DAG_ID, run_id) == {"list_jobs": "success", "approve": "success", "sweep": "skipped"}
    for job_id in (*listed, fresh):
        assert emu.job_phase(PLATFORM, job_id) == "running"
        assert cancels(job_requests(emu, PLATFORM, job_id)) == []
