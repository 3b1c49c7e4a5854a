"""Replicate trainings over plain HTTP: next-URL pages, the cancel path, every state, problem details."""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.testing import Fault, JobScript

NEVER_ENDS = JobScript(running_s=None)
PROBLEM = "application/problem+json"


@pytest.fixture
def replicate(api):
    return api["replicate"]


def test_pages_of_100_linked_by_next_urls_on_the_emulators_prefix(emu, replicate):
    seeded = emu.seed_many("replicate", 250, script=NEVER_ENDS)
    pages, url = [], "/v1/trainings"
    while url is not None:
        body = replicate.get(url).json()
        assert set(body) == {"results", "next"}
        pages.append([t["id"] for t in body["results"]])
        url = body["next"]
        assert url is None or url.startswith(emu.platform_url("replicate") + "/v1/trainings?cursor=")
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == seeded[::-1]  # newest first
    assert all(len(i) == 26 and i.isalnum() and i.islower() for i in seeded)


def test_an_unreadable_cursor_is_a_problem(emu, replicate):
    answer = replicate.get("/v1/trainings", params={"cursor": "!!"})
    assert (answer.status_code, answer.headers["content-type"]) == (400, PROBLEM)
    assert answer.json() == {"detail": "Invalid page token.", "status": 400}


def test_a_cancel_reads_canceled_at_once(emu, replicate):
    training_id = emu.seed("replicate", display_name="sft", script=NEVER_ENDS)
    running = replicate.get(f"/v1/trainings/{training_id}").json()
    assert (running["status"], running["completed_at"], running["metrics"]) == ("processing", None, {})
    assert running["urls"]["cancel"] == f"{emu.platform_url('replicate')}/v1/trainings/{training_id}/cancel"
    answer = replicate.post(f"/v1/trainings/{training_id}/cancel")
    assert answer.status_code == 200
    cancelled = answer.json()
    assert cancelled["status"] == "canceled" and cancelled["completed_at"] is not None
    assert set(cancelled["metrics"]) == {"predict_time", "total_time"} and cancelled["output"] is None
    assert replicate.get(f"/v1/trainings/{training_id}").json()["status"] == "canceled"


def test_a_cancel_that_loses_the_race_reads_processing_then_the_end(emu, replicate):
    script = JobScript(running_s=None, cancel_s=0.3, cancel_outcome="succeeded")
    training_id = emu.seed("replicate", display_name="Nightly SFT", script=script)
    assert replicate.post(f"/v1/trainings/{training_id}/cancel").json()["status"] == "processing"
    time.sleep(0.35)
    done = replicate.get(f"/v1/trainings/{training_id}").json()
    assert done["status"] == "succeeded"
    assert done["output"]["version"].startswith("emulator/nightly-sft:")


def test_a_cancel_of_an_ended_training_answers_it_as_it_is(emu, replicate):
    training_id = emu.seed("replicate", script=JobScript(running_s=0))
    before = replicate.get(f"/v1/trainings/{training_id}").json()
    answer = replicate.post(f"/v1/trainings/{training_id}/cancel")
    assert answer.status_code == 200 and answer.json() == before
    assert before["status"] == "succeeded"


@pytest.mark.parametrize(
    ("seed", "status"),
    [
        ({"script": JobScript(queued_s=60)}, "starting"),
        ({"script": JobScript(pending_s=60)}, "starting"),
        ({"script": NEVER_ENDS}, "processing"),
        ({"script": JobScript(running_s=0)}, "succeeded"),
        ({"script": JobScript(running_s=0, end_state="failed"), "error_message": "CUDA out of memory"}, "failed"),
        ({"native_state": "aborted"}, "aborted"),
        ({"native_state": "canceled"}, "canceled"),
    ],
)
def test_every_state_of_the_table(emu, replicate, seed, status):
    training = replicate.get(f"/v1/trainings/{emu.seed('replicate', **seed)}").json()
    assert training["status"] == status
    assert (training["started_at"] is None) is (status == "starting")
    if status == "failed":
        assert training["error"] == "CUDA out of memory"


def test_problem_details(emu, replicate, hosts):
    missing = replicate.get("/v1/trainings/zz4ibbonubfz7carwiefibzgga")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    assert missing.json() == {"detail": "Not found.", "status": 404}
    host = hosts["replicate"]
    for header in ({}, {"Authorization": "Bearer wrong"}):
        refused = host.get("/v1/trainings", headers=header)
        assert refused.status_code == 401
        assert refused.json() == {
            "title": "Unauthenticated",
            "detail": "You did not pass a valid authentication token",
            "status": 401,
        }
    # Replicate's older examples send the token as "Token <token>".
    assert host.get("/v1/trainings", headers={"Authorization": f"Token {emu.api_key('replicate')}"}).status_code == 200


def test_throttling_carries_retry_after(emu, replicate):
    emu.inject("replicate", Fault.status(429, retry_after=1.5))
    limited = replicate.get("/v1/trainings")
    assert (limited.status_code, limited.headers["retry-after"], limited.headers["content-type"]) == (429, "2", PROBLEM)
    assert "retry-after-ms" not in limited.headers
    assert limited.json() == {"detail": "Request was throttled. Your rate limit resets in ~2s.", "status": 429}
    emu.set_quota("replicate", 1, per="key")
    assert [replicate.get("/v1/trainings").status_code for _ in range(2)] == [200, 429]
    emu.set_quota("replicate", None)


def test_trainings_are_not_created_at_the_collection(emu, replicate):
    """Replicate creates a training under the model version it trains, a path not served here."""
    assert replicate.post("/v1/trainings", json={"destination": "me/model"}).status_code == 404
