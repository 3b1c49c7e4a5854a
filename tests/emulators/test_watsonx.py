"""The watsonx.ai emulator over HTTP: IAM's token endpoint and its refusals, the API's 401s, the
version and scope every call needs, the timeline and the DELETE that cancels (or, with
``hard_delete``, erases an ended job), ``next.href`` pages, every state of the table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_ft_provider.platforms.watsonx import DEFAULT_VERSION, GRANT_TYPE_APIKEY, STATES
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.platforms.watsonx import DEFAULT_PROJECT_ID, IAM_TOKEN_PATH, SPEC
from tests.emulators.conftest import TLS

PLATFORM = "watsonx"
SCOPE = {"version": DEFAULT_VERSION, "project_id": DEFAULT_PROJECT_ID}


@pytest.fixture
def host(emu: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.platform_url(PLATFORM), timeout=10, verify=TLS) as client:
        yield client


@pytest.fixture
def api(emu: Any, host: httpx.Client) -> httpx.Client:
    """The host with a token IAM issued for the valid key."""
    token = host.post(IAM_TOKEN_PATH, data={"grant_type": GRANT_TYPE_APIKEY, "apikey": emu.api_key(PLATFORM)})
    host.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return host


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"grant_type": GRANT_TYPE_APIKEY, "apikey": "not-the-key"}, "BXNIM0415E"),
        ({"grant_type": GRANT_TYPE_APIKEY}, "BXNIM0109E"),
        ({"grant_type": "password", "apikey": "x"}, "BXNIM0103E"),
    ],
)
def test_iam_refuses_with_its_own_body(host, form, code):
    answer = host.post(IAM_TOKEN_PATH, data=form)
    assert answer.status_code == 400
    body = answer.json()
    assert body["errorCode"] == code and body["errorMessage"] and body["context"]["requestType"]


def test_iam_issues_a_jwt_with_its_expiry(emu, host):
    answer = host.post(IAM_TOKEN_PATH, data={"grant_type": GRANT_TYPE_APIKEY, "apikey": emu.api_key(PLATFORM)})
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert abs(body["expiration"] - (time.time() + 3600)) < 5
    assert body["access_token"].count(".") == 2


@pytest.mark.parametrize("credential", [None, "the-api-key", "forged.jwt.token"])
def test_the_api_takes_only_iams_tokens(emu, host, credential):
    headers = (
        {}
        if credential is None
        else {"Authorization": f"Bearer {emu.api_key(PLATFORM) if credential == 'the-api-key' else credential}"}
    )
    answer = host.get("/ml/v1/fine_tunings", params=SCOPE, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "authorization_rejected"


def test_an_expired_token_gets_ibms_expired_body(emu, host, monkeypatch):
    monkeypatch.setattr(SPEC, "token_lifetime_s", 0.3)
    token = SPEC.issue_token()["access_token"]
    time.sleep(0.4)
    answer = host.get("/ml/v1/fine_tunings", params=SCOPE, headers={"Authorization": f"Bearer {token}"})
    body = answer.json()
    assert (answer.status_code, body["status_code"]) == (401, 401)
    assert body["errors"][0] == {
        "code": "authentication_token_expired",
        "message": "Failed to authenticate the request due to an expired token",
        "more_info": "https://cloud.ibm.com/apidocs/watsonx-ai",
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"project_id": DEFAULT_PROJECT_ID}, "missing_version"),
        ({"version": DEFAULT_VERSION}, "invalid_scope"),
        ({**SCOPE, "space_id": "s"}, "invalid_scope"),
    ],
)
def test_every_call_needs_its_version_and_one_scope(api, params, code):
    answer = api.get("/ml/v1/fine_tunings", params=params)
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == code


def test_a_job_of_another_project_or_space_is_missing(emu, api):
    job_id = emu.seed(PLATFORM, space_id="space-9")
    assert api.get(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE).status_code == 404
    in_space = api.get(f"/ml/v1/fine_tunings/{job_id}", params={"version": DEFAULT_VERSION, "space_id": "space-9"})
    assert in_space.status_code == 200 and in_space.json()["metadata"]["space_id"] == "space-9"


def test_cancel_is_a_delete_answered_204_then_refused_once_ended(emu, api):
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert api.get(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE).json()["entity"]["status"]["state"] == "running"
    first = api.delete(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE)
    assert (first.status_code, first.content) == (204, b"")
    record = api.get(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE).json()
    assert record["entity"]["status"]["state"] == "canceled" and "completed_at" in record["entity"]["status"]
    again = api.delete(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE)
    assert again.status_code == 400
    assert "Job already completed with state canceled" in again.json()["errors"][0]["message"]
    # What ibm-watsonx-ai's hard_delete does: the ended job's record is gone.
    erased = api.delete(f"/ml/v1/fine_tunings/{job_id}", params={**SCOPE, "hard_delete": "true"})
    assert erased.status_code == 204
    assert api.get(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE).status_code == 404


def test_hard_delete_of_a_running_job_is_refused(emu, api):
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert api.delete(f"/ml/v1/fine_tunings/{job_id}", params={**SCOPE, "hard_delete": "true"}).status_code == 400
    assert emu.job_phase(PLATFORM, job_id) == "running"


def test_pages_name_the_next_whole_url(emu, api):
    ids = emu.seed_many(PLATFORM, 5, script=JobScript(running_s=None))
    seen: list[str] = []
    url: str | None = "/ml/v1/fine_tunings"
    params: dict[str, str] | None = {**SCOPE, "limit": "2"}
    while url is not None:
        body = api.get(url, params=params).json()
        seen += [item["metadata"]["id"] for item in body["resources"]]
        url, params = body.get("next", {}).get("href"), None
        assert url is None or (url.startswith(emu.platform_url(PLATFORM)) and "start=" in url and "version=" in url)
    assert seen == ids[::-1]


@pytest.mark.parametrize("native", sorted(STATES))
def test_every_state_of_the_table_is_shown(emu, api, native):
    job_id = emu.seed(PLATFORM, native_state=native)
    record = api.get(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE).json()
    assert record["entity"]["status"]["state"] == native


def test_the_timeline_walks_queued_pending_running_completed(emu, api):
    job_id = emu.seed(PLATFORM, script=JobScript(queued_s=0.3, pending_s=0.3, running_s=0.3))
    shown = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not shown or shown[-1] != "completed"):
        state = api.get(f"/ml/v1/fine_tunings/{job_id}", params=SCOPE).json()["entity"]["status"]["state"]
        if not shown or shown[-1] != state:
            shown.append(state)
        time.sleep(0.05)
    assert shown[-1] == "completed" and set(shown) <= {"queued", "pending", "running", "completed"}
