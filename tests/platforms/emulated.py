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

#: Loopback, where a connection may speak plain http; nothing listens there (the app is called in memory).
HOST = "http://127.0.0.1:9"
PLATFORMS = [Platform(name) for name in RECORDS]


def new_core() -> EmulatorCore:
    core = EmulatorCore()
    core.url = HOST
    return core


def logged_path(emu: Any, platform: Platform, url: str) -> str:
    """The path of ``url`` as the emulator's request log keeps it: the vendor's, below the
    platform's prefix (``<emulator>/<platform>``)."""
    return urlsplit(url).path.removeprefix(urlsplit(emu.platform_url(platform)).path)


def connection_extra(core: EmulatorCore, platform: Platform) -> dict[str, Any]:
    """The extras of the platform's connection to ``core``, as its emulator spec writes them (a
    watsonx.ai project, a Bedrock region), and Vertex AI's project and location."""
    conn = core.spec(platform).connection(core, key=None, project="emulator-project", location="us-central1", extra={})
    return {"project": "emulator-project", "location": "us-central1", **(conn.get("extra") or {})}


def connection_extras(core: EmulatorCore, platform: Platform) -> Extras:
    return Extras(connection_extra(core, platform))


def dialect_for(core: EmulatorCore, platform: Platform) -> Dialect:
    """The platform's dialect for a connection to ``core`` (Vertex AI: in the emulator's project)."""
    record = RECORDS[platform.value]
    return record.dialect.from_extras(core.base_url(platform), connection_extras(core, platform))


def exchange(core: EmulatorCore, platform: Platform, request: ApiRequest) -> ApiResponse:
    """Send ``request`` to the emulator app in memory, with the platform's valid credential."""
    spec = core.spec(platform)
    key = spec.bearer(core)
    api_key = RECORDS[platform.value].api_key
    # An API-key platform's own header; else what the emulator takes from a client (a bearer
    # token, minted from the key on watsonx.ai; an AWS platform's SigV4 signature).
    auth = None if api_key else spec.client_auth(key)
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
_ABSENT = object()


@dataclass(frozen=True)
class JobLocation:
    """Where a job sits in a read answer: the keys down to its object, and within it the keys down to
    its id and its native state (one key each on most platforms; watsonx.ai: ``metadata.id`` and
    ``entity.status.state``)."""

    path: tuple[str, ...]
    id_path: tuple[str, ...]
    state_path: tuple[str, ...]

    def get(self, body: Any) -> Any:
        """The job object of ``body`` (None where the body has none at the path)."""
        return member(body, self.path)

    def id_of(self, job: Any) -> Any:
        return member(job, self.id_path)

    def state_of(self, job: Any, default: Any = None) -> Any:
        """The job's state member; ``default`` where an object on the way lacks it."""
        found = _member_or(job, self.state_path, _ABSENT)
        return default if found is _ABSENT else found

    def with_state(self, job: Any, value: Any) -> Any:
        """A copy of ``job`` whose state member is ``value`` (left out: ``value`` is :data:`MISSING`)."""
        return _set(job, self.state_path, value)

    def without_state(self, job: Any) -> Any:
        return _set(job, self.state_path, _ABSENT)


def member(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _member_or(body: Any, path: tuple[str, ...], default: Any) -> Any:
    for key in path:
        if not isinstance(body, dict) or key not in body:
            return default
        body = body[key]
    return body


def _set(body: Any, path: tuple[str, ...], value: Any) -> Any:
    head, rest = path[0], path[1:]
    out = dict(body)
    if rest:
        out[head] = _set(body[head], rest, value)
    elif value is _ABSENT:
        out.pop(head, None)
    else:
        out[head] = value
    return out


def replaced(body: Any, path: tuple[str, ...], value: Any) -> Any:
    """A copy of ``body`` with ``value`` at ``path`` (the body itself when the path is empty)."""
    if not path:
        return value
    return {**body, path[0]: replaced(body[path[0]], path[1:], value)}


def locate_job(body: Any, job: TuningJob, path: tuple[str, ...] = ()) -> JobLocation:
    """Find the object ``job`` was parsed from: the one naming its id and its native state once each,
    as members, or else within its members (the innermost object that does)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, dict):
                try:
                    return locate_job(value, job, (*path, key))
                except LookupError:
                    continue
        ids, states = _paths_to(body, job.job_id), _paths_to(body, job.native_state)
        if len(ids) == 1 and len(states) == 1:
            return JobLocation(path, ids[0], states[0])
    raise LookupError(f"no object naming job {job.job_id!r} in state {job.native_state!r} once each")


def _paths_to(body: dict[str, Any], value: str, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of ``body``'s members (through nested objects) equal to ``value``."""
    found: list[tuple[str, ...]] = []
    for key, child in body.items():
        if child == value:
            found.append((*path, key))
        elif isinstance(child, dict):
            found.extend(_paths_to(child, value, (*path, key)))
    return found


def locate_items(body: Any, at: JobLocation, path: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The keys down to a listing's array of jobs (objects with an id where ``at`` says)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, list) and value and all(at.id_of(v) is not None for v in value):
                return (*path, key)
            if isinstance(value, dict):
                try:
                    return locate_items(value, at, (*path, key))
                except LookupError:
                    continue
    raise LookupError(f"no array of jobs with an id at {'.'.join(at.id_path)!r} in the listing")
