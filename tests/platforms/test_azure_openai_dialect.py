"""Azure OpenAI's dialect without a server: addressing in both path styles, states, errors, hints.

What every platform shares (hostile ids, round trips, error classes) is in the contract suite.
"""

from __future__ import annotations

import json

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    JobNotCancellableError,
    JobNotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.platforms.azure_openai import AzureOpenAIDialect
from airflow_ft_provider.platforms.base import ApiResponse, Operation
from airflow_ft_provider.platforms.extras import ExtraError, Extras

ENDPOINT = "https://contoso.openai.azure.com"


def dialect(host: str | None = ENDPOINT, **extras: object) -> AzureOpenAIDialect:
    return AzureOpenAIDialect.from_extras(host, Extras(extras))


def job_body(status: str, **fields: object) -> bytes:
    return json.dumps(
        {"object": "fine_tuning.job", "id": "ftjob-0a1b", "status": status, "model": "gpt-4o-mini", **fields}
    ).encode()


def test_the_v1_api_is_the_default_and_takes_no_version():
    d = dialect()
    get, cancel, listing = d.get_request("ftjob-0a1b"), d.cancel_request("ftjob-0a1b"), d.list_request("ftjob-9", 5)
    assert get.url == f"{ENDPOINT}/openai/v1/fine_tuning/jobs/ftjob-0a1b" and dict(get.params) == {}
    assert (cancel.method, cancel.url) == ("POST", f"{ENDPOINT}/openai/v1/fine_tuning/jobs/ftjob-0a1b/cancel")
    assert listing.url == f"{ENDPOINT}/openai/v1/fine_tuning/jobs"
    assert dict(listing.params) == {"limit": "5", "after": "ftjob-9"}


def test_a_dated_api_version_switches_every_request_to_the_legacy_data_plane():
    d = dialect(api_version="2024-10-21")
    requests = [d.get_request("ftjob-0a1b"), d.cancel_request("ftjob-0a1b"), d.list_request(None, 500)]
    assert [r.url.removeprefix(ENDPOINT) for r in requests] == [
        "/openai/fine_tuning/jobs/ftjob-0a1b",
        "/openai/fine_tuning/jobs/ftjob-0a1b/cancel",
        "/openai/fine_tuning/jobs",
    ]
    assert all(r.params["api-version"] == "2024-10-21" for r in requests)
    assert requests[2].params["limit"] == "100"  # OpenAI's largest page
    assert dialect(api_version="2025-04-01-preview").get_request("ftjob-1").params == {
        "api-version": "2025-04-01-preview"
    }


@pytest.mark.parametrize("host", [ENDPOINT, f"{ENDPOINT}/", f"{ENDPOINT}/openai", f"{ENDPOINT}/openai/v1/"])
def test_the_endpoint_may_be_given_as_the_sdks_base_url(host):
    d = dialect(host)
    assert d.base_url == ENDPOINT
    assert d.get_request("ftjob-1").url == f"{ENDPOINT}/openai/v1/fine_tuning/jobs/ftjob-1"


def test_there_is_no_default_endpoint():
    with pytest.raises(ExtraError, match=r"no endpoint.*Set the connection's Host.*https://<resource>"):
        dialect(None)


@pytest.mark.parametrize("version", ["v1", "latest", "2024-10", "2024-10-21-beta", "2024-10-21?x=1"])
def test_an_undated_api_version_is_refused_naming_the_fix(version):
    with pytest.raises(ExtraError, match=r"api_version=.*not a dated API version.*2024-10-21.*remove it"):
        dialect(api_version=version)


@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("validating_files", TuningJobState.PENDING),
        ("queued", TuningJobState.QUEUED),
        ("running", TuningJobState.RUNNING),
        ("pausing", TuningJobState.RUNNING),
        ("paused", TuningJobState.PAUSED),
        ("resuming", TuningJobState.RUNNING),
        ("succeeded", TuningJobState.SUCCEEDED),
        ("failed", TuningJobState.FAILED),
        ("cancelled", TuningJobState.CANCELLED),
    ],
)
def test_states_are_openais_plus_pausing_and_resuming_which_have_not_ended(native, state):
    job = dialect().parse_job(ApiResponse(200, {}, job_body(native)))
    assert (job.state, job.native_state) == (state, native)
    assert job.platform == "azure_openai"
    if native in ("pausing", "paused", "resuming"):
        assert job.state.is_active and not job.state.is_terminal


def test_a_job_is_parsed_as_openai_parses_it_and_carries_no_console_link():
    body = job_body(
        "failed",
        fine_tuned_model=None,
        created_at=1_730_000_000,
        finished_at=1_730_000_600,
        error={"code": "invalid_training_file", "message": "Line 3 is not JSON."},
        metadata={"team": "search"},
    )
    job = dialect().parse_job(ApiResponse(200, {}, body))
    assert job.error_message == "Line 3 is not JSON." and job.labels == {"team": "search"}
    assert job.created_at is not None and job.ended_at is not None
    assert job.console_url is None


def test_a_listing_pages_on_after_like_openais():
    d = dialect(api_version="2024-10-21")
    request = d.list_request(None, 2)
    items = [json.loads(job_body("running", id=f"ftjob-{i}")) for i in (1, 2)]
    page = d.parse_page(
        ApiResponse(200, {}, json.dumps({"object": "list", "data": items, "has_more": True}).encode()), request
    )
    assert [j.job_id for j in page.jobs] == ["ftjob-1", "ftjob-2"] and page.next_token == "ftjob-2"
    last = d.parse_page(ApiResponse(200, {}, b'{"object": "list", "data": [], "has_more": false}'), request)
    assert last.next_token is None


def azure_error(status: int, code: str, message: str, **headers: str) -> ApiResponse:
    return ApiResponse(status, headers, json.dumps({"error": {"code": code, "message": message}}).encode())


def test_azures_error_body_maps_to_the_shared_classes():
    d = dialect()
    get, cancel = d.get_request("ftjob-0a1b"), d.cancel_request("ftjob-0a1b")
    denied = d.parse_error(azure_error(401, "401", "Access denied due to invalid subscription key."), get)
    assert isinstance(denied, AuthenticationError) and denied.native_code == "401"
    assert "invalid subscription key" in str(denied)
    missing = d.parse_error(azure_error(404, "404", "Resource not found", **{"x-request-id": "r-1"}), get)
    assert isinstance(missing, JobNotFoundError) and missing.job_id == "ftjob-0a1b" and missing.request_id == "r-1"
    ended = d.parse_error(azure_error(400, "invalid_request", "The job is cancelled."), cancel)
    assert isinstance(ended, JobNotCancellableError) and cancel.operation is Operation.CANCEL
    assert isinstance(d.parse_error(azure_error(429, "429", "Retry later."), get), RateLimitedError)
    assert isinstance(d.parse_error(azure_error(429, "insufficient_quota", "No quota."), get), QuotaExhaustedError)


@pytest.mark.parametrize(
    ("headers", "hint"),
    [
        ({"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
        ({"Retry-After": "7"}, 7.0),
        ({}, None),
    ],
)
def test_the_retry_hint_reads_retry_after_ms_before_retry_after(headers, hint):
    assert dialect().retry_hint(azure_error(429, "429", "Retry later.", **headers)) == hint
