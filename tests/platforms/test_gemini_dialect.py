"""The Gemini API dialect, from literal JSON bytes: no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    JobNotFoundError,
    MalformedResponseError,
    OperationNotSupportedError,
    PermissionDeniedError,
    PlatformUnavailableError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse, Operation
from airflow_ft_provider.platforms.gemini import CANCEL_UNSUPPORTED, STATES, GeminiDialect

BASE = "https://generativelanguage.googleapis.com"


@pytest.fixture
def dialect() -> GeminiDialect:
    return GeminiDialect()


def ok(payload: object) -> ApiResponse:
    return ApiResponse(200, {}, json.dumps(payload).encode())


def google(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


def test_requests(dialect: GeminiDialect) -> None:
    for job_id in ("tunedModels/my-model-42", "my-model-42"):
        get = dialect.get_request(job_id)
        assert (get.operation, get.method, get.url) == (Operation.GET, "GET", f"{BASE}/v1beta/tunedModels/my-model-42")
        assert get.job_id == "tunedModels/my-model-42"
        cancel = dialect.cancel_request(job_id)
        assert (cancel.method, cancel.url) == ("POST", f"{BASE}/v1beta/tunedModels/my-model-42:cancel")
        assert cancel.job_id == "tunedModels/my-model-42"
    assert dialect.canonical_id("abc") == "tunedModels/abc"


def test_no_credential_in_requests(dialect: GeminiDialect) -> None:
    for request in (dialect.get_request("m"), dialect.cancel_request("m"), dialect.list_request(None, None)):
        assert "key" not in request.url
        assert "key" not in request.params
        assert not request.headers


def test_custom_base_and_version() -> None:
    dialect = GeminiDialect("http://127.0.0.1:9000/", api_version="v1")
    assert dialect.get_request("m").url == "http://127.0.0.1:9000/v1/tunedModels/m"
    with pytest.raises(ValueError, match="version"):
        GeminiDialect(api_version="v1/../x")


BAD_IDS = [
    "",
    None,
    "../x",
    "a/b",
    "tunedModels/a/b",
    "tunedModels/",
    "tunedModels/../x",
    "%2e%2e/",
    "model?x=1",
    "model#x",
    "model\n",
    "mo\x00del",
    "m" * 10_000,
    "-leading-hyphen",
    "Upper",
    "a" * 64,
    "models/gemini-pro",
    "tunedModels/m:cancel",
]


@pytest.mark.parametrize("job_id", BAD_IDS, ids=range(len(BAD_IDS)))
def test_bad_ids_are_refused(dialect: GeminiDialect, job_id: object) -> None:
    for build in (dialect.get_request, dialect.cancel_request, dialect.canonical_id):
        with pytest.raises(InvalidJobIdError) as info:
            build(job_id)  # type: ignore[arg-type]
        assert info.value.platform == Platform.GEMINI


def test_longest_id_is_accepted(dialect: GeminiDialect) -> None:
    assert dialect.get_request("a" * 63).url.endswith("/tunedModels/" + "a" * 63)


def test_list_paging(dialect: GeminiDialect) -> None:
    request = dialect.list_request(None, None)
    assert request.url == f"{BASE}/v1beta/tunedModels"
    assert request.params == {"pageSize": "100"}
    assert dialect.list_request("tok", 5000).params == {"pageSize": "1000", "pageToken": "tok"}
    models = [{"name": "tunedModels/a", "state": "ACTIVE"}, {"name": "tunedModels/b", "state": "CREATING"}]
    page = dialect.parse_page(ok({"tunedModels": models, "nextPageToken": "n2"}), request)
    assert [(j.job_id, j.state) for j in page.jobs] == [
        ("tunedModels/a", TuningJobState.SUCCEEDED),
        ("tunedModels/b", TuningJobState.RUNNING),
    ]
    assert page.next_token == "n2"
    assert dialect.parse_page(ok({}), request).next_token is None
    with pytest.raises(MalformedResponseError):
        dialect.parse_page(ok({"tunedModels": "x"}), request)


@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("STATE_UNSPECIFIED", TuningJobState.UNKNOWN),
        ("CREATING", TuningJobState.RUNNING),
        ("ACTIVE", TuningJobState.SUCCEEDED),
        ("FAILED", TuningJobState.FAILED),
        ("DELETING", TuningJobState.UNKNOWN),
        ("active", TuningJobState.UNKNOWN),
    ],
)
def test_states(dialect: GeminiDialect, native: str, state: TuningJobState) -> None:
    job = dialect.parse_job(ok({"name": "tunedModels/m", "state": native}))
    assert (job.state, job.native_state) == (state, native)


def test_state_table() -> None:
    assert set(STATES) == {"STATE_UNSPECIFIED", "CREATING", "ACTIVE", "FAILED"}


def test_missing_state_is_unspecified(dialect: GeminiDialect) -> None:
    job = dialect.parse_job(ok({"name": "tunedModels/m"}))
    assert (job.state, job.native_state) == (TuningJobState.UNKNOWN, "STATE_UNSPECIFIED")


def test_full_model(dialect: GeminiDialect) -> None:
    job = dialect.parse_job(
        ok(
            {
                "name": "tunedModels/number-generator-abc",
                "displayName": "Number generator",
                "baseModel": "models/gemini-1.5-flash-001-tuning",
                "state": "ACTIVE",
                "createTime": "2024-05-01T10:00:00.123456789Z",
                "updateTime": "2024-05-01T11:00:00Z",
                "tuningTask": {
                    "startTime": "2024-05-01T10:01:00.5Z",
                    "completeTime": "2024-05-01T10:59:59.999999999Z",
                    "snapshots": [],
                },
            }
        )
    )
    assert job.platform == Platform.GEMINI
    assert job.job_id == "tunedModels/number-generator-abc"
    assert job.display_name == "Number generator"
    assert job.base_model == "models/gemini-1.5-flash-001-tuning"
    assert job.tuned_model == "tunedModels/number-generator-abc"
    assert job.created_at == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert job.started_at == datetime(2024, 5, 1, 10, 1, 0, 500000, tzinfo=UTC)
    assert job.updated_at == datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert job.ended_at == datetime(2024, 5, 1, 10, 59, 59, 999999, tzinfo=UTC)
    assert job.console_url is None


def test_running_model_has_no_tuned_model_yet(dialect: GeminiDialect) -> None:
    job = dialect.parse_job(ok({"name": "tunedModels/m", "state": "CREATING", "tuningTask": "x"}))
    assert (job.tuned_model, job.started_at) == (None, None)


@pytest.mark.parametrize("content", [b"", b"[]", b'{"state": "ACTIVE"}', b"[" * 50_000])
def test_unreadable_model_is_malformed(dialect: GeminiDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_job(ApiResponse(200, {}, content))


# -- cancel: the method does not exist ------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "content"),
    [
        (404, google(404, "NOT_FOUND", "Method not found.")),
        (404, b"<html><title>Error 404 (Not Found)!!1</title></html>"),
        (404, b""),
        (404, google(404, "NOT_FOUND", "Requested entity was not found.")),
        (405, google(405, "", "Method Not Allowed")),
        (501, google(501, "UNIMPLEMENTED", "Operation is not implemented, or supported, or enabled.")),
        (501, b""),
    ],
)
def test_cancel_without_a_method_is_not_supported(dialect: GeminiDialect, code: int, content: bytes) -> None:
    request = dialect.cancel_request("tunedModels/my-model")
    error = dialect.parse_error(ApiResponse(code, {}, content), request)
    assert type(error) is OperationNotSupportedError
    assert error.message == CANCEL_UNSUPPORTED
    assert "ft_vertex_ai" in str(error)
    assert "Delete the tuned model" in str(error)
    assert (error.status_code, error.job_id, error.platform) == (code, "tunedModels/my-model", Platform.GEMINI)
    assert not error.retryable


@pytest.mark.parametrize(
    "message",
    ["Tuned model tunedModels/my-model not found.", "Model my-model does not exist.", "my-model"],
)
def test_cancel_of_a_missing_model_is_not_found(dialect: GeminiDialect, message: str) -> None:
    request = dialect.cancel_request("my-model")
    error = dialect.parse_error(ApiResponse(404, {}, google(404, "NOT_FOUND", message)), request)
    assert type(error) is JobNotFoundError


def test_a_longer_id_containing_the_model_is_not_a_mention(dialect: GeminiDialect) -> None:
    request = dialect.cancel_request("model")
    content = google(404, "NOT_FOUND", "tunedModels/model-2 has no method cancel")
    assert type(dialect.parse_error(ApiResponse(404, {}, content), request)) is OperationNotSupportedError


def test_get_404_is_not_found_even_without_a_name(dialect: GeminiDialect) -> None:
    content = google(404, "NOT_FOUND", "Requested entity was not found.")
    error = dialect.parse_error(ApiResponse(404, {}, content), dialect.get_request("m"))
    assert type(error) is JobNotFoundError


@pytest.mark.parametrize(
    ("code", "content", "expected"),
    [
        (
            400,
            b'{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",'
            b'"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",'
            b'"reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}',
            AuthenticationError,
        ),
        (403, google(403, "PERMISSION_DENIED", "denied"), PermissionDeniedError),
        (429, google(429, "RESOURCE_EXHAUSTED", "quota"), RateLimitedError),
        (503, google(503, "UNAVAILABLE", "overloaded"), PlatformUnavailableError),
    ],
)
def test_other_cancel_errors_keep_their_meaning(
    dialect: GeminiDialect, code: int, content: bytes, expected: type[Exception]
) -> None:
    error = dialect.parse_error(ApiResponse(code, {}, content), dialect.cancel_request("m"))
    assert type(error) is expected
