"""DashScope fine-tunes over plain HTTP: envelope, China time, paging, cancel, errors, workspaces."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from airflow_ft_provider.testing import Fault, JobScript


@pytest.fixture
def ds(api):
    return api["dashscope"]


def test_get_envelope_and_time_format(emu, ds):
    job_id = emu.seed("dashscope", display_name="sft", base_model="qwen3-14b", created_ago_s=3600)
    assert re.fullmatch(r"ft-\d{12}-[0-9a-f]{4}", job_id)
    body = ds.get(f"/fine-tunes/{job_id}").json()
    assert set(body) == {"request_id", "output"}
    job = body["output"]
    assert job["job_id"] == job_id and job["status"] == "RUNNING" and job["model"] == "qwen3-14b"
    created = datetime.strptime(job["create_time"], "%Y-%m-%d %H:%M:%S")  # no zone: China Standard Time
    expected = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=8) - timedelta(hours=1)
    assert abs((created - expected).total_seconds()) < 5
    assert "end_time" not in job and "finetuned_output" not in job


def test_succeeded_and_failed(emu, ds):
    done = ds.get(f"/fine-tunes/{emu.seed('dashscope', script=JobScript(running_s=0))}").json()["output"]
    assert done["status"] == "SUCCEEDED" and done["finetuned_output"] and done["end_time"]
    failed = emu.seed("dashscope", script=JobScript(running_s=0, end_state="failed"), error_message="bad data")
    job = ds.get(f"/fine-tunes/{failed}").json()["output"]
    assert job["status"] == "FAILED" and job["message"] == "bad data"


def test_list_paging(emu, ds):
    seeded = emu.seed_many("dashscope", 23)
    page = ds.get("/fine-tunes", params={"page_no": 3, "page_size": 10}).json()["output"]
    assert (page["page_no"], page["page_size"], page["total"]) == (3, 10, 23)
    assert [j["job_id"] for j in page["jobs"]] == seeded[::-1][20:]
    default = ds.get("/fine-tunes").json()["output"]
    assert (default["page_no"], default["page_size"], len(default["jobs"])) == (1, 10, 10)
    for bad in ({"page_size": 0}, {"page_size": 101}, {"page_no": 0}, {"page_size": "x"}):
        response = ds.get("/fine-tunes", params=bad)
        assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"


def test_cancel_canceling_canceled(emu, ds):
    job_id = emu.seed("dashscope", script=JobScript(cancel_s=0.5))
    body = ds.post(f"/fine-tunes/{job_id}/cancel").json()
    assert body["output"] == {"status": "success"} and body["request_id"]
    assert ds.get(f"/fine-tunes/{job_id}").json()["output"]["status"] == "CANCELING"
    second = ds.post(f"/fine-tunes/{job_id}/cancel")  # a second cancel is refused, as documented
    assert second.status_code == 400 and second.json()["code"] == "UnsupportedOperation"
    time.sleep(0.55)
    job = ds.get(f"/fine-tunes/{job_id}").json()["output"]
    assert job["status"] == "CANCELED" and job["end_time"]
    assert job["code"] == "1"  # a job-level code on a cancelled job is not a request error
    ended = ds.post(f"/fine-tunes/{job_id}/cancel")
    assert ended.status_code == 400 and ended.json()["code"] == "UnsupportedOperation"


def test_errors(emu, ds, hosts):
    missing = ds.get("/fine-tunes/ft-nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NotFound" and missing.json()["message"] == "Not Found!"
    assert missing.json()["request_id"]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        denied = hosts["dashscope"].get("/api/v1/fine-tunes", headers=headers)
        assert denied.status_code == 401 and denied.json()["code"] == "InvalidApiKey"
    emu.inject("dashscope", Fault.status(429))
    throttled = ds.get("/fine-tunes")
    assert throttled.status_code == 429 and throttled.json()["code"] == "Throttling"
    assert "retry-after" not in throttled.headers  # DashScope documents no hint
    emu.inject("dashscope", Fault.status(429, error_code="Throttling.RateQuota"))
    assert ds.get("/fine-tunes").json()["code"] == "Throttling.RateQuota"


def test_workspace_header(emu, ds):
    private = emu.seed("dashscope", workspace="ws-a")
    public = emu.seed("dashscope")
    assert ds.get(f"/fine-tunes/{private}").status_code == 404
    assert ds.get(f"/fine-tunes/{private}", headers={"X-DashScope-WorkSpace": "ws-b"}).status_code == 404
    seen = ds.get(f"/fine-tunes/{private}", headers={"X-DashScope-WorkSpace": "ws-a"}).json()["output"]
    assert seen["workspace_id"] == "ws-a"
    assert ds.get("/fine-tunes").json()["output"]["total"] == 1
    listed = ds.get("/fine-tunes", headers={"X-DashScope-WorkSpace": "ws-a"}).json()["output"]
    assert {j["job_id"] for j in listed["jobs"]} == {private, public}
    assert ds.post(f"/fine-tunes/{private}/cancel").status_code == 404


def test_logs_delete_create_and_pinned(emu, ds):
    job_id = emu.seed("dashscope", script=JobScript(running_s=0))
    logs = ds.get(f"/fine-tunes/{job_id}/logs", params={"offset": 0, "line": 100}).json()["output"]
    assert logs["total"] == 3 and "SUCCEEDED" in logs["logs"][-1]
    assert ds.delete(f"/fine-tunes/{job_id}").json()["output"] == {"status": "success"}
    assert ds.get(f"/fine-tunes/{job_id}").status_code == 404
    created = ds.post("/fine-tunes", json={"model": "qwen3-8b", "training_file_ids": ["f"]}).json()["output"]
    assert created["status"] == "RUNNING" and created["model"] == "qwen3-8b"
    suspended = emu.seed("dashscope", native_state="SUSPENDED")
    assert ds.get(f"/fine-tunes/{suspended}").json()["output"]["status"] == "SUSPENDED"
