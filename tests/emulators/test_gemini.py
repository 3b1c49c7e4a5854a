"""Gemini API tuned models over plain HTTP: key auth, states, pagination, no cancel."""

from __future__ import annotations

import httpx
import pytest

from airflow_ft_provider.testing import Emulator, EmulatorConfig, JobScript


@pytest.fixture
def gemini(api):
    return api["gemini"]


def test_get_renders_a_tuned_model(emu, gemini):
    name = emu.seed("gemini", display_name="My Number Model")
    assert name.startswith("tunedModels/my-number-model-")
    model = gemini.get(f"/v1beta/{name}").json()
    assert model["name"] == name and model["displayName"] == "My Number Model"
    assert model["state"] == "CREATING"
    assert model["baseModel"] == "models/gemini-1.5-flash-001-tuning"
    assert "completeTime" not in model["tuningTask"]
    assert gemini.get(f"/v1/{name}").status_code == 200  # google-genai 3.x calls /v1


@pytest.mark.parametrize(
    ("script", "state"),
    [
        (JobScript(running_s=0), "ACTIVE"),
        (JobScript(running_s=0, end_state="failed"), "FAILED"),
        (JobScript(queued_s=60), "CREATING"),
    ],
)
def test_states(emu, gemini, script, state):
    name = emu.seed("gemini", script=script)
    model = gemini.get(f"/v1beta/{name}").json()
    assert model["state"] == state
    assert ("completeTime" in model["tuningTask"]) == (state != "CREATING")


def test_list_pages_default_ten(emu, gemini):
    seeded = emu.seed_many("gemini", 23)
    first = gemini.get("/v1beta/tunedModels").json()
    assert len(first["tunedModels"]) == 10
    names, token = [m["name"] for m in first["tunedModels"]], first["nextPageToken"]
    while token:
        page = gemini.get("/v1beta/tunedModels", params={"pageToken": token, "pageSize": 5}).json()
        names += [m["name"] for m in page["tunedModels"]]
        token = page.get("nextPageToken")
    assert names == seeded[::-1]
    assert len(gemini.get("/v1beta/tunedModels", params={"pageSize": 5000}).json()["tunedModels"]) == 23


def test_no_cancel_method(emu, gemini):
    name = emu.seed("gemini")
    for target in (name, "tunedModels/does-not-exist"):
        response = gemini.post(f"/v1beta/{target}:cancel")
        assert response.status_code == 404
        assert response.json() == {"error": {"code": 404, "message": "Method not found.", "status": "NOT_FOUND"}}
    assert emu.job_state("gemini", name) == "CREATING"


def test_cancel_when_configured():
    with Emulator(EmulatorConfig(gemini_cancel_supported=True)) as emu:
        headers = {"x-goog-api-key": emu.api_key("gemini")}
        name = emu.seed("gemini", script=JobScript(cancel_s=0))
        assert httpx.post(f"{emu.platform_url('gemini')}/v1beta/{name}:cancel", headers=headers).json() == {}
        assert emu.job_state("gemini", name) == "FAILED"
        again = httpx.post(f"{emu.platform_url('gemini')}/v1beta/{name}:cancel", headers=headers)
        assert again.status_code == 400 and again.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_missing_model_and_delete(emu, gemini):
    missing = gemini.get("/v1beta/tunedModels/x")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Tuned model tunedModels/x is not found."
    name = emu.seed("gemini")
    assert gemini.delete(f"/v1beta/{name}").json() == {}
    assert gemini.get(f"/v1beta/{name}").status_code == 404


def test_key_in_header_or_query(emu, hosts):
    client = hosts["gemini"]
    name = emu.seed("gemini")
    assert client.get(f"/v1beta/{name}", params={"key": emu.api_key("gemini")}).status_code == 200
    unregistered = client.get(f"/v1beta/{name}")
    assert unregistered.status_code == 403
    assert unregistered.json()["error"]["status"] == "PERMISSION_DENIED"
    bad = client.get(f"/v1beta/{name}", headers={"x-goog-api-key": "nope"})
    assert bad.status_code == 400  # as on the real service: not a 401
    assert bad.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    logged = [r.query for r in emu.requests("gemini")]
    assert logged[0] == "key=***" and emu.api_key("gemini") not in str(emu.requests())
