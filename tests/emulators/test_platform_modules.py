"""A platform's emulator is one module: found by discovery, served whole by the shared routes."""

from __future__ import annotations

import importlib
import pkgutil

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from airflow_ft_provider.hooks.registry import hook_class_for_conn_type
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import EmulatorCore, JobScript, airflow_connection
from airflow_ft_provider.testing import platforms as package
from airflow_ft_provider.testing.connections import default_conn_id
from airflow_ft_provider.testing.platforms import SPECS
from airflow_ft_provider.testing.platforms._routes import JobApi
from airflow_ft_provider.testing.platforms.openai import OpenAISpec


def test_every_module_defining_spec_is_a_platform_and_nothing_else():
    modules = {
        info.name: importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    }
    with_spec = {m.SPEC.platform for name, m in modules.items() if hasattr(m, "SPEC") and not name.startswith("_")}
    assert set(SPECS) == with_spec
    assert list(SPECS) == [p for p in Platform if p in SPECS]  # the provider's order
    assert not any(hasattr(m, "SPEC") for name, m in modules.items() if name.startswith("_"))


@pytest.mark.parametrize("platform", list(SPECS))
def test_each_spec_names_the_providers_connection_type_for_its_platform(platform):
    spec = SPECS[platform]
    hook = hook_class_for_conn_type(spec.conn_type)
    assert hook.platform is platform
    assert hook.default_conn_name == default_conn_id(platform)


class _Emu:
    """Enough of an emulator to build connections, without a server."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def platform_url(self, platform: Platform | str) -> str:
        return self.core.platform_url(platform)

    def base_url(self, platform: Platform | str) -> str:
        return self.core.base_url(platform)

    def api_key(self, platform: Platform | str) -> str:
        return self.core.api_key(platform)

    def service_account_info(self, project_id: str) -> dict[str, str]:
        return {"project_id": project_id}


@pytest.mark.parametrize("platform", list(SPECS))
def test_connections_come_from_the_spec(platform):
    emu = _Emu(EmulatorCore())
    conn = airflow_connection(emu, platform, timeout=5)
    assert conn["conn_type"] == SPECS[platform].conn_type and conn["host"] == emu.base_url(platform)
    assert conn["extra"]["timeout"] == 5
    static = airflow_connection(emu, platform, key="k-1")
    assert "k-1" in (static.get("password"), static["extra"].get("access_token"))


class AzureLikeSpec(OpenAISpec):
    """What an OpenAI-compatible host's module would hold: its auth header. Its paths are OpenAI's
    own, unchanged: the emulator serves each platform under its own prefix, so none collide."""

    operations = frozenset({"list", "get", "cancel"})

    def credential(self, request: Request) -> str | None:
        return request.headers.get("api-key")

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        if self.credential(request) == core.api_key(self.platform):
            return None
        return self.error(401, "Access denied due to invalid subscription key.")


async def test_a_new_spec_gets_every_standard_route_from_the_shared_machinery():
    core = EmulatorCore()
    app = JobApi(core, AzureLikeSpec()).router()
    ids = core.seed_many("openai", 3, script=JobScript(cancel_s=60))
    headers = {"api-key": core.api_key("openai")}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu/v1", headers=headers) as c:
        first = (await c.get("/fine_tuning/jobs", params={"limit": 2})).json()
        rest = (await c.get("/fine_tuning/jobs", params={"after": first["data"][-1]["id"]})).json()
        assert [j["id"] for j in first["data"] + rest["data"]] == ids[::-1] and not rest["has_more"]
        assert (await c.get(f"/fine_tuning/jobs/{ids[0]}")).json()["status"] == "running"
        assert (await c.post(f"/fine_tuning/jobs/{ids[0]}/cancel")).json()["status"] == "cancelled"
        missing = await c.get("/fine_tuning/jobs/ftjob-nope")
        assert missing.json()["error"]["code"] == "fine_tuning_job_not_found"
        assert (await c.post("/fine_tuning/jobs", json={})).status_code == 404  # no create: the native 404
        denied = await c.get("/fine_tuning/jobs", headers={"api-key": "wrong"})
        assert denied.status_code == 401 and "subscription key" in denied.json()["error"]["message"]
    assert core.job_phase("openai", ids[0]) == "cancelling"
