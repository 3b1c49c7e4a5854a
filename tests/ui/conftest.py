"""A real Airflow API server (with its React UI) and a headless Chromium driven by Playwright.

Nothing is installed at run time. The browser is Debian's ``chromium`` package at
``/usr/bin/chromium`` (Playwright's own browser downloads are not used); the Python
``playwright`` package drives it. Locally the tests skip, with the reason, when either is
missing; with ``FT_REQUIRE_BROWSER=1`` (set by CI) they fail instead, so CI cannot pass
without having really run them.

Screenshots go to ``tests/ui/output/<test>/`` (git-ignored), or under ``$FT_UI_OUTPUT``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("FT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(os.environ.get("FT_UI_OUTPUT", Path(__file__).parent / "output"))
SERVER_START_TIMEOUT = 180.0


def _unavailable(reason: str) -> None:
    if os.environ.get("FT_REQUIRE_BROWSER", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"FT_REQUIRE_BROWSER is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        import playwright  # noqa: F401
    except ImportError:
        _unavailable("the Python package 'playwright' is not installed (dependency group 'ui')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package (apt-get install chromium)")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiServer:
    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    def api(self) -> httpx.Client:
        """A REST client signed in as the all-admins user (3.1 wants a token even then)."""
        token = httpx.get(f"{self.url}/auth/token", timeout=30).json()["access_token"]
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``airflow`` command, run as a user would on this server's machine (its home and config)."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=_server_env(self.home),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        # Everyone is admin: the UI opens without a login page.
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        # The Connections page shows its Test button only when this is Enabled.
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    )
    return env


@pytest.fixture(scope="session")
def api_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free loopback port, its own SQLite home; stopped by PID afterwards."""
    home = tmp_path_factory.mktemp("ui-airflow-home")
    (home / "dags").mkdir()
    env = _server_env(home)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if migrate.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}")
    port = _free_port()
    log = home / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so its workers stop with it
        )
    server = ApiServer(f"http://127.0.0.1:{port}", home, log, process)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process)
        logs = OUTPUT / "api-server.log"
        logs.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, logs)


def _wait_until_up(server: ApiServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"airflow api-server exited ({server.process.returncode}):\n{server.log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/api/v2/version", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"airflow api-server did not answer within {SERVER_START_TIMEOUT:g} s:\n{server.log.read_text()[-4000:]}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's own process group (by its id), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    group = process.pid  # start_new_session made it the group leader
    try:
        os.killpg(group, signal.SIGTERM)
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


@dataclass
class Browser:
    """One Chromium page plus what the test needs around it: screenshots and a response log."""

    page: Any
    shots: Path
    responses: list[tuple[str, str]] = field(default_factory=list, repr=False)
    _step: int = 0

    def shot(self, name: str) -> Path:
        self._step += 1
        path = self.shots / f"{self._step:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser(
    chromium_path: str, api_server: ApiServer, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    shots = OUTPUT / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir for every test
            executable_path=chromium_path,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1600},
        )
        context.set_default_timeout(20_000)
        page = context.new_page()
        result = Browser(page, shots)

        def keep(response: Any) -> None:
            if not response.url.startswith(api_server.url):
                return
            try:
                result.responses.append((response.url, response.text()))
            except Exception:  # a redirect or a body the browser did not keep
                result.responses.append((response.url, ""))

        page.on("response", keep)
        try:
            yield result
        finally:
            try:
                result.shot("end")
            finally:
                context.close()


def api_json(response: httpx.Response) -> Any:
    response.raise_for_status()
    return json.loads(response.text)
