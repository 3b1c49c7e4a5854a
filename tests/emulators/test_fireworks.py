"""Fireworks AI fine-tuning jobs over plain HTTP: three collections, page tokens, :cancel, errors."""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.platforms.fireworks import COLLECTIONS, STATES
from airflow_ft_provider.testing import Fault, JobScript
from tests.emulators.conftest import auth_headers

ACCOUNT = "emulator-account"
ROOT = f"/v1/accounts/{ACCOUNT}"


@pytest.fixture
def fireworks(api):
    return api["fireworks"]


def test_each_kind_of_job_lives_in_its_own_collection(emu, fireworks):
    seeded = {kind: emu.seed_many("fireworks", 2, kind=kind) for kind in COLLECTIONS}
    for kind, names in seeded.items():
        body = fireworks.get(f"{ROOT}/{kind}").json()
        assert set(body) == {kind, "totalSize"}
        assert [job["name"] for job in body[kind]] == names[::-1] and body["totalSize"] == 2
        assert all(name.startswith(f"accounts/{ACCOUNT}/{kind}/") for name in names)
    sft, dpo = seeded["supervisedFineTuningJobs"][0], seeded["dpoJobs"][0]
    assert fireworks.get(f"/v1/{sft}").json()["name"] == sft
    # A job is found in its own collection only.
    other = sft.replace("supervisedFineTuningJobs", "dpoJobs")
    missing = fireworks.get(f"/v1/{other}")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    assert "trainingConfig" in fireworks.get(f"/v1/{dpo}").json()


def test_an_empty_collection_leaves_its_array_out(emu, fireworks):
    assert fireworks.get(f"{ROOT}/dpoJobs").json() == {"totalSize": 0}


def test_page_tokens_and_the_largest_page(emu, fireworks):
    names = emu.seed_many("fireworks", 205, kind="reinforcementFineTuningJobs", script=JobScript(running_s=None))
    first = fireworks.get(f"{ROOT}/reinforcementFineTuningJobs", params={"pageSize": 1000}).json()
    assert len(first["reinforcementFineTuningJobs"]) == 200 and first["totalSize"] == 205  # above 200: 200
    rest = fireworks.get(
        f"{ROOT}/reinforcementFineTuningJobs", params={"pageSize": 1000, "pageToken": first["nextPageToken"]}
    ).json()
    assert "nextPageToken" not in rest
    listed = [j["name"] for j in first["reinforcementFineTuningJobs"] + rest["reinforcementFineTuningJobs"]]
    assert listed == names[::-1]
    default = fireworks.get(f"{ROOT}/reinforcementFineTuningJobs").json()
    assert len(default["reinforcementFineTuningJobs"]) == 50  # the documented default
    bad = fireworks.get(f"{ROOT}/reinforcementFineTuningJobs", params={"pageToken": "garbage!"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_cancel_goes_through_cancelling_to_cancelled(emu, fireworks):
    name = emu.seed("fireworks", kind="dpoJobs", script=JobScript(running_s=None, cancel_s=0.4))
    answer = fireworks.post(f"/v1/{name}:cancel", json={})
    assert (answer.status_code, answer.json()) == (200, {})
    job = fireworks.get(f"/v1/{name}").json()
    assert job["state"] == "JOB_STATE_CANCELLING" and "completedTime" not in job
    assert fireworks.post(f"/v1/{name}:cancel", json={}).status_code == 200  # again while cancelling
    time.sleep(0.45)
    job = fireworks.get(f"/v1/{name}").json()
    assert job["state"] == "JOB_STATE_CANCELLED" and job["status"]["code"] == "CANCELLED" and job["completedTime"]
    refused = fireworks.post(f"/v1/{name}:cancel", json={})
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_a_finished_supervised_job_and_its_estimated_cost(emu, fireworks):
    name = emu.seed("fireworks", display_name="sft", script=JobScript(running_s=0))
    job = fireworks.get(f"/v1/{name}").json()
    assert (job["state"], job["displayName"], job["status"]["code"]) == ("JOB_STATE_COMPLETED", "sft", "OK")
    assert job["estimatedCost"] == {"currencyCode": "USD", "units": "12", "nanos": 400000000}
    assert job["outputModel"].startswith(f"accounts/{ACCOUNT}/models/") and job["createTime"].endswith("Z")
    failed = emu.seed("fireworks", script=JobScript(running_s=0, end_state="failed"), error_message="bad dataset")
    assert fireworks.get(f"/v1/{failed}").json()["status"] == {"code": "INTERNAL", "message": "bad dataset"}


@pytest.mark.parametrize("native", sorted(STATES))
def test_every_state_of_the_table_can_be_shown(emu, fireworks, native):
    name = emu.seed("fireworks", kind="reinforcementFineTuningJobs", native_state=native)
    assert fireworks.get(f"/v1/{name}").json()["state"] == native
    cancel = fireworks.post(f"/v1/{name}:cancel", json={})
    assert cancel.status_code == (400 if native in STATES.ended else 200)


def test_a_filter_on_state(emu, fireworks):
    running = emu.seed("fireworks", script=JobScript(running_s=None))
    emu.seed("fireworks", script=JobScript(running_s=0))
    body = fireworks.get(f"{ROOT}/supervisedFineTuningJobs", params={"filter": 'state="JOB_STATE_RUNNING"'}).json()
    assert [j["name"] for j in body["supervisedFineTuningJobs"]] == [running]


def test_a_wrong_key_is_unauthenticated(emu, hosts):
    response = hosts["fireworks"].get(f"{ROOT}/dpoJobs", headers=auth_headers(emu, "fireworks", "fw-wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": 401,
        "message": "unauthenticated: invalid API key",
        "status": "UNAUTHENTICATED",
    }
    assert hosts["fireworks"].get(f"{ROOT}/dpoJobs").status_code == 401  # no key at all


def test_throttling_answers_google_status_with_its_retry_delay(emu, fireworks):
    emu.inject("fireworks", Fault.status(429, retry_after=1.5, count=1))
    limited = fireworks.get(f"{ROOT}/supervisedFineTuningJobs")
    assert limited.status_code == 429 and limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert limited.json()["error"]["details"][0]["retryDelay"] == "1.5s"
    assert fireworks.get(f"{ROOT}/supervisedFineTuningJobs").status_code == 200


def test_a_quota_counts_per_account_across_its_collections(emu, fireworks):
    emu.set_quota("fireworks", 2, per="project")
    statuses = [fireworks.get(f"{ROOT}/{kind}").status_code for kind in COLLECTIONS]
    assert statuses == [200, 200, 429]
    assert fireworks.get("/v1/accounts/another-account/dpoJobs").status_code == 200  # its own budget
    assert "project emulator-account" in (emu.requests("fireworks")[2].throttle or "")
