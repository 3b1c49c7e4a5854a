"""Vertex AI over plain HTTP: names, auth, pagination, filters, cancel semantics, errors."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from airflow_ft_provider.testing import Emulator, EmulatorConfig, Fault, JobScript

PARENT = "/v1/projects/my-proj/locations/us-central1/tuningJobs"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(private_pem: str, claims: dict, kid: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64(sig)}"


def grant(client: httpx.Client, assertion: str) -> httpx.Response:
    return client.post(
        "/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    )


@pytest.fixture
def vertex(api):
    return api["vertex_ai"]


@pytest.fixture
def client(hosts) -> httpx.Client:
    """Vertex AI's prefix with no credentials: the API and Google's OAuth token endpoint beside it."""
    return hosts["vertex_ai"]


def test_names_carry_the_project_number_and_paths_accept_both(emu, vertex):
    name = emu.seed("vertex_ai", project="my-proj", display_name="sft")
    assert name.startswith("projects/123456789012/locations/us-central1/tuningJobs/")
    job_id = name.rsplit("/", 1)[1]
    by_id = vertex.get(f"{PARENT}/{job_id}").json()
    by_number = vertex.get(f"/v1/{name}").json()
    assert by_id == by_number
    assert by_id["name"] == name
    assert by_id["tunedModelDisplayName"] == "sft"
    assert by_id["state"] == "JOB_STATE_RUNNING"
    assert by_id["createTime"].endswith("Z") and "startTime" in by_id and "endTime" not in by_id
    assert vertex.get(f"/v1beta1/{name}").status_code == 200
    assert emu.project_number("other-proj") == "123456789013"


def test_project_number_mapping_is_configurable():
    config = EmulatorConfig(vertex_project_numbers={"my-proj": "555"})
    with (
        Emulator(config) as emu,
        httpx.Client(base_url=emu.platform_url("vertex_ai"), headers={"Authorization": "Bearer x"}) as c,
    ):
        name = emu.seed("vertex_ai", project="my-proj")
        assert name.startswith("projects/555/")
        c.headers["Authorization"] = f"Bearer {emu.api_key('vertex_ai')}"
        assert c.get(f"/v1/projects/555/locations/us-central1/tuningJobs/{name.rsplit('/', 1)[1]}").status_code == 200


def test_a_job_lives_in_one_project_and_location(emu, vertex):
    name = emu.seed("vertex_ai", project="my-proj", location="europe-west4")
    job_id = name.rsplit("/", 1)[1]
    assert vertex.get(f"{PARENT}/{job_id}").status_code == 404
    assert vertex.get(f"/v1/projects/my-proj/locations/europe-west4/tuningJobs/{job_id}").status_code == 200
    assert vertex.get(PARENT).json() == {}  # empty list: proto3 JSON omits the empty field


def test_list_pagination(emu, vertex):
    seeded = emu.seed_many("vertex_ai", 25, project="my-proj")
    names, token, pages = [], None, 0
    while True:
        body = vertex.get(PARENT, params={"pageSize": 10, **({"pageToken": token} if token else {})}).json()
        names += [j["name"] for j in body["tuningJobs"]]
        pages += 1
        token = body.get("nextPageToken")
        if not token:
            break
    assert pages == 3
    assert names == seeded[::-1]  # newest first
    assert len(vertex.get(PARENT).json()["tuningJobs"]) == 25  # default page size 100
    bad = vertex.get(PARENT, params={"pageToken": "garbage!"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_list_filters(emu, vertex):
    running = emu.seed("vertex_ai", project="my-proj", labels={"team": "a"})
    emu.seed("vertex_ai", project="my-proj", labels={"team": "b"})
    done = emu.seed("vertex_ai", project="my-proj", script=JobScript(running_s=0), labels={"team": "a"})

    def names(expr: str) -> set[str]:
        return {j["name"] for j in vertex.get(PARENT, params={"filter": expr}).json().get("tuningJobs", [])}

    assert names('state="JOB_STATE_SUCCEEDED"') == {done}
    assert names('labels.team="a"') == {running, done}
    assert names('labels.team="a" AND state=JOB_STATE_RUNNING') == {running}
    assert names('state="JOB_STATE_SUCCEEDED" OR labels.team="b"') == names("labels.team:*") - {running}
    assert len(names('create_time>"2020-01-01T00:00:00Z"')) == 3  # unknown fields are ignored


def test_cancel_then_cancelling_then_cancelled(emu, vertex):
    name = emu.seed("vertex_ai", project="my-proj", script=JobScript(cancel_s=0.5))
    response = vertex.post(f"/v1/{name}:cancel")
    assert response.status_code == 200 and response.json() == {}
    job = vertex.get(f"/v1/{name}").json()
    assert job["state"] == "JOB_STATE_CANCELLING" and "error" not in job
    assert vertex.post(f"/v1/{name}:cancel", json={}).json() == {}  # idempotent while cancelling
    time.sleep(0.55)
    job = vertex.get(f"/v1/{name}").json()
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert job["error"] == {"code": 1, "message": "CANCELLED"}
    assert job["endTime"] >= job["startTime"]
    again = vertex.post(f"/v1/{name}:cancel")
    assert again.status_code == 400
    assert again.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert "JOB_STATE_CANCELLED" in again.json()["error"]["message"]


def test_cancel_race_ends_succeeded(emu, vertex):
    name = emu.seed("vertex_ai", project="my-proj", script=JobScript(cancel_s=0.1, cancel_outcome="succeeded"))
    vertex.post(f"/v1/{name}:cancel")
    time.sleep(0.15)
    job = vertex.get(f"/v1/{name}").json()
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert "error" not in job and job["tunedModel"]["model"].startswith("projects/123456789012/")


def test_failed_job_and_timeline(emu, vertex):
    name = emu.seed("vertex_ai", project="my-proj", script=JobScript(queued_s=0.5, running_s=0.5, end_state="failed"))
    assert vertex.get(f"/v1/{name}").json()["state"] == "JOB_STATE_QUEUED"
    time.sleep(0.5)
    assert vertex.get(f"/v1/{name}").json()["state"] == "JOB_STATE_RUNNING"
    time.sleep(0.5)
    job = vertex.get(f"/v1/{name}").json()
    assert job["state"] == "JOB_STATE_FAILED" and job["error"]["code"] == 13


def test_pinned_oddities(emu, vertex):
    expired = emu.seed("vertex_ai", project="my-proj", native_state="JOB_STATE_EXPIRED")
    weird = emu.seed("vertex_ai", project="my-proj", native_state="JOB_STATE_HIBERNATING", undocumented=True)
    assert vertex.get(f"/v1/{weird}").json()["state"] == "JOB_STATE_HIBERNATING"
    assert vertex.post(f"/v1/{expired}:cancel").status_code == 400
    assert vertex.post(f"/v1/{weird}:cancel").status_code == 200
    assert emu.job_state("vertex_ai", weird) == "JOB_STATE_CANCELLED"


def test_errors(emu, client, vertex):
    name = emu.seed("vertex_ai", project="my-proj")
    missing = client.get(f"/v1/{name}")
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "www-authenticate" in missing.headers
    bad = client.get(f"/v1/{name}", headers={"Authorization": "Bearer ya29.not-issued"})
    assert bad.status_code == 401
    nf = vertex.get(f"{PARENT}/42")
    assert nf.status_code == 404
    assert nf.json()["error"] == {
        "code": 404,
        "message": "The TuningJob projects/my-proj/locations/us-central1/tuningJobs/42 does not exist.",
        "status": "NOT_FOUND",
    }
    unknown = vertex.delete(f"/v1/{name}")
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"


def test_static_token_limited_to_allowed_projects():
    config = EmulatorConfig(vertex_allowed_projects=frozenset({"my-proj"}))
    with Emulator(config) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key('vertex_ai')}"}
        host = emu.platform_url("vertex_ai")
        ok = httpx.get(host + PARENT, headers=headers)
        by_number = httpx.get(host + "/v1/projects/123456789012/locations/us-central1/tuningJobs", headers=headers)
        denied = httpx.get(host + PARENT.replace("my-proj", "not-mine"), headers=headers)
    assert ok.status_code == by_number.status_code == 200
    assert denied.status_code == 403
    error = denied.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert "aiplatform.tuningJobs.list" in error["message"]
    assert error["details"][0]["reason"] == "IAM_PERMISSION_DENIED"


def test_token_endpoint_with_service_account_key(emu, client):
    info = emu.service_account_info("my-proj")
    assert info["type"] == "service_account" and info["token_uri"] == emu.platform_url("vertex_ai") + "/token"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    now = int(time.time())
    claims = {"iss": info["client_email"], "aud": "https://oauth2.googleapis.com/token", "iat": now, "exp": now + 3600}
    response = grant(client, jwt(info["private_key"], claims, info["private_key_id"]))
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert response.json()["token_type"] == "Bearer" and response.json()["expires_in"] > 0
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(PARENT, headers=headers).status_code == 200
    other = client.get(PARENT.replace("my-proj", "other-proj"), headers=headers)
    assert other.status_code == 403  # a key's token reaches its own project only
    # The token endpoint's body (a signed assertion) never reaches the request log.
    token_call = next(r for r in emu.requests("vertex_ai") if r.path == "/token")
    assert token_call.body is None and token_call.status == 200


def test_token_endpoint_refuses_forged_and_expired_assertions(emu, client):
    info = emu.service_account_info("my-proj")
    now = int(time.time())
    claims = {"iss": info["client_email"], "aud": "x", "iat": now, "exp": now + 3600}
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - fast; never trusted
    stranger_pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    forged = grant(client, jwt(stranger_pem, claims, info["private_key_id"]))
    assert forged.status_code == 400 and forged.json()["error"] == "invalid_grant"
    expired = grant(client, jwt(info["private_key"], {**claims, "exp": now - 3600}, info["private_key_id"]))
    assert expired.status_code == 400
    assert grant(client, "not-a-jwt").json()["error"] == "invalid_grant"
    wrong_grant = client.post("/token", data={"grant_type": "client_credentials"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


def test_self_signed_jwt_is_a_valid_bearer(emu, client):
    info = emu.service_account_info("my-proj")
    now = int(time.time())
    token = jwt(info["private_key"], {"iss": info["client_email"], "iat": now, "exp": now + 60}, info["private_key_id"])
    assert client.get(PARENT, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_create(emu, vertex):
    body = {
        "baseModel": "gemini-2.5-flash",
        "tunedModelDisplayName": "created",
        "labels": {"k": "v"},
        "supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl"},
    }
    job = vertex.post(PARENT, json=body).json()
    assert job["name"].startswith("projects/123456789012/locations/us-central1/tuningJobs/")
    assert job["labels"] == {"k": "v"} and job["state"] == "JOB_STATE_RUNNING"
    assert job["supervisedTuningSpec"] == {"trainingDatasetUri": "gs://b/t.jsonl"}
    assert vertex.post(PARENT, json={}).status_code == 400


def test_retry_info_on_429(emu, vertex):
    name = emu.seed("vertex_ai", project="my-proj")
    emu.inject("vertex_ai", Fault.status(429, retry_after=0.25))
    error = vertex.get(f"/v1/{name}").json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.25s"}]


def test_tokens_survive_reset_until_revoked(emu, client):
    info = emu.service_account_info("my-proj")
    now = int(time.time())
    claims = {"iss": info["client_email"], "aud": "x", "iat": now, "exp": now + 3600}
    token = grant(client, jwt(info["private_key"], claims, info["private_key_id"])).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    emu.reset()
    assert client.get(PARENT, headers=headers).status_code == 200
    emu.revoke_tokens()
    assert client.get(PARENT, headers=headers).status_code == 401
