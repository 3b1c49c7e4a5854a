"""Azure OpenAI's emulator over plain HTTP: both path styles, api-version, both credentials, errors."""

from __future__ import annotations

import httpx
import pytest

from airflow_ft_provider.testing import Fault, JobScript

PLATFORM = "azure_openai"
V1 = "/openai/v1/fine_tuning/jobs"
LEGACY = "/openai/fine_tuning/jobs"
VERSION = {"api-version": "2024-10-21"}


@pytest.fixture
def key(emu) -> dict[str, str]:
    return {"api-key": emu.api_key(PLATFORM)}


def test_the_endpoint_is_the_platforms_prefix(emu):
    assert emu.base_url(PLATFORM) == emu.platform_url(PLATFORM) == emu.url + "/azure_openai"


@pytest.fixture
def client(hosts) -> httpx.Client:
    """The resource endpoint: the platform's prefix, under which Azure's own paths follow."""
    return hosts[PLATFORM]


@pytest.mark.parametrize(("jobs", "query"), [(V1, {}), (LEGACY, VERSION)], ids=["v1", "legacy"])
def test_both_path_styles_read_list_and_cancel_the_same_jobs(emu, client, key, jobs, query):
    seeded = emu.seed_many(PLATFORM, 5, script=JobScript(running_s=None, cancel_s=5))
    assert all(i.startswith("ftjob-") and len(i) == 38 for i in seeded)
    job = client.get(f"{jobs}/{seeded[0]}", params=query, headers=key)
    assert job.status_code == 200 and job.headers["apim-request-id"]
    assert (job.json()["object"], job.json()["id"], job.json()["status"]) == ("fine_tuning.job", seeded[0], "running")
    ids, after = [], None
    while True:
        body = client.get(jobs, params={**query, "limit": 2, **({"after": after} if after else {})}, headers=key).json()
        ids += [j["id"] for j in body["data"]]
        if not body["has_more"]:
            break
        after = body["data"][-1]["id"]
    assert ids == seeded[::-1]
    cancelled = client.post(f"{jobs}/{seeded[0]}/cancel", params=query, headers=key)
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"{jobs}/{seeded[0]}/cancel", params=query, headers=key)
    assert again.status_code == 400 and set(again.json()["error"]) == {"code", "message"}
    assert "cancelled" in again.json()["error"]["message"]


def test_the_legacy_data_plane_refuses_a_request_without_a_dated_api_version(emu, client, key):
    job_id = emu.seed(PLATFORM)
    for path in (LEGACY, f"{LEGACY}/{job_id}"):
        missing = client.get(path, headers=key)
        assert missing.status_code == 404 and "api-version" in missing.json()["error"]["message"]
    refused = client.post(f"{LEGACY}/{job_id}/cancel", headers=key)
    assert refused.status_code == 404
    assert emu.job_state(PLATFORM, job_id) == "running"  # refused before the cancel ran
    undated = client.get(LEGACY, params={"api-version": "v1"}, headers=key)
    assert undated.status_code == 400 and "not supported" in undated.json()["error"]["message"]
    assert client.get(V1, headers=key).status_code == 200  # the v1 API takes none


def test_the_key_is_taken_as_api_key_or_as_a_bearer_token(emu, client):
    job_id = emu.seed(PLATFORM)
    valid = emu.api_key(PLATFORM)
    assert client.get(f"{V1}/{job_id}", headers={"api-key": valid}).status_code == 200
    assert client.get(f"{LEGACY}/{job_id}", params=VERSION, headers={"Authorization": f"Bearer {valid}"}).is_success
    for headers in ({}, {"api-key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": valid}):
        denied = client.get(f"{V1}/{job_id}", headers=headers)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "401" and "subscription key" in denied.json()["error"]["message"]


def test_errors_are_azures_body_with_retry_hints(emu, client, key):
    missing = client.get(f"{V1}/ftjob-nope", headers=key)
    assert missing.status_code == 404 and "ftjob-nope" in missing.json()["error"]["message"]
    emu.inject(PLATFORM, Fault.status(429, retry_after=1.5))
    throttled = client.get(V1, headers=key)
    assert throttled.status_code == 429 and set(throttled.json()["error"]) == {"code", "message"}
    assert (throttled.headers["retry-after"], throttled.headers["retry-after-ms"]) == ("2", "1500")
    assert throttled.headers["x-request-id"] == throttled.headers["apim-request-id"]


def test_pause_and_resume_read_paused_then_running(emu, client, key):
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert client.post(f"{V1}/{job_id}/pause", headers=key).json()["status"] == "paused"
    assert client.get(f"{LEGACY}/{job_id}", params=VERSION, headers=key).json()["status"] == "paused"
    assert client.post(f"{LEGACY}/{job_id}/resume", params=VERSION, headers=key).json()["status"] == "running"


def test_an_unknown_path_under_the_prefix_gets_azures_404(emu, client: httpx.Client, key):
    answer = client.delete(f"{V1}/ftjob-1", headers=key)
    assert answer.status_code == 404 and set(answer.json()["error"]) == {"code", "message"}
