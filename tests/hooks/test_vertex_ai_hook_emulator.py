"""The Vertex AI hook against the emulator: real google-auth credentials minting tokens at the
emulator's token endpoint, and static access tokens, sync and async."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_ft_provider.errors import AuthenticationError, PermissionDeniedError
from airflow_ft_provider.hooks.google_credentials import GoogleCredentialsAuth
from airflow_ft_provider.hooks.vertex_ai import VertexAITuningHook
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Emulator, Fault, JobScript

PROJECT = "emulator-project"
CONN_ID = "vertex_emulator"
NEVER_ENDS = JobScript(running_s=None, cancel_s=0.2)
SetConnection = Callable[[str, dict[str, Any]], str]


@pytest.fixture(autouse=True)
def _fresh_credentials() -> Iterator[None]:
    process_cache.reset()
    yield
    process_cache.reset()


def key_connection(emu: Emulator, key: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "conn_type": "ft_vertex_ai",
        "host": emu.base_url(Platform.VERTEX_AI),
        "password": json.dumps(key or emu.service_account_info(PROJECT)),
        "extra": {"project": PROJECT, "location": "us-central1", "backoff_max": 0.2, **extra},
    }


def token_connection(emu: Emulator, token: str) -> dict[str, Any]:
    return {
        "conn_type": "ft_vertex_ai",
        "host": emu.base_url(Platform.VERTEX_AI),
        "extra": {"project": PROJECT, "access_token": token, "backoff_max": 0.2},
    }


def api_calls(emu: Emulator, at_least: int = 0, since: float | None = None) -> list[tuple[str, int | None]]:
    """(method, status) of the API requests; waits (briefly) for ``at_least`` of them, since the
    emulator logs a request just after answering it."""
    deadline = time.monotonic() + 2.0
    while True:
        records = emu.requests(Platform.VERTEX_AI, since=since)
        calls = [(r.method, r.status) for r in records if r.path != "/token"]
        if len(calls) >= at_least or time.monotonic() > deadline:
            return calls
        time.sleep(0.01)


def token_grants(emu: Emulator, since: float = 0.0) -> int:
    return sum(
        1 for r in emu.requests(Platform.VERTEX_AI) if r.path == "/token" and r.status == 200 and r.time >= since
    )


def current_token(hook: VertexAITuningHook) -> str:
    auth = hook.prepare().auth
    assert isinstance(auth, GoogleCredentialsAuth)
    assert auth._credentials is not None
    return str(auth._credentials.token)


# -- service-account key: the token endpoint ------------------------------------------------
def test_key_sync_get_list_cancel(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu))
    name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
    hook = VertexAITuningHook(CONN_ID)

    job = hook.get_job(name)
    assert job.state is TuningJobState.RUNNING
    assert job.job_id == name  # the server's name, with the project number
    assert name in {j.job_id for j in hook.list_jobs(page_size=1)}
    assert hook.cancel_job(job.job_id) is None
    assert hook.get_job(name).state in (TuningJobState.CANCELLING, TuningJobState.CANCELLED)
    assert token_grants(emu) == 1
    assert set(api_calls(emu, 4)) == {("GET", 200), ("POST", 200)}


async def test_key_async_get_list_cancel(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu))
    name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
    hook = VertexAITuningHook(CONN_ID)
    try:
        assert (await hook.aget_job(name)).state is TuningJobState.RUNNING
        assert name in [j.job_id async for j in hook.alist_jobs()]
        assert await hook.acancel_job(name) is None
    finally:
        await process_cache.aclose()
    assert token_grants(emu) == 1
    assert set(api_calls(emu, 3)) == {("GET", 200), ("POST", 200)}


async def test_concurrent_triggers_mint_one_token(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu))
    names = emu.seed_many(Platform.VERTEX_AI, 30, script=NEVER_ENDS, project=PROJECT)
    hooks = [VertexAITuningHook(CONN_ID) for _ in names]  # one hook per trigger, as in the triggerer
    try:
        jobs = await asyncio.gather(*(h.aget_job(n) for h, n in zip(hooks, names, strict=True)))
    finally:
        await process_cache.aclose()
    assert {j.state for j in jobs} == {TuningJobState.RUNNING}
    assert token_grants(emu) == 1
    assert set(api_calls(emu, len(names))) == {("GET", 200)}


def test_minted_token_is_masked(emu: Emulator, set_connection: SetConnection) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    set_connection(CONN_ID, key_connection(emu))
    hook = VertexAITuningHook(CONN_ID)
    hook.get_job(emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT))
    token = current_token(hook)
    assert token.startswith("ya29.")
    assert token not in str(redact(f"header Bearer {token}"))


def test_revoked_token_is_replaced_once_sync(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu))
    hook = VertexAITuningHook(CONN_ID)
    hook.get_job(emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT))
    first = current_token(hook)
    emu.revoke_tokens()  # the emulator forgets every token it issued
    since = time.monotonic()
    assert hook.get_job(emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)).state is (
        TuningJobState.RUNNING
    )
    assert api_calls(emu, 2, since) == [("GET", 401), ("GET", 200)]
    assert token_grants(emu, since) == 1
    assert current_token(hook) != first


async def test_revoked_token_is_replaced_once_async(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu))
    hook = VertexAITuningHook(CONN_ID)
    try:
        await hook.aget_job(emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT))
        emu.revoke_tokens()
        since = time.monotonic()
        name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
        assert (await hook.aget_job(name)).state is TuningJobState.RUNNING
    finally:
        await process_cache.aclose()
    assert api_calls(emu, 2, since) == [("GET", 401), ("GET", 200)]
    assert token_grants(emu, since) == 1


def test_token_endpoint_hiccup_is_survived(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu))
    emu.inject(Platform.VERTEX_AI, Fault.status(503, path="/token", count=1))
    name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
    assert VertexAITuningHook(CONN_ID).get_job(name).state is TuningJobState.RUNNING


def test_unreadable_token_answer_is_retried(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu))
    emu.inject(Platform.VERTEX_AI, Fault.malformed(path="/token", count=1))
    name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
    assert VertexAITuningHook(CONN_ID).get_job(name).state is TuningJobState.RUNNING
    assert token_grants(emu) == 2


def test_key_the_emulator_never_issued_is_refused(emu: Emulator, set_connection: SetConnection) -> None:
    forged = dict(emu.service_account_info(PROJECT))
    forged["private_key"] = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    forged["private_key_id"] = "0" * 40
    set_connection(CONN_ID, key_connection(emu, forged))
    with pytest.raises(AuthenticationError, match="Invalid JWT Signature") as info:
        VertexAITuningHook(CONN_ID).get_job(emu.seed(Platform.VERTEX_AI, project=PROJECT))
    assert forged["private_key"].splitlines()[2] not in str(info.value)
    assert api_calls(emu) == []  # refused at the token endpoint: no API call, no retry loop


def test_key_of_another_project_is_denied(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu, emu.service_account_info("other-project")))
    with pytest.raises(PermissionDeniedError, match=r"aiplatform\.tuningJobs\.get"):
        VertexAITuningHook(CONN_ID).get_job(emu.seed(Platform.VERTEX_AI, project=PROJECT))
    assert api_calls(emu, 1) == [("GET", 403)]


def test_google_cloud_platform_connection(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(
        CONN_ID,
        {
            "conn_type": "google_cloud_platform",
            "host": emu.base_url(Platform.VERTEX_AI),
            "extra": {
                "extra__google_cloud_platform__keyfile_dict": json.dumps(emu.service_account_info(PROJECT)),
                "extra__google_cloud_platform__project": PROJECT,
            },
        },
    )
    name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
    assert VertexAITuningHook(CONN_ID).get_job(name).state is TuningJobState.RUNNING


def test_quota_project_reaches_the_wire(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, key_connection(emu, quota_project="billing-project"))
    VertexAITuningHook(CONN_ID).get_job(emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT))
    api_calls(emu, 1)
    api = [r for r in emu.requests(Platform.VERTEX_AI) if r.path != "/token"]
    assert api[-1].headers.get("x-goog-user-project") == "billing-project"


# -- static access token -------------------------------------------------------------------
def test_static_token_sync(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, token_connection(emu, emu.api_key(Platform.VERTEX_AI)))
    name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
    hook = VertexAITuningHook(CONN_ID)
    assert hook.get_job(name).state is TuningJobState.RUNNING
    assert hook.cancel_job(name) is None
    assert token_grants(emu) == 0
    assert api_calls(emu, 2) == [("GET", 200), ("POST", 200)]


async def test_static_token_async(emu: Emulator, set_connection: SetConnection) -> None:
    set_connection(CONN_ID, token_connection(emu, emu.api_key(Platform.VERTEX_AI)))
    name = emu.seed(Platform.VERTEX_AI, script=NEVER_ENDS, project=PROJECT)
    hook = VertexAITuningHook(CONN_ID)
    try:
        assert (await hook.aget_job(name)).state is TuningJobState.RUNNING
        assert await hook.acancel_job(name) is None
    finally:
        await process_cache.aclose()
    assert token_grants(emu) == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_wrong_static_token_fails_at_once(emu: Emulator, set_connection: SetConnection, mode: str) -> None:
    set_connection(CONN_ID, token_connection(emu, "ya29.never-issued"))
    name = emu.seed(Platform.VERTEX_AI, project=PROJECT)
    hook = VertexAITuningHook(CONN_ID)

    async def aget() -> None:
        try:
            await hook.aget_job(name)
        finally:
            await process_cache.aclose()

    with pytest.raises(AuthenticationError) as info:
        hook.get_job(name) if mode == "sync" else asyncio.run(aget())
    assert "never-issued" not in str(info.value)
    assert api_calls(emu, 1) == [("GET", 401)]
