"""A platform's dialect talking to its emulator app in memory: what the platform-wide suites read.

The contract suite and the parser fuzz suite run over every registered platform and take what they
need (bodies, ids, paths) from the dialect and its emulator, so a new platform brings no table of
its own. httpx's ASGI transport carries the requests: no socket, no server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_ft_provider.jobs import TuningJob
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.registry import RECORDS, Platform
from airflow_ft_provider.testing.app import EmulatorApp
from airflow_ft_provider.testing.core import EmulatorCore
from airflow_ft_provider.testing.platforms import SPECS

HOST = "http://emulator"
PLATFORMS = [Platform(name) for name in RECORDS]


def new_core() -> EmulatorCore:
    core = EmulatorCore()
    core.url = HOST
    return core


def logged_path(emu: Any, platform: Platform, url: str) -> str:
    """The path of ``url`` as the emulator's request log keeps it: the vendor's, below the
    platform's prefix (``<emulator>/<platform>``)."""
    return urlsplit(url).path.removeprefix(urlsplit(emu.platform_url(platform)).path)


def connection_extras(core: EmulatorCore, platform: Platform) -> dict[str, Any]:
    """The extras of the emulator's own connection for ``platform`` (Vertex AI's project, Fireworks'
    account): whatever the platform's connection requires, as its emulator spec fills it in."""
    conn = SPECS[platform].connection(core, key=None, project="emulator-project", location="us-central1", extra={})
    return dict(conn["extra"])


def dialect_for(core: EmulatorCore, platform: Platform) -> Dialect:
    """The platform's dialect for a connection to ``core`` (Vertex AI: in the emulator's project)."""
    record = RECORDS[platform.value]
    return record.dialect.from_extras(core.base_url(platform), Extras(connection_extras(core, platform)))


def exchange(core: EmulatorCore, platform: Platform, request: ApiRequest) -> ApiResponse:
    """Send ``request`` to the emulator app in memory, with the platform's valid credential."""
    key = core.api_key(platform)
    api_key = RECORDS[platform.value].api_key
    # An API-key platform's own header; else what the emulator takes from a client (a bearer
    # token, an AWS platform's SigV4 signature).
    auth = None if api_key else core.spec(platform).client_auth(key)
    headers = {**request.headers, **(auth_headers(platform, key) if api_key else {})}

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=EmulatorApp(core))
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.request(
                request.method,
                request.url,
                params=dict(request.params),
                json=request.json,
                headers=headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
            )

    response = asyncio.run(send())
    return ApiResponse(response.status_code, response.headers, response.content)


def auth_headers(platform: Platform, key: str) -> dict[str, str]:
    """The header of an API-key platform."""
    api_key = RECORDS[platform.value].api_key
    assert api_key is not None
    return {api_key.header: f"{api_key.scheme} {key}" if api_key.scheme else key}


# -- where a platform's answers keep the job ------------------------------------------------------------
@dataclass(frozen=True)
class JobLocation:
    """Where a job sits in a read answer: the keys down to its object, and its id and state members."""

    path: tuple[str, ...]
    id_key: str
    state_key: str

    def get(self, body: Any) -> Any:
        """The job object of ``body`` (None where the body has none at the path)."""
        return member(body, self.path)


def member(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def replaced(body: Any, path: tuple[str, ...], value: Any) -> Any:
    """A copy of ``body`` with ``value`` at ``path`` (the body itself when the path is empty)."""
    if not path:
        return value
    return {**body, path[0]: replaced(body[path[0]], path[1:], value)}


def locate_job(body: Any, job: TuningJob, path: tuple[str, ...] = ()) -> JobLocation:
    """Find the object ``job`` was parsed from: the one naming its id and its native state once each."""
    if isinstance(body, dict):
        ids = [key for key, value in body.items() if value == job.job_id]
        states = [key for key, value in body.items() if value == job.native_state]
        if len(ids) == 1 and len(states) == 1:
            return JobLocation(path, ids[0], states[0])
        for key, value in body.items():
            try:
                return locate_job(value, job, (*path, key))
            except LookupError:
                continue
    raise LookupError(f"no object naming job {job.job_id!r} in state {job.native_state!r} once each")


def locate_items(body: Any, id_key: str, path: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The keys down to a listing's array of jobs (objects with ``id_key``)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) and id_key in v for v in value):
                return (*path, key)
            if isinstance(value, dict):
                try:
                    return locate_items(value, id_key, (*path, key))
                except LookupError:
                    continue
    raise LookupError(f"no array of jobs with {id_key!r} in the listing")
