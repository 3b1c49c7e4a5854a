"""Together fine-tunes over plain HTTP: unpaginated list, cancel_requested, events, errors."""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.testing import Fault, JobScript


@pytest.fixture
def together(api):
    return api["together"]


def test_list_is_unpaginated_and_truncated(emu, together):
    seeded = emu.seed_many("together", 30)
    body = together.get("/fine-tunes").json()
    assert set(body) == {"data"}
    assert [j["id"] for j in body["data"]] == seeded[::-1]
    assert all("events" not in j for j in body["data"])
    full = together.get(f"/fine-tunes/{seeded[0]}").json()
    assert full["status"] == "running" and full["events"][0]["type"] == "job_pending"
    assert full["id"].startswith("ft-") and full["created_at"].endswith("Z")


def test_cancel_requested_then_cancelled(emu, together):
    job_id = emu.seed("together", script=JobScript(cancel_s=0.5))
    response = together.post(f"/fine-tunes/{job_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancel_requested" and "events" not in response.json()
    assert together.post(f"/fine-tunes/{job_id}/cancel").json()["status"] == "cancel_requested"
    time.sleep(0.55)
    job = together.get(f"/fine-tunes/{job_id}").json()
    assert job["status"] == "cancelled"
    assert [e["type"] for e in job["events"]] == ["job_pending", "job_start", "cancel_requested", "job_stopped"]
    assert together.get(f"/fine-tunes/{job_id}/events").json()["data"] == job["events"]
    ended = together.post(f"/fine-tunes/{job_id}/cancel")
    assert ended.status_code == 400
    assert ended.json() == {
        "error": {
            "message": f"Fine-tune job {job_id} is already cancelled and cannot be cancelled.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


@pytest.mark.parametrize(
    ("script", "status"),
    [(JobScript(running_s=0), "completed"), (JobScript(running_s=0, end_state="failed"), "error")],
)
def test_end_states(emu, together, script, status):
    job_id = emu.seed("together", script=script)
    assert together.get(f"/fine-tunes/{job_id}").json()["status"] == status


def test_post_training_states_are_cancellable(emu, together):
    job_id = emu.seed("together", native_state="compressing", script=JobScript(cancel_s=0))
    assert together.get(f"/fine-tunes/{job_id}").json()["status"] == "compressing"
    assert together.post(f"/fine-tunes/{job_id}/cancel").json()["status"] == "cancelled"


def test_errors_and_retry_hints(emu, together, hosts):
    missing = together.get("/fine-tunes/ft-missing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    denied = hosts["together"].get("/v1/fine-tunes", headers={"Authorization": "Bearer wrong"})
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
    emu.inject("together", Fault.status(429, retry_after=1.5))
    limited = together.get("/fine-tunes")
    assert limited.status_code == 429
    assert (limited.headers["retry-after"], limited.headers["retry-after-ms"]) == ("2", "1500")
    assert set(limited.json()["error"]) == {"message", "type", "param", "code"}
    emu.inject("together", Fault.status(503))
    unavailable = together.get("/fine-tunes")
    assert unavailable.status_code == 503 and "retry-after" not in unavailable.headers


def test_create(emu, together):
    job = together.post("/fine-tunes", json={"model": "m", "training_file": "file-1", "suffix": "s"}).json()
    assert job["status"] == "running" and job["suffix"] == "s"
    assert together.post("/fine-tunes", json={"model": "m"}).status_code == 400
