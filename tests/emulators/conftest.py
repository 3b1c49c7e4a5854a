"""Helpers for the emulator tests: plain httpx clients authenticated per platform.

One TLS context is shared by every client: nothing here uses TLS, but httpx builds a
default context per client at ~0.1 s each.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import RECORDS
from airflow_ft_provider.testing import Emulator
from airflow_ft_provider.testing.platforms import SPECS

TLS = ssl.create_default_context()


def auth_headers(emu: Emulator, platform: Platform | str, key: str | None = None) -> dict[str, str]:
    """The platform's own credential header carrying ``key`` (default: the valid one)."""
    platform = Platform(platform)
    key = emu.spec(platform).bearer(emu) if key is None else key
    if platform is Platform.GEMINI:
        return {"x-goog-api-key": key}
    return {"Authorization": f"Bearer {key}"}


def on_emulator(emu: Emulator, platform: Platform | str, vendor_url: str) -> str:
    """``vendor_url`` (the base URL an SDK documents) with only the vendor's host replaced by the
    platform's prefix on the emulator: ``https://api.openai.com/v1`` -> ``<emulator>/openai/v1``."""
    return emu.platform_url(platform) + urlsplit(vendor_url).path.rstrip("/")


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """Overrides the suite-wide one: these tests need no provider code (nor its import time)."""
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Iterator[Emulator]:
    """The session's emulator, emptied for this test."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    """A keep-alive client on the emulator's root URL (the admin API, Entra ID), with no credentials."""
    with httpx.Client(base_url=emu.url, timeout=10, verify=TLS) as c:
        yield c


@pytest.fixture
def hosts(emu: Emulator) -> Iterator[dict[Platform, httpx.Client]]:
    """One client per platform on its prefix (the vendor's host, as the emulator serves it), with no
    credentials: requests name the vendor's own paths (``/v1/fine_tuning/jobs``)."""
    clients = {p: httpx.Client(base_url=emu.platform_url(p), timeout=10, verify=TLS) for p in Platform}
    yield clients
    for c in clients.values():
        c.close()


@pytest.fixture
def api(emu: Emulator) -> Iterator[dict[Platform, httpx.Client]]:
    """One authenticated client per platform, on that platform's base URL: an API-key platform's own
    header, else what the platform's emulator takes from a client (a bearer token, SigV4)."""

    def credentials(p: Platform) -> dict[str, Any]:
        if RECORDS[p.value].api_key is not None:
            return {"headers": auth_headers(emu, p)}
        return {"auth": SPECS[p].client_auth(SPECS[p].bearer(emu))}

    clients = {p: httpx.Client(base_url=emu.base_url(p), timeout=10, verify=TLS, **credentials(p)) for p in Platform}
    yield clients
    for c in clients.values():
        c.close()
