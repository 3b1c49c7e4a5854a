"""Every hook against its emulator, sync and async: get, list, cancel and every error path."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    ConnectionConfigError,
    JobNotCancellableError,
    JobNotFoundError,
    OperationNotSupportedError,
    PlatformUnavailableError,
)
from airflow_ft_provider.flows import CancelAction, arun_flow, cancel_flow, run_flow
from airflow_ft_provider.hooks.base import TuningJobHook
from airflow_ft_provider.hooks.registry import get_hook, hook_class_for_platform
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.platforms.paging import NumberedPages
from airflow_ft_provider.platforms.registry import RECORDS
from airflow_ft_provider.platforms.wire import ApiResponse
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Emulator, Fault, JobScript
from airflow_ft_provider.testing.platforms import SPECS
from tests.conftest import PLATFORMS, conn_id_for, connection_dict
from tests.platforms.emulated import logged_path
from tests.security.support import MISSING_IDS

CANCELLABLE = [p for p in PLATFORMS if RECORDS[p].can_cancel]
MODES = ["sync", "async"]
NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)


def call(hook: TuningJobHook, mode: str, method: str, *args: Any) -> Any:
    """Call ``method`` or its ``a``-prefixed coroutine twin, the same way a worker or triggerer would."""
    if mode == "sync":
        return getattr(hook, method)(*args)

    async def run() -> Any:
        try:
            if method == "list_jobs":
                return [job async for job in hook.alist_jobs(*args)]
            return await getattr(hook, f"a{method}")(*args)
        finally:
            await process_cache.aclose()

    return asyncio.run(run())


def api_requests(emu: Emulator, platform: Platform) -> list:
    """The platform API's requests, without its token exchanges (Vertex AI's OAuth, watsonx.ai's IAM)."""
    return [r for r in emu.requests(platform) if not emu.spec(platform).is_auxiliary(r.path)]


def hook_for(platform: Platform) -> TuningJobHook:
    return hook_class_for_platform(platform)(conn_id=conn_id_for(platform))


def state_after(emu: Emulator, platform: Platform, job_id: str, seconds: float) -> TuningJobState:
    time.sleep(seconds)
    return hook_for(platform).get_job(job_id).state


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
class TestEveryPlatform:
    def test_get_running_job(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, display_name="nightly-sft", script=NEVER_ENDS)
        job = call(hook_for(platform), mode, "get_job", job_id)
        assert job.platform is platform
        assert job.state is TuningJobState.RUNNING
        assert job.job_id.endswith(job_id.rsplit("/", 1)[-1])
        assert job.created_at is not None and job.created_at.tzinfo is not None
        assert job.to_xcom()["state"] == "RUNNING"

    def test_list_reads_every_page(self, emu, connections, platform, mode):
        seeded = set(emu.seed_many(platform, 23, script=NEVER_ENDS))
        jobs = call(hook_for(platform), mode, "list_jobs", 10)
        assert {j.job_id for j in jobs} == {j.job_id for j in (hook_for(platform).get_job(i) for i in seeded)}
        dialect = hook_for(platform).get_conn().dialect
        listing = dialect.list_request(None, 10)
        list_path, target = logged_path(emu, platform, listing.url), listing.headers.get("X-Amz-Target")
        list_calls = [
            r
            for r in api_requests(emu, platform)  # AWS JSON 1.1: every call to one path, named by X-Amz-Target
            if urlsplit(r.path).path == list_path and r.headers.get("x-amz-target") == target
        ]
        # 23 jobs, 10 a page; or the server's own page where the platform takes no size (None: all at once)
        per_page = dialect.paging.size.ask(10) if dialect.paging.size else dialect.paging.read_ask({}).limit
        assert len(list_calls) == (math.ceil(23 / per_page) if per_page else 1)

    def test_missing_job(self, emu, connections, platform, mode):
        emu.seed(platform, script=NEVER_ENDS)
        missing = MISSING_IDS[platform]
        with pytest.raises(JobNotFoundError) as info:
            call(hook_for(platform), mode, "get_job", missing)
        assert info.value.platform == platform

    def test_wrong_credentials(self, emu, connections, platform, mode, set_connection):
        job_id = emu.seed(platform, script=NEVER_ENDS)
        set_connection(conn_id_for(platform), connection_dict(emu, platform, key="wrong-key-4242"))
        with pytest.raises(AuthenticationError) as info:
            call(hook_for(platform), mode, "get_job", job_id)
        assert "wrong-key-4242" not in str(info.value)
        assert not any(r.status == 200 for r in api_requests(emu, platform))

    def test_rate_limit_hint_is_honoured(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, script=NEVER_ENDS)
        emu.inject(platform, Fault.status(429, retry_after=0.4, count=2))
        started = time.monotonic()
        job = call(hook_for(platform), mode, "get_job", job_id)
        assert job.state is TuningJobState.RUNNING
        statuses = [r.status for r in api_requests(emu, platform)]
        # The platform's rate-limit answer: a 429, or AWS JSON 1.1's 400 ThrottlingException.
        limited = SPECS[platform].error(429, retry_after=0.4)
        assert statuses[-3:] == [limited.status_code, limited.status_code, 200]
        answer = ApiResponse(limited.status_code, dict(limited.headers), bytes(limited.body))
        if hook_for(platform).get_conn().dialect.retry_hint(answer) is not None:  # else our own backoff applies
            assert time.monotonic() - started >= 0.8

    def test_burst_of_503_is_retried(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, script=NEVER_ENDS)
        emu.inject(platform, Fault.status(503, count=4))
        assert call(hook_for(platform), mode, "get_job", job_id).state is TuningJobState.RUNNING
        assert [r.status for r in api_requests(emu, platform)][-5:] == [503, 503, 503, 503, 200]

    def test_endless_outage_gives_up_with_a_typed_error(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, script=NEVER_ENDS)
        emu.inject(platform, Fault.status(503, count=100))
        with pytest.raises(PlatformUnavailableError):
            call(hook_for(platform), mode, "get_job", job_id)
        assert len(api_requests(emu, platform)) == 6  # max_retries=5 in the test connection

    def test_dropped_connection_is_retried(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, script=NEVER_ENDS)
        emu.inject(platform, Fault.drop(count=2))
        assert call(hook_for(platform), mode, "get_job", job_id).state is TuningJobState.RUNNING


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", CANCELLABLE)
class TestCancel:
    def test_cancel_running_job_until_cancelled(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, script=NEVER_ENDS)
        call(hook_for(platform), mode, "cancel_job", job_id)
        assert state_after(emu, platform, job_id, 0.6) is TuningJobState.CANCELLED

    def test_cancel_of_ended_job_is_refused(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, script=JobScript(running_s=0.0))
        with pytest.raises(JobNotCancellableError):
            call(hook_for(platform), mode, "cancel_job", job_id)

    def test_cancel_of_missing_job(self, emu, connections, platform, mode):
        job_id = emu.seed(platform, script=NEVER_ENDS)
        hook = hook_for(platform)
        hook.cancel_job(job_id)
        missing = job_id[:-3] + ("999" if job_id[-3:] != "999" else "998")
        with pytest.raises((JobNotFoundError, JobNotCancellableError)):
            call(hook, mode, "cancel_job", missing)


@pytest.mark.parametrize("platform", CANCELLABLE)
def test_cancel_flow_is_idempotent(emu, connections, platform):
    """Cancelling twice sends one cancel; a job already cancelling gets none."""
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=5.0))
    hook = hook_for(platform)
    first = run_flow(hook, cancel_flow(job_id))
    second = run_flow(hook, cancel_flow(job_id))
    cancels = [r for r in api_requests(emu, platform) if r.is_cancel]
    assert first.action is CancelAction.SENT
    assert len(cancels) == 1
    assert second.action in (CancelAction.ALREADY_CANCELLING, CancelAction.ALREADY_ENDED)


@pytest.mark.parametrize("platform", CANCELLABLE)
def test_async_cancel_flow_matches_sync(emu, connections, platform):
    job_id = emu.seed(platform, script=NEVER_ENDS)

    async def run():
        try:
            return await arun_flow(hook_for(platform), cancel_flow(job_id))
        finally:
            await process_cache.aclose()

    assert asyncio.run(run()).action is CancelAction.SENT


@pytest.mark.parametrize("mode", MODES)
def test_gemini_cancel_is_not_supported(emu, connections, mode):
    job_id = emu.seed(Platform.GEMINI, script=NEVER_ENDS)
    with pytest.raises(OperationNotSupportedError) as info:
        call(hook_for(Platform.GEMINI), mode, "cancel_job", job_id)
    assert "Vertex AI" in str(info.value)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_connection_test_button(emu, connections, platform, set_connection):
    ok, message = get_hook(conn_id_for(platform)).test_connection()
    assert ok, message
    set_connection(conn_id_for(platform), connection_dict(emu, platform, key="bad-key"))
    ok, message = get_hook(conn_id_for(platform)).test_connection()
    assert not ok
    assert "bad-key" not in message


def test_async_client_is_shared_per_connection(emu, connections):
    job_ids = emu.seed_many(Platform.OPENAI, 20, script=NEVER_ENDS)

    async def run():
        hooks = [hook_for(Platform.OPENAI) for _ in job_ids]
        try:
            await asyncio.gather(*(h.aget_job(j) for h, j in zip(hooks, job_ids, strict=True)))
            clients = {id((await h.atransport()).pool) for h in hooks}
            return clients
        finally:
            await process_cache.aclose()

    assert len(asyncio.run(run())) == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_list_all_jobs_fetches_numbered_pages_side_by_side(emu, connections, platform):
    """The bulk operator's listing: same jobs as the page-by-page walk; DashScope's numbered
    pages after the first go through the given map (an executor's: side by side)."""
    seeded = set(emu.seed_many(platform, 23, script=NEVER_ENDS))
    hook = hook_for(platform)
    paging = hook.record.dialect.paging
    mapped: list[str] = []

    def map_pages(fetch, requests):
        mapped.extend(request.params[paging.number_param] for request in requests)
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(fetch, requests))

    everything = hook.list_all_jobs(10, map_pages=map_pages)
    assert sorted(j.job_id for j in everything) == sorted(j.job_id for j in hook.list_jobs(10))
    assert len(everything) == len(seeded)
    assert mapped == (["2", "3"] if isinstance(paging, NumberedPages) else [])


def test_a_host_without_its_scheme_fails_with_a_hint(emu, set_connection):
    """The emulator speaks plain HTTP; a host written without http:// is taken as https://, and the
    handshake's failure, which no retry can mend, is a configuration error at once."""
    platform = Platform.OPENAI
    conn = connection_dict(emu, platform, max_retries=5)
    conn["host"] = conn["host"].removeprefix("http://")
    set_connection("ft_openai_noscheme", conn)
    hook = hook_class_for_platform(platform)(conn_id="ft_openai_noscheme")
    with pytest.raises(ConnectionConfigError, match="write the connection's host as http://host:port"):
        hook.get_job("ftjob-abc")


@pytest.mark.parametrize("platform", CANCELLABLE)
def test_the_request_log_tells_a_read_from_a_cancel_and_a_token_exchange(emu, connections, platform):
    """What e2e tests and the demo count on: the read and the cancel of a job name it (SageMaker in
    the body), only the read is a read, and nothing else the hook sent is (token exchanges)."""
    job_id = emu.seed(platform, script=NEVER_ENDS)
    emu.clear_requests()
    hook = hook_for(platform)
    hook.get_job(job_id)
    hook.cancel_job(job_id)
    log = emu.requests(platform)
    about = [r for r in log if r.mentions(job_id.rsplit("/", 1)[-1])]
    assert [(r.is_read, r.is_cancel) for r in about] == [(True, False), (False, True)], about
    others = [r for r in log if r not in about]
    assert all(r.auxiliary and not r.is_read for r in others), others
