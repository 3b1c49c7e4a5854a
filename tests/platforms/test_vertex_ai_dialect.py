"""The Vertex AI dialect, from literal JSON bytes: no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_ft_provider.errors import (
    InvalidJobIdError,
    JobNotCancellableError,
    JobNotFoundError,
    MalformedResponseError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse, Operation
from airflow_ft_provider.platforms.vertex_ai import STATES, VertexAIDialect, console_url, default_base_url

BASE = "https://us-central1-aiplatform.googleapis.com"
NAME = "projects/my-project/locations/us-central1/tuningJobs/1234567890"


@pytest.fixture
def dialect() -> VertexAIDialect:
    return VertexAIDialect(None, "my-project", "us-central1")


def ok(payload: object) -> ApiResponse:
    return ApiResponse(200, {"content-type": "application/json"}, json.dumps(payload).encode())


# -- settings and URLs ------------------------------------------------------------------
def test_default_hosts() -> None:
    assert default_base_url("us-central1") == BASE
    assert default_base_url("europe-west4") == "https://europe-west4-aiplatform.googleapis.com"
    assert default_base_url("global") == "https://aiplatform.googleapis.com"
    assert VertexAIDialect(None, "p-1", "global").base_url == "https://aiplatform.googleapis.com"


@pytest.mark.parametrize(
    ("setting", "kwargs"),
    [
        ("project", {"project": "My Project"}),
        ("project", {"project": "p/../q"}),
        ("project", {"project": ""}),
        ("location", {"location": "us-central1/x"}),
        ("location", {"location": "US"}),
        ("API version", {"api_version": "v1/../admin"}),
        ("quota project", {"quota_project": "a?b"}),
    ],
)
def test_bad_settings_are_refused(setting: str, kwargs: dict[str, str]) -> None:
    args = {"project": "my-project", "location": "us-central1", **kwargs}
    with pytest.raises(ValueError, match=setting):
        VertexAIDialect(None, **args)


def test_get_request_for_each_id_form(dialect: VertexAIDialect) -> None:
    url = f"{BASE}/v1/{NAME}"
    for job_id in (NAME, "tuningJobs/1234567890", "1234567890"):
        request = dialect.get_request(job_id)
        assert (request.operation, request.method, request.url) == (Operation.GET, "GET", url)
        assert request.job_id == NAME
        assert request.headers == {}


def test_full_name_with_project_number_and_domain_project(dialect: VertexAIDialect) -> None:
    name = "projects/123456789012/locations/us-central1/tuningJobs/42"
    assert dialect.get_request(name).url == f"{BASE}/v1/{name}"
    scoped = "projects/example.com:my-project/locations/us-central1/tuningJobs/42"
    request = dialect.get_request(scoped)
    assert request.url == f"{BASE}/v1/projects/example.com%3Amy-project/locations/us-central1/tuningJobs/42"
    assert request.job_id == scoped


def test_job_in_another_location_goes_to_its_regional_host(dialect: VertexAIDialect) -> None:
    name = "projects/my-project/locations/europe-west4/tuningJobs/9"
    assert dialect.get_request(name).url == f"https://europe-west4-aiplatform.googleapis.com/v1/{name}"
    global_name = "projects/my-project/locations/global/tuningJobs/9"
    assert dialect.get_request(global_name).url == f"https://aiplatform.googleapis.com/v1/{global_name}"
    from_global = VertexAIDialect(None, "my-project", "global")
    assert from_global.get_request(NAME).url == f"{BASE}/v1/{NAME}"


def test_custom_host_serves_every_location() -> None:
    dialect = VertexAIDialect("http://127.0.0.1:8080/", "my-project", "us-central1", api_version="v1beta1")
    name = "projects/my-project/locations/europe-west4/tuningJobs/9"
    assert dialect.get_request(name).url == f"http://127.0.0.1:8080/v1beta1/{name}"


def test_canonical_id_normalizes_to_the_full_name(dialect: VertexAIDialect) -> None:
    assert dialect.canonical_id("42") == "projects/my-project/locations/us-central1/tuningJobs/42"


BAD_IDS = [
    "",
    "   ",
    None,
    42,
    "../x",
    "a/b",
    "%2e%2e/",
    "12%2F3",
    "123?x=1",
    "123#frag",
    "123\n",
    "12\x003",
    "1" * 10_000,
    "x" * 10_000,
    "abc",
    "tuningJobs/abc",
    "tuningJobs/1/..",
    "projects/p/locations/l/tuningJobs/../1",
    "projects/../locations/us-central1/tuningJobs/1",
    "projects/p..q/locations/us-central1/tuningJobs/1",
    "projects/p/locations/us-central1/tuningJobs/1/",
    "/projects/p/locations/us-central1/tuningJobs/1",
    "projects/p/locations/us-central1/tuningJobs/1:cancel",
    "projects/P/locations/us-central1/tuningJobs/1",
    "projects/p/locations/us central1/tuningJobs/1",
    "projects/p/locations/us-central1/models/1",
    "https://evil.example/projects/p/locations/l/tuningJobs/1",
    " 123",
    "１２３",  # noqa: RUF001 - full-width digits are not ASCII digits
]


@pytest.mark.parametrize("job_id", BAD_IDS, ids=range(len(BAD_IDS)))
def test_bad_ids_are_refused_before_any_request(dialect: VertexAIDialect, job_id: object) -> None:
    for build in (dialect.get_request, dialect.cancel_request, dialect.canonical_id):
        with pytest.raises(InvalidJobIdError) as info:
            build(job_id)  # type: ignore[arg-type]
        assert info.value.platform == Platform.VERTEX_AI
        assert len(str(info.value)) < 500


def test_cancel_request(dialect: VertexAIDialect) -> None:
    request = dialect.cancel_request("tuningJobs/1234567890")
    assert request.operation is Operation.CANCEL
    assert request.method == "POST"
    assert request.url == f"{BASE}/v1/{NAME}:cancel"
    assert request.json == {}
    assert request.job_id == NAME


def test_parse_cancel_returns_none(dialect: VertexAIDialect) -> None:
    request = dialect.cancel_request(NAME)
    assert dialect.parse_cancel(ok({}), request) is None


def test_quota_project_header_on_every_request() -> None:
    dialect = VertexAIDialect(None, "my-project", quota_project="billing-project")
    expected = {"x-goog-user-project": "billing-project"}
    assert dialect.get_request("1").headers == expected
    assert dialect.cancel_request("1").headers == expected
    assert dialect.list_request(None, None).headers == expected


# -- listing ------------------------------------------------------------------------------
def test_list_request_defaults_and_tokens(dialect: VertexAIDialect) -> None:
    request = dialect.list_request(None, None)
    assert request.operation is Operation.LIST
    assert request.url == f"{BASE}/v1/projects/my-project/locations/us-central1/tuningJobs"
    assert request.params == {"pageSize": "100"}
    request = dialect.list_request("tok/en==", 5)
    assert request.params == {"pageSize": "5", "pageToken": "tok/en=="}


def test_parse_page_with_and_without_next_token(dialect: VertexAIDialect) -> None:
    request = dialect.list_request(None, 2)
    jobs = [{"name": NAME, "state": "JOB_STATE_RUNNING"}, {"name": NAME[:-1] + "1", "state": "JOB_STATE_QUEUED"}]
    page = dialect.parse_page(ok({"tuningJobs": jobs, "nextPageToken": "next"}), request)
    assert [j.state for j in page.jobs] == [TuningJobState.RUNNING, TuningJobState.QUEUED]
    assert page.next_token == "next"
    last = dialect.parse_page(ok({"tuningJobs": jobs[:1], "nextPageToken": ""}), request)
    assert last.next_token is None
    empty = dialect.parse_page(ok({}), request)
    assert (empty.jobs, empty.next_token) == ([], None)


@pytest.mark.parametrize(
    "payload",
    [{"tuningJobs": {"a": 1}}, {"tuningJobs": [1]}, {"tuningJobs": [{"state": "JOB_STATE_RUNNING"}]}, []],
)
def test_parse_page_malformed(dialect: VertexAIDialect, payload: object) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_page(ok(payload), dialect.list_request(None, None))


# -- jobs ---------------------------------------------------------------------------------
FULL_JOB = {
    "name": "projects/123456789012/locations/us-central1/tuningJobs/1234567890",
    "tunedModelDisplayName": "my-tuned-model",
    "baseModel": "gemini-2.5-flash",
    "state": "JOB_STATE_CANCELLED",
    "createTime": "2025-01-02T03:04:05.123456789Z",
    "startTime": "2025-01-02T03:05:00Z",
    "updateTime": "2025-01-02T04:00:00.5+00:00",
    "endTime": "2025-01-02T04:00:00.999999999Z",
    "error": {"code": 1, "message": "CANCELED"},
    "labels": {"team": "ml", "bad": 3},
    "tunedModel": {"model": "projects/123456789012/locations/us-central1/models/77", "endpoint": "e"},
    "supervisedTuningSpec": {"trainingDatasetUri": "gs://b/train.jsonl"},
}


def test_parse_full_job(dialect: VertexAIDialect) -> None:
    job = dialect.parse_job(ok(FULL_JOB))
    assert job.platform == Platform.VERTEX_AI
    assert job.job_id == FULL_JOB["name"]  # the name the server returned, project number and all
    assert job.state is TuningJobState.CANCELLED
    assert job.native_state == "JOB_STATE_CANCELLED"
    assert job.display_name == "my-tuned-model"
    assert job.base_model == "gemini-2.5-flash"
    assert job.tuned_model == "projects/123456789012/locations/us-central1/models/77"
    assert job.created_at == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert job.started_at == datetime(2025, 1, 2, 3, 5, tzinfo=UTC)
    assert job.updated_at == datetime(2025, 1, 2, 4, 0, 0, 500000, tzinfo=UTC)
    assert job.ended_at == datetime(2025, 1, 2, 4, 0, 0, 999999, tzinfo=UTC)
    assert job.error_message == "CANCELED"
    assert job.labels == {"team": "ml"}
    assert job.console_url == (
        "https://console.cloud.google.com/vertex-ai/generative/language/locations/us-central1"
        "/tuning/tuningJob/1234567890?project=123456789012"
    )
    assert job.to_xcom()["job_id"] == FULL_JOB["name"]


def test_minimal_job_without_state_is_unspecified(dialect: VertexAIDialect) -> None:
    job = dialect.parse_job(ok({"name": NAME}))
    assert job.state is TuningJobState.UNKNOWN
    assert job.native_state == "JOB_STATE_UNSPECIFIED"
    assert (job.created_at, job.tuned_model, job.error_message, job.labels) == (None, None, None, {})


EXPECTED_STATES = {
    "JOB_STATE_UNSPECIFIED": TuningJobState.UNKNOWN,
    "JOB_STATE_QUEUED": TuningJobState.QUEUED,
    "JOB_STATE_PENDING": TuningJobState.PENDING,
    "JOB_STATE_RUNNING": TuningJobState.RUNNING,
    "JOB_STATE_CANCELLING": TuningJobState.CANCELLING,
    "JOB_STATE_SUCCEEDED": TuningJobState.SUCCEEDED,
    "JOB_STATE_FAILED": TuningJobState.FAILED,
    "JOB_STATE_CANCELLED": TuningJobState.CANCELLED,
    "JOB_STATE_PAUSED": TuningJobState.PAUSED,
    "JOB_STATE_EXPIRED": TuningJobState.EXPIRED,
    "JOB_STATE_UPDATING": TuningJobState.RUNNING,
    "JOB_STATE_PARTIALLY_SUCCEEDED": TuningJobState.SUCCEEDED,
}


def test_state_table_covers_every_documented_state() -> None:
    assert STATES == EXPECTED_STATES


@pytest.mark.parametrize(("native", "state"), EXPECTED_STATES.items())
def test_every_native_state(dialect: VertexAIDialect, native: str, state: TuningJobState) -> None:
    job = dialect.parse_job(ok({"name": NAME, "state": native}))
    assert (job.state, job.native_state) == (state, native)


@pytest.mark.parametrize("native", ["JOB_STATE_HIBERNATING", "job_state_running", "RUNNING", ""])
def test_unknown_state_is_unknown_with_native_kept(dialect: VertexAIDialect, native: str) -> None:
    job = dialect.parse_job(ok({"name": NAME, "state": native}))
    assert job.state is TuningJobState.UNKNOWN
    assert job.native_state == native


def test_non_string_state_is_unknown(dialect: VertexAIDialect) -> None:
    assert dialect.parse_job(ok({"name": NAME, "state": 4})).state is TuningJobState.UNKNOWN


def test_garbage_fields_do_not_fail_a_read(dialect: VertexAIDialect) -> None:
    job = dialect.parse_job(
        ok(
            {
                "name": NAME,
                "state": "JOB_STATE_RUNNING",
                "createTime": "yesterday",
                "startTime": 12,
                "error": "x",
                "tunedModel": [],
                "labels": [1],
                "baseModel": {"a": 1},
            }
        )
    )
    assert job.state is TuningJobState.RUNNING
    assert job.created_at is None
    assert (job.error_message, job.tuned_model, job.labels, job.base_model) == (None, None, {}, None)


@pytest.mark.parametrize("content", [b"", b"[]", b"{}", b'{"name": 5}', b"nope", b"[" * 50_000])
def test_unreadable_job_is_malformed(dialect: VertexAIDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_job(ApiResponse(200, {}, content))


def test_console_url_needs_a_full_name() -> None:
    assert console_url("garbage") is None


# -- errors -------------------------------------------------------------------------------
def test_errors_go_through_the_google_mapping(dialect: VertexAIDialect) -> None:
    cancel = dialect.cancel_request(NAME)
    ended = b'{"error":{"code":400,"message":"Job already ended","status":"FAILED_PRECONDITION"}}'
    error = dialect.parse_error(ApiResponse(400, {}, ended), cancel)
    assert isinstance(error, JobNotCancellableError)
    assert error.job_id == NAME
    missing = b'[{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}]'
    assert isinstance(dialect.parse_error(ApiResponse(404, {}, missing), cancel), JobNotFoundError)
    busy = (
        b'{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":'
        b'[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"53s"}]}}'
    )
    error = dialect.parse_error(ApiResponse(429, {}, busy), dialect.get_request(NAME))
    assert isinstance(error, RateLimitedError)
    assert dialect.retry_hint(ApiResponse(429, {}, busy)) == 53.0
