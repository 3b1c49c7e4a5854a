"""The ``/_emulator`` admin API, over HTTP and through RemoteEmulator."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from airflow_ft_provider.testing import Fault, JobScript, RemoteEmulator, admin


@pytest.fixture
def remote(emu):
    with RemoteEmulator(emu.url) as r:
        yield r


def test_config_health_and_addresses(emu, client, remote):
    config = client.get("/_emulator/config").json()
    assert config["url"] == emu.url
    assert config["base_urls"] == {p.value: emu.base_url(p) for p in emu.platforms}
    assert config["platform_urls"] == {p.value: emu.platform_url(p) for p in emu.platforms}
    assert config["api_keys"]["openai"] == emu.api_key("openai")
    assert remote.healthy()
    assert remote.base_url("dashscope") == emu.base_url("dashscope")
    assert remote.platform_url("dashscope") == emu.platform_url("dashscope")
    assert remote.api_key("together") == emu.api_key("together")
    assert client.get("/_emulator/health").json() == {"status": "ok"}
    assert emu.requests() == []  # the admin API is never logged


def test_seed_state_and_pin_over_http(emu, client):
    body = {"platform": "openai", "n": 3, "display_name": "x", "script": {"running_s": None, "cancel_s": 1}}
    ids = client.post("/_emulator/seed", json=body).json()["job_ids"]
    assert len(ids) == 3 and ids[0] == emu.jobs("openai")[-1]["job_id"]
    one = client.post("/_emulator/seed", json={"platform": "vertex_ai", "project": "p"}).json()["job_ids"][0]
    assert one.startswith("projects/123456789012/locations/us-central1/tuningJobs/")
    state = client.get("/_emulator/job", params={"platform": "vertex_ai", "job_id": one}).json()
    assert state == {"platform": "vertex_ai", "job_id": one, "phase": "running", "native_state": "JOB_STATE_RUNNING"}
    pin = {"platform": "openai", "job_id": ids[0], "native_state": "paused"}
    assert client.post("/_emulator/job-state", json=pin).json() == {"ok": True}
    assert emu.job_state("openai", ids[0]) == "paused"
    listed = client.get("/_emulator/jobs", params={"platform": "openai"}).json()["jobs"]
    assert {j["native_state"] for j in listed} == {"paused", "running"}


def test_admin_errors(client):
    assert client.post("/_emulator/seed", json={"platform": "nope"}).status_code == 400
    assert client.post("/_emulator/seed", json={"platform": "openai", "colour": "red"}).status_code == 400
    assert client.post("/_emulator/seed", content=b"{not json").status_code == 400
    missing = client.get("/_emulator/job", params={"platform": "openai", "job_id": "ftjob-x"})
    assert missing.status_code == 404
    assert client.post("/_emulator/faults", json={"platform": "openai", "kind": "explode"}).status_code == 400
    typo = {"platform": "openai", "kind": "status", "status": 500, "cuont": 2}
    assert client.post("/_emulator/faults", json=typo).status_code == 400
    bad_script = {"platform": "openai", "script": {"running": 5}}
    assert client.post("/_emulator/seed", json=bad_script).status_code == 400


def test_faults_latency_limits_log_reset_over_http(emu, client, api):
    fault = {"platform": "together", "kind": "status", "status": 503, "count": 2}
    assert client.post("/_emulator/faults", json=fault).json() == {"ok": True}
    pending = client.get("/_emulator/faults").json()["faults"]
    assert pending[0]["platform"] == "together" and pending[0]["remaining"] == 2
    assert api["together"].get("/fine-tunes").status_code == 503
    assert client.get("/_emulator/faults").json()["faults"][0]["remaining"] == 1
    client.delete("/_emulator/faults", params={"platform": "together"})
    assert api["together"].get("/fine-tunes").status_code == 200
    client.post("/_emulator/rate-limit", json={"platform": "openai", "per_second": 1, "burst": 1})
    assert [api["openai"].get("/fine_tuning/jobs").status_code for _ in range(2)] == [200, 429]
    client.post("/_emulator/latency", json={"seconds": 0.01})
    assert client.get("/_emulator/config").json()["latency"] == {"default": 0.01}
    log = client.get("/_emulator/requests", params={"platform": "openai"}).json()["requests"]
    assert [r["status"] for r in log] == [200, 429] and log[1]["fault"] == "rate_limit"
    assert log[0]["headers"]["authorization"] == "Bearer ***"
    client.delete("/_emulator/requests")
    assert client.get("/_emulator/requests").json()["requests"] == []
    emu.seed("gemini")
    client.post("/_emulator/reset")
    assert emu.jobs() == [] and emu.latency == {} and emu.limiter.limits() == {}


def test_remote_emulator_mirrors_the_controller(emu, remote):
    job_id = remote.seed("dashscope", script=JobScript(cancel_s=5), workspace="ws")
    assert remote.job_state("dashscope", job_id) == "RUNNING"
    assert remote.job_phase("dashscope", job_id) == "running"
    remote.set_native_state("dashscope", job_id, "SUSPENDED")
    assert emu.job_state("dashscope", job_id) == "SUSPENDED"
    assert len(remote.seed_many("together", 4)) == 4 and len(remote.jobs("together")) == 4
    remote.inject("openai", Fault.status(429, retry_after=0.1, error_code="rate_limit_exceeded"))
    remote.set_latency(0.0, platform="openai")
    remote.set_rate_limit("gemini", 100)
    headers = {"Authorization": f"Bearer {remote.api_key('openai')}"}
    limited = httpx.get(remote.base_url("openai") + "/fine_tuning/jobs", headers=headers)
    assert limited.status_code == 429
    records = remote.requests("openai")
    assert len(records) == 1 and records[0].status == 429 and records[0].platform == "openai"
    remote.clear_requests()
    assert remote.requests() == []
    info = remote.service_account_info("p")
    assert info["token_uri"] == emu.platform_url("vertex_ai") + "/token" and info == emu.service_account_info("p")
    assert remote.project_number("p") == "123456789012"
    remote.clear_faults()
    remote.reset()
    assert emu.jobs() == []
    with pytest.raises(KeyError):
        remote.job_state("openai", "ftjob-missing")


def test_index_lists_every_endpoint_and_each_is_documented(emu, client):
    index = client.get("/_emulator/").json()
    assert client.get("/_emulator").json() == index
    endpoints = {(e["method"], e["path"]) for e in index["endpoints"]}
    assert ("POST", "/_emulator/quota") in endpoints and ("GET", "/_emulator/") in endpoints
    assert all(e["description"] for e in index["endpoints"])
    assert index["platforms"] == client.get("/_emulator/config").json()["base_urls"]
    page = (Path(__file__).parents[2] / "docs" / "emulators.md").read_text()
    for method, path in endpoints:
        assert f"| {method} | `{path}` |" in page, f"{method} {path} is missing from docs/emulators.md"
        assert f"{method:<8} {path}" in admin.__doc__, f"{method} {path} is missing from admin.py's docstring"
        status = client.request(method, path).status_code  # every listed endpoint exists (400: wants input)
        assert status in (200, 400), (method, path, status)
    assert client.get("/_emulator/nothing").status_code == 404


def test_seed_refuses_fields_with_the_allowed_ones(client):
    refused = client.post("/_emulator/seed", json={"platform": "openai", "colour": "red"})
    assert "colour" in refused.json()["error"] and "display_name" in refused.json()["error"]
