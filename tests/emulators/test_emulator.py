"""The controller's life cycle, the CLI, and what the package may and may not import."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import airflow_ft_provider
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Emulator, EmulatorConfig

PACKAGE = Path(airflow_ft_provider.__file__).parent


def test_start_stop_quickly_and_on_distinct_ports():
    first, second = Emulator(), Emulator()
    with first, second:
        assert first.running and first.port != second.port
        assert first.url == f"http://127.0.0.1:{first.port}"
        with httpx.Client() as c:  # an idle keep-alive connection must not hold up stop()
            assert c.get(first.url + "/_emulator/health").status_code == 200
            start = time.monotonic()
            first.stop()
            assert time.monotonic() - start < 1.0
        assert not first.running
        first.stop()  # idempotent
        with pytest.raises(httpx.ConnectError):
            httpx.get(first.url + "/_emulator/health")
        assert second.running
    assert not second.running


def test_stop_does_not_wait_for_a_slow_request():
    emu = Emulator().start()
    emu.set_latency(30)
    with httpx.Client(timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        c.get(emu.base_url("openai") + "/fine_tuning/jobs")
    start = time.monotonic()
    emu.stop()
    assert time.monotonic() - start < 2.0


def test_addresses_and_keys():
    config = EmulatorConfig(api_keys={"openai": "sk-mine"})
    emu = Emulator(config)  # usable unstarted: seeding and addresses work before start()
    job_id = emu.seed("openai")
    with emu:
        # Each platform under its own name, the vendor's base path beneath.
        assert emu.platform_url("openai") == emu.url + "/openai"
        assert emu.base_url("openai") == emu.url + "/openai/v1"
        assert emu.base_url("together") == emu.url + "/together/v1"
        assert emu.base_url("dashscope") == emu.url + "/dashscope/api/v1"
        assert emu.base_url("azure_openai") == emu.url + "/azure_openai"
        assert emu.base_url("bedrock") == emu.url + "/bedrock"
        assert emu.base_url("vertex_ai") == emu.url + "/vertex_ai"
        assert emu.base_url("gemini") == emu.url + "/gemini"
        assert emu.api_key("openai") == "sk-mine" and emu.api_key("gemini") == "emulator-gemini-key"
        headers = {"Authorization": "Bearer sk-mine"}
        assert httpx.get(f"{emu.base_url('openai')}/fine_tuning/jobs/{job_id}", headers=headers).status_code == 200
        assert "running=True" in repr(emu)


ALLOWED_THIRD_PARTY = {"starlette", "uvicorn", "httpx", "pydantic", "cryptography", "airflow_ft_provider"}


def imported_modules(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


#: The DAG runner runs DAGs through Airflow; the emulators never import it.
USES_AIRFLOW = {"dags.py"}


def test_the_package_needs_only_its_allowed_dependencies():
    """stdlib + starlette, uvicorn, httpx, pydantic, cryptography: never an SDK."""
    strays = {
        f"{source.name}: {name}"
        for source in (PACKAGE / "testing").rglob("*.py")
        for name in imported_modules(source)
        if name.split(".")[0]
        not in sys.stdlib_module_names | ALLOWED_THIRD_PARTY | ({"airflow"} if source.name in USES_AIRFLOW else set())
    }
    assert strays == set()


def test_provider_code_never_imports_the_emulators():
    """Only tests and tooling import ``airflow_ft_provider.testing``."""
    offenders = {
        str(source.relative_to(PACKAGE))
        for source in PACKAGE.rglob("*.py")
        if "testing" not in source.relative_to(PACKAGE).parts
        and any(n.startswith("airflow_ft_provider.testing") for n in imported_modules(source))
    }
    assert offenders == set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_serves_in_the_foreground():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_ft_provider.testing", "--port", str(port), "--seed-demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        jobs = httpx.get(url + "/_emulator/jobs").json()["jobs"]
        assert {j["platform"] for j in jobs} == {p.value for p in Platform}
        assert {j["native_state"] for j in jobs if j["platform"] == "dashscope"} == {
            "RUNNING",
            "PENDING",
            "SUCCEEDED",
            "FAILED",
        }
        index = httpx.get(url + "/_emulator/")
        assert (
            index.status_code == 200
            and {"method": "POST", "path": "/_emulator/seed"}.items()
            <= next(e for e in index.json()["endpoints"] if e["path"] == "/_emulator/seed").items()
        )
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert output.splitlines()[0].startswith(f"fine-tuning platform emulators on {url} ")
    assert f"base_url={url}/dashscope/api/v1 " in output and "emulator-openai-key" in output
    for job in jobs:  # every seeded id is printed, under its platform
        assert job["job_id"] in output
    exports = [line.strip() for line in output.splitlines() if line.strip().startswith("export AIRFLOW_CONN_")]
    assert len(exports) == len(Platform)
    openai = next(e for e in exports if e.startswith("export AIRFLOW_CONN_FT_OPENAI_DEFAULT="))
    conn = json.loads(openai.split("=", 1)[1].strip("'"))
    assert conn == {
        "conn_type": "ft_openai",
        "host": f"{url}/openai/v1",
        "password": "emulator-openai-key",
        "extra": {},
    }
    vertex = next(e for e in exports if e.startswith("export AIRFLOW_CONN_FT_VERTEX_AI_DEFAULT="))
    assert json.loads(vertex.split("=", 1)[1].strip("'"))["extra"]["access_token"] == "emulator-vertex-ai-key"


def test_cli_help_is_plain_text():
    result = subprocess.run(
        [sys.executable, "-m", "airflow_ft_provider.testing", "--help"], capture_output=True, text=True, check=True
    )
    assert "--seed-demo" in result.stdout and "/_emulator/" in result.stdout
    for markup in ("``", ":class:", ":mod:", "~airflow"):
        assert markup not in result.stdout
