"""Fault injection, latency, rate limits and the request log, across platforms."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from airflow_ft_provider.errors import PlatformUnavailableError, RateLimitedError, TuningJobError
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import RECORDS
from airflow_ft_provider.platforms.wire import ApiRequest, ApiResponse
from airflow_ft_provider.testing import Emulator, Fault, JobScript
from airflow_ft_provider.testing.platforms import SPECS
from tests.platforms.emulated import dialect_for
from tests.security.support import MISSING_IDS

#: The platforms whose cancel the emulator answers (the Gemini API has none).
CANCELLABLE = [Platform(name) for name, record in RECORDS.items() if record.can_cancel]


def relative(emu: Emulator, platform: Platform, url: str) -> str:
    """``url`` under the platform's base URL, as the ``api`` clients take it."""
    return url.removeprefix(emu.base_url(platform))


def send(api: dict[Platform, httpx.Client], emu: Emulator, platform: Platform, request: ApiRequest) -> httpx.Response:
    """``request`` (a dialect's) through the platform's authenticated client: its method, path, query,
    body and headers (watsonx.ai's version and project; an AWS JSON 1.1 call is a ``POST /`` named by
    its ``X-Amz-Target``)."""
    url = relative(emu, platform, request.url)
    return api[platform].request(
        request.method, url, params=request.params or None, json=request.json, headers=dict(request.headers)
    )


def read(api: dict[Platform, httpx.Client], emu: Emulator, platform: Platform, job_id: str) -> httpx.Response:
    """The platform's dialect reading ``job_id``."""
    return send(api, emu, platform, dialect_for(emu, platform).get_request(job_id))


def cancel(api: dict[Platform, httpx.Client], emu: Emulator, platform: Platform, job_id: str) -> httpx.Response:
    return send(api, emu, platform, dialect_for(emu, platform).cancel_request(job_id))


def status_of(platform: Platform, status: int) -> int:
    """The status the platform answers for what is an HTTP ``status`` elsewhere (AWS JSON 1.1: 400)."""
    return SPECS[platform].error(status).status_code


def client_reading(emu: Emulator, platform: Platform, response: httpx.Response, request: ApiRequest) -> TuningJobError:
    """The error the platform's dialect makes of ``response``: the client, not a table, reads the body."""
    return dialect_for(emu, platform).parse_error(
        ApiResponse(response.status_code, response.headers, response.content), request
    )


#: What a platform's client makes of each status (AWS JSON 1.1 answers 400 with the kind in the body).
STATUS_ERRORS = {429: RateLimitedError, 500: PlatformUnavailableError, 503: PlatformUnavailableError}


@pytest.mark.parametrize("platform", list(Platform))
@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_faults_use_each_platforms_body(emu, api, platform, status):
    """The fault speaks the platform's error dialect: its client reads the kind and the message
    from the body (a body it could not read would leave a generic "HTTP 500" message)."""
    job_id = emu.seed(platform)
    emu.inject(platform, Fault.status(status, count=2))
    responses = [read(api, emu, platform, job_id) for _ in range(3)]
    assert [r.status_code for r in responses] == [status_of(platform, status)] * 2 + [200]
    assert [r.fault for r in emu.requests(platform)] == ["status", "status", None]
    error = client_reading(emu, platform, responses[0], dialect_for(emu, platform).get_request(job_id))
    assert isinstance(error, STATUS_ERRORS[status]), (platform, type(error), error)
    assert error.message and error.message in responses[0].text, (platform, error.message, responses[0].text)


@pytest.mark.parametrize("platform", list(Platform))
def test_retry_hint_per_platform(emu, api, platform):
    """Where a platform sends a retry hint (header or body), its client reads the emulator's value."""
    emu.inject(platform, Fault.status(429, retry_after=2.0))
    request = dialect_for(emu, platform).get_request(MISSING_IDS[platform])
    response = send(api, emu, platform, request)
    hint = dialect_for(emu, platform).retry_hint(ApiResponse(response.status_code, response.headers, response.content))
    assert hint in (None, 2.0), (platform, hint)
    sent = bool(set(response.headers) & {"retry-after", "retry-after-ms"}) or "retryDelay" in response.text
    assert (hint is not None) == sent, (platform, hint, dict(response.headers))


def test_faults_match_path_and_method_and_can_last_forever(emu, api):
    oa = api[Platform.OPENAI]
    job_id = emu.seed("openai")
    emu.inject("openai", Fault.status(503, path="/cancel", method="post", count=None))
    assert oa.get(f"/fine_tuning/jobs/{job_id}").status_code == 200
    assert [oa.post(f"/fine_tuning/jobs/{job_id}/cancel").status_code for _ in range(3)] == [503] * 3
    assert emu.job_state("openai", job_id) == "running"  # a status fault never reaches the handler
    emu.clear_faults("openai")
    assert oa.post(f"/fine_tuning/jobs/{job_id}/cancel").status_code == 200


def test_faults_are_per_platform(emu, api):
    emu.inject("together", Fault.status(500))
    assert api[Platform.OPENAI].get("/fine_tuning/jobs").status_code == 200
    assert api[Platform.TOGETHER].get("/fine-tunes").status_code == 500


@pytest.mark.parametrize("platform", list(Platform))
def test_drop_closes_without_a_response(emu, api, platform):
    job_id = emu.seed(platform)
    emu.inject(platform, Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        read(api, emu, platform, job_id)
    assert read(api, emu, platform, job_id).status_code == 200  # next request is fine
    dropped = emu.requests(platform)[0]
    assert (dropped.status, dropped.fault) == (None, "drop")


@pytest.mark.parametrize("platform", CANCELLABLE)
def test_drop_after_processing_loses_only_the_reply(emu, api, platform):
    job_id = emu.seed(platform, script=JobScript(cancel_s=60))
    emu.inject(platform, Fault.drop(after=True, method=dialect_for(emu, platform).cancel_request(job_id).method))
    with pytest.raises(httpx.RemoteProtocolError):
        cancel(api, emu, platform, job_id)
    assert emu.job_phase(platform, job_id) == "cancelling"  # the cancel happened all the same


def test_slow(emu, api):
    emu.inject("dashscope", Fault.slow(0.3))
    start = time.monotonic()
    assert api[Platform.DASHSCOPE].get("/fine-tunes").status_code == 200
    assert time.monotonic() - start >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        emu.inject("dashscope", Fault.slow(1.0))
        api[Platform.DASHSCOPE].get("/fine-tunes", timeout=0.2)


def test_a_request_from_before_a_reset_is_not_logged_after_it(emu, api):
    """A slow answer that outlives its test (its client gave up) is not the next test's request."""
    emu.inject("dashscope", Fault.slow(0.5))
    with pytest.raises(httpx.ReadTimeout):
        api[Platform.DASHSCOPE].get("/fine-tunes", timeout=0.1)
    emu.reset()
    time.sleep(0.8)  # the straggler's answer starts during this, after the reset
    assert emu.requests() == []
    assert api[Platform.DASHSCOPE].get("/fine-tunes").status_code == 200
    assert [r.path for r in emu.requests()] == ["/api/v1/fine-tunes"]


@pytest.mark.parametrize("platform", list(Platform))
def test_malformed_is_200_with_broken_json(emu, api, platform):
    job_id = emu.seed(platform)
    emu.inject(platform, Fault.malformed())
    response = read(api, emu, platform, job_id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_latency_per_platform_or_default(emu, api, hosts):
    emu.set_latency(0.5)
    emu.set_latency(0.0, platform="openai")
    start = time.monotonic()
    assert api[Platform.OPENAI].get("/fine_tuning/jobs").status_code == 200
    assert time.monotonic() - start < 0.45
    start = time.monotonic()
    assert hosts[Platform.TOGETHER].get("/v1/fine-tunes").status_code == 401  # latency comes before every answer
    assert time.monotonic() - start >= 0.5


def test_concurrent_requests_overlap_their_latency(emu):
    import asyncio

    emu.set_latency(0.3)

    async def burst() -> list[int]:
        headers = {"Authorization": f"Bearer {emu.api_key('openai')}"}
        async with httpx.AsyncClient(base_url=emu.base_url("openai"), headers=headers) as c:
            responses = await asyncio.gather(*(c.get("/fine_tuning/jobs") for _ in range(20)))
        return [r.status_code for r in responses]

    start = time.monotonic()
    assert asyncio.run(burst()) == [200] * 20
    assert time.monotonic() - start < 3.0  # 6 s if served one by one


@pytest.mark.parametrize("platform", list(Platform))
def test_rate_limit_answers_the_platforms_429(emu, api, platform):
    emu.set_rate_limit(platform, per_second=0.5, burst=2)
    responses = [read(api, emu, platform, MISSING_IDS[platform]) for _ in range(4)]
    assert [r.status_code for r in responses] == [status_of(platform, 404)] * 2 + [status_of(platform, 429)] * 2
    error = client_reading(emu, platform, responses[-1], dialect_for(emu, platform).get_request(MISSING_IDS[platform]))
    assert isinstance(error, RateLimitedError) and error.message in responses[-1].text, (platform, error)
    assert emu.requests(platform)[-1].fault == "rate_limit"
    emu.set_rate_limit(platform, None)
    assert {read(api, emu, platform, MISSING_IDS[platform]).status_code for _ in range(5)} == {status_of(platform, 404)}


def test_rate_limit_refills(emu, api):
    emu.set_rate_limit("together", per_second=2, burst=1)
    assert [api[Platform.TOGETHER].get("/fine-tunes").status_code for _ in range(2)] == [200, 429]
    time.sleep(0.55)  # one token back at 2/s
    assert api[Platform.TOGETHER].get("/fine-tunes").status_code == 200


def test_rate_limit_hint_is_time_to_next_token(emu, api):
    emu.set_rate_limit("openai", per_second=1, burst=1)
    api[Platform.OPENAI].get("/fine_tuning/jobs")
    limited = api[Platform.OPENAI].get("/fine_tuning/jobs")
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after-ms"]) <= 1000


def test_request_log_redacts_credentials(emu, hosts):
    hosts[Platform.GEMINI].get("/v1beta/tunedModels", params={"key": "secret-1", "pageSize": 2})
    hosts[Platform.GEMINI].get("/v1beta/tunedModels", headers={"x-goog-api-key": "secret-2"})
    openai_auth = {"Authorization": "Bearer secret-3", "Cookie": "s=secret-4"}
    hosts[Platform.OPENAI].get("/v1/fine_tuning/jobs", headers=openai_auth)
    hosts[Platform.DASHSCOPE].post("/api/v1/fine-tunes", headers={"Authorization": "secret-5"}, json={"model": "m"})
    records = emu.requests()
    assert "secret" not in repr(records)
    assert records[0].query == "key=***&pageSize=2"
    assert records[1].headers["x-goog-api-key"] == "***"
    assert records[2].headers["authorization"] == "Bearer ***" and records[2].headers["cookie"] == "***"
    assert records[3].body == '{"model":"m"}' and records[3].headers["authorization"] == "***"
    assert [r.platform for r in records] == ["gemini", "gemini", "openai", "dashscope"]
    assert all(isinstance(r.time, float) for r in records) and records[0].time <= records[-1].time


def test_request_log_filters_and_unknown_paths(emu, client, hosts):
    client.get("/v2/nothing-here")
    client.get("/v1/fine_tuning/jobs")  # a vendor's path without its platform's prefix
    hosts[Platform.OPENAI].get("/v1/fine_tuning/jobs")
    unknowns = emu.requests()[:2]
    assert [(r.platform, r.status, r.path) for r in unknowns] == [
        (None, 404, "/v2/nothing-here"),
        (None, 404, "/v1/fine_tuning/jobs"),
    ]
    # Logged as the vendor's path, below the prefix.
    assert [r.path for r in emu.requests("openai")] == ["/v1/fine_tuning/jobs"]
    since = emu.requests()[-1].time
    hosts[Platform.TOGETHER].get("/v1/fine-tunes")
    assert [r.path for r in emu.requests(since=since)][-1] == "/v1/fine-tunes"
    emu.clear_requests()
    assert emu.requests() == []


def test_wrong_method_gets_a_native_404(emu, api):
    response = api[Platform.TOGETHER].delete("/fine-tunes")
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
