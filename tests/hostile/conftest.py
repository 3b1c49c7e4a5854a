"""Fixtures of the hostile-server suite: servers on real sockets and connections to them.

Every connection carries a freshly planted key (``Target.key``) so that any test can check
that it appears in no error text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing.platforms import SPECS
from tests.hostile.servers import LOCATION, PROJECT, FrontServer, HostileServer

#: The two platforms the suite speaks: one REST (OpenAI), one Google (Vertex AI, access_token).
PLATFORMS = [Platform.OPENAI, Platform.VERTEX_AI]
MODES = ["sync", "async"]
#: Quick defaults: no retries unless a test asks, tiny backoff, a short attempt timeout.
QUICK = {"timeout": 5, "max_retries": 0, "backoff_max": 0.05}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a child Python process or a long bound (a few seconds each)")


def connection(server: HostileServer, key: str, *, host: str | None = None, **extra: Any) -> dict[str, Any]:
    """An Airflow connection (JSON form) to ``server``, with ``key`` as its secret."""
    conn: dict[str, Any] = {"host": host if host is not None else server.base_url}
    if server.platform is Platform.VERTEX_AI:
        conn["conn_type"] = "ft_vertex_ai"
        conn["extra"] = {"project": PROJECT, "location": LOCATION, "access_token": key, **extra}
    else:
        conn["conn_type"] = "ft_openai"
        conn["password"] = key
        conn["extra"] = extra
    return conn


@dataclass
class Target:
    """A hostile server and an Airflow connection pointing at it."""

    server: HostileServer
    conn_id: str
    key: str
    conn: dict[str, Any]
    monkeypatch: pytest.MonkeyPatch

    def hook(self) -> Any:
        from airflow_ft_provider.hooks.registry import get_hook

        return get_hook(self.conn_id)

    def update(self, **fields: Any) -> None:
        """Change fields of the connection (``host``, ``port``, ``extra``, ...)."""
        self.conn = {**self.conn, **fields}
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{self.conn_id.upper()}", json.dumps(self.conn))


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Target]]:
    """``hostile(platform, **extras)``: a started server and a connection (``AIRFLOW_CONN_*``) to it.

    ``cap_seconds`` / ``cap_bytes`` set the server's caps; ``host`` / ``port`` / ``raw_extra``
    override the connection's fields; other keywords are extras on top of :data:`QUICK`.
    """
    servers: list[HostileServer] = []

    def make(
        platform: Platform,
        *,
        cap_seconds: float = 15.0,
        cap_bytes: int = 64 << 20,
        host: str | None = None,
        port: int | None = None,
        raw_extra: str | None = None,
        **extra: Any,
    ) -> Target:
        server = HostileServer(platform, cap_seconds=cap_seconds, cap_bytes=cap_bytes).start()
        servers.append(server)
        key = f"planted-{uuid.uuid4().hex}"
        conn = connection(server, key, host=host, **{**QUICK, **extra})
        if port is not None:
            conn["port"] = port
        if raw_extra is not None:
            conn["extra"] = raw_extra
        target = Target(server, f"hostile_{platform.value}_{len(servers)}", key, {}, monkeypatch)
        target.update(**conn)
        return target

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def front(emu: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Target]]:
    """``front(platform, **extras)``: any platform, through a :class:`FrontServer` before the emulator.

    The connection holds one secret sent as is: an API key (Bedrock's too, as ``Authorization:
    Bearer``; Azure OpenAI's as ``api-key``) or, on Vertex AI, an ``access_token`` extra.
    """
    from airflow_ft_provider.testing import airflow_connection

    servers: list[FrontServer] = []

    def make(platform: Platform, **extra: Any) -> Target:
        server = FrontServer(platform, upstream=emu.url).start()
        servers.append(server)
        key = emu.api_key(platform)
        conn = airflow_connection(emu, platform, key=key, **{**QUICK, **extra})
        conn["host"] = emu.base_url(platform).replace(emu.url, server.url)
        if "login" in conn:  # an AWS platform: the one secret as its spec takes it (Bedrock: an API key)
            conn.update(SPECS[platform].secret_fields(key))
        target = Target(server, f"front_{platform.value}_{len(servers)}", key, {}, monkeypatch)
        target.update(**conn)
        return target

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def trap() -> Iterator[HostileServer]:
    """A second server where a redirect points: it must never be asked anything."""
    with HostileServer(Platform.OPENAI) as server:
        yield server
