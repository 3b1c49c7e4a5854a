"""OpenAI fine-tuning jobs over plain HTTP: cursor paging, immediate cancel, pause, errors."""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.testing import Fault, JobScript


@pytest.fixture
def oa(api):
    return api["openai"]


def test_list_cursor_pagination(emu, oa):
    seeded = emu.seed_many("openai", 45)
    ids, after, pages = [], None, 0
    while True:
        body = oa.get("/fine_tuning/jobs", params={"after": after} if after else {}).json()
        assert body["object"] == "list"
        ids += [j["id"] for j in body["data"]]
        pages += 1
        if not body["has_more"]:
            break
        after = body["data"][-1]["id"]
    assert pages == 3 and ids == seeded[::-1]  # limit 20 by default, newest first
    small = oa.get("/fine_tuning/jobs", params={"limit": 5}).json()
    assert len(small["data"]) == 5 and small["has_more"] is True
    assert oa.get("/fine_tuning/jobs", params={"limit": 0}).status_code == 400


def test_job_shape(emu, oa):
    job_id = emu.seed("openai", labels={"team": "a"}, created_ago_s=10)
    response = oa.get(f"/fine_tuning/jobs/{job_id}")
    assert response.headers["x-request-id"].startswith("req_")
    job = response.json()
    assert job["object"] == "fine_tuning.job" and job["id"] == job_id and job_id.startswith("ftjob-")
    assert job["status"] == "running" and job["finished_at"] is None and job["fine_tuned_model"] is None
    assert abs(job["created_at"] - (time.time() - 10)) < 2
    assert job["metadata"] == {"team": "a"}


def test_cancel_is_immediate(emu, oa):
    job_id = emu.seed("openai", script=JobScript(cancel_s=5))
    job = oa.post(f"/fine_tuning/jobs/{job_id}/cancel").json()
    assert job["status"] == "cancelled" and job["finished_at"] is not None
    assert emu.job_phase("openai", job_id) == "cancelling"  # the script still runs out its cancel_s
    again = oa.post(f"/fine_tuning/jobs/{job_id}/cancel")
    assert again.status_code == 400
    error = again.json()["error"]
    assert error["type"] == "invalid_request_error" and "cancelled" in error["message"]


def test_cancel_race_keeps_running_then_succeeds(emu, oa):
    job_id = emu.seed("openai", script=JobScript(cancel_s=0.5, cancel_outcome="succeeded"))
    assert oa.post(f"/fine_tuning/jobs/{job_id}/cancel").json()["status"] == "running"
    assert oa.post(f"/fine_tuning/jobs/{job_id}/cancel").json()["status"] == "running"
    time.sleep(0.55)
    job = oa.get(f"/fine_tuning/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["fine_tuned_model"].startswith("ft:")


def test_queued_validating_failed(emu, oa):
    queued = emu.seed("openai", script=JobScript(queued_s=60))
    validating = emu.seed("openai", script=JobScript(pending_s=60))
    failed = emu.seed("openai", script=JobScript(running_s=0, end_state="failed"))
    assert oa.get(f"/fine_tuning/jobs/{queued}").json()["status"] == "queued"
    assert oa.get(f"/fine_tuning/jobs/{validating}").json()["status"] == "validating_files"
    job = oa.get(f"/fine_tuning/jobs/{failed}").json()
    assert job["status"] == "failed" and job["error"]["message"]


def test_pause_resume_and_events(emu, oa):
    job_id = emu.seed("openai", script=JobScript(cancel_s=0))
    assert oa.post(f"/fine_tuning/jobs/{job_id}/resume").status_code == 400
    assert oa.post(f"/fine_tuning/jobs/{job_id}/pause").json()["status"] == "paused"
    assert oa.post(f"/fine_tuning/jobs/{job_id}/resume").json()["status"] == "running"
    oa.post(f"/fine_tuning/jobs/{job_id}/pause")
    assert oa.post(f"/fine_tuning/jobs/{job_id}/cancel").json()["status"] == "cancelled"  # paused is cancellable
    events = oa.get(f"/fine_tuning/jobs/{job_id}/events").json()
    assert events["object"] == "list" and events["has_more"] is False
    assert events["data"][0]["message"] == "Fine-tuning job cancelled"
    first = oa.get(f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1}).json()
    rest = oa.get(f"/fine_tuning/jobs/{job_id}/events", params={"after": first["data"][0]["id"]}).json()
    assert first["has_more"] and [e["id"] for e in first["data"] + rest["data"]] == [e["id"] for e in events["data"]]


def test_errors(emu, oa, hosts):
    missing = oa.get("/fine_tuning/jobs/ftjob-missing")
    assert missing.status_code == 404 and missing.headers["x-request-id"]
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    no_key = hosts["openai"].get("/v1/fine_tuning/jobs")
    bad_key = hosts["openai"].get("/v1/fine_tuning/jobs", headers={"Authorization": "Bearer sk-wrong"})
    assert no_key.status_code == bad_key.status_code == 401
    assert bad_key.json()["error"]["code"] == "invalid_api_key"
    assert "sk-wrong" not in bad_key.text


def test_two_kinds_of_429(emu, oa):
    emu.inject("openai", Fault.status(429, retry_after=0.5))
    limited = oa.get("/fine_tuning/jobs")
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.headers["retry-after-ms"] == "500" and limited.headers["retry-after"] == "1"
    emu.inject("openai", Fault.status(429, error_code="insufficient_quota"))
    quota = oa.get("/fine_tuning/jobs")
    assert quota.json()["error"]["code"] == quota.json()["error"]["type"] == "insufficient_quota"
    assert "retry-after" not in quota.headers


def test_organization_and_project_headers_are_logged(emu, oa):
    oa.get("/fine_tuning/jobs", headers={"OpenAI-Organization": "org-1", "OpenAI-Project": "proj-1"})
    record = emu.requests("openai")[-1]
    assert record.headers["openai-organization"] == "org-1" and record.headers["openai-project"] == "proj-1"
    assert record.headers["authorization"] == "Bearer ***"


def test_create(emu, oa):
    job = oa.post("/fine_tuning/jobs", json={"model": "gpt-4o-mini", "training_file": "file-1"}).json()
    assert job["status"] == "running" and job["model"] == "gpt-4o-mini"
    assert oa.post("/fine_tuning/jobs", json={}).status_code == 400
