"""Together AI dialect: literal wire bytes in, normalized jobs and typed errors out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    MalformedResponseError,
    PermissionDeniedError,
    PlatformUnavailableError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse, Operation
from airflow_ft_provider.platforms.together import DEFAULT_BASE_URL, TogetherDialect

JOB_ID = "ft-3b883474-f39c-40d9-9d5a-7f97ba9eeb9f"


def job(**fields: Any) -> dict[str, Any]:
    base = {
        "id": JOB_ID,
        "status": "running",
        "created_at": "2025-03-01T10:00:00.123456Z",
        "updated_at": "2025-03-01T11:00:00Z",
        "started_at": "2025-03-01T10:05:00+00:00",
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "model_output_name": "me/Meta-Llama-3.1-8B-Instruct-Reference-my-suffix-abc",
        "suffix": "my-suffix",
        "n_epochs": 1,
        "user_id": "u-1",
        "events": [{"object": "fine-tune-event", "message": "started", "type": "job_start"}],
    }
    return {**base, **fields}


def ok(body: Any) -> ApiResponse:
    return ApiResponse(200, {}, json.dumps(body).encode())


@pytest.fixture
def dialect() -> TogetherDialect:
    return TogetherDialect()


# -- states -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("pending", TuningJobState.PENDING),
        ("queued", TuningJobState.QUEUED),
        ("running", TuningJobState.RUNNING),
        ("compressing", TuningJobState.RUNNING),
        ("uploading", TuningJobState.RUNNING),
        ("cancel_requested", TuningJobState.CANCELLING),
        ("cancelled", TuningJobState.CANCELLED),
        ("error", TuningJobState.FAILED),
        ("user_error", TuningJobState.FAILED),
        ("completed", TuningJobState.SUCCEEDED),
    ],
)
def test_every_native_state(dialect: TogetherDialect, native: str, state: TuningJobState) -> None:
    parsed = dialect.parse_job(ok(job(status=native)))
    assert parsed.state is state
    assert parsed.native_state == native


def test_post_training_states_are_still_active(dialect: TogetherDialect) -> None:
    for native in ("compressing", "uploading", "cancel_requested"):
        parsed = dialect.parse_job(ok(job(status=native)))
        assert parsed.state.is_active
        assert not parsed.is_terminal


@pytest.mark.parametrize("native", ["RUNNING", "Running"])  # other unknown states: test_dialect_contract
def test_states_are_case_sensitive(dialect: TogetherDialect, native: object) -> None:
    parsed = dialect.parse_job(ok(job(status=native)))
    assert parsed.state is TuningJobState.UNKNOWN
    assert parsed.native_state == str(native)


# -- job fields -----------------------------------------------------------------------------
def test_fields(dialect: TogetherDialect) -> None:
    parsed = dialect.parse_job(ok(job(status="completed")))
    assert parsed.platform == Platform.TOGETHER
    assert parsed.job_id == JOB_ID
    assert parsed.display_name == "my-suffix"
    assert parsed.base_model == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    assert parsed.tuned_model == "me/Meta-Llama-3.1-8B-Instruct-Reference-my-suffix-abc"
    assert parsed.created_at == datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert parsed.started_at == datetime(2025, 3, 1, 10, 5, tzinfo=UTC)
    assert parsed.updated_at == datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    assert parsed.error_message is None
    assert parsed.console_url == f"https://api.together.ai/jobs/{JOB_ID}"


def test_time_zones_and_garbage(dialect: TogetherDialect) -> None:
    parsed = dialect.parse_job(
        ok(job(created_at="2025-03-01T18:00:00+08:00", started_at="2025-03-01T10:05:00.123456789Z", updated_at="?"))
    )
    assert parsed.created_at == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert parsed.started_at == datetime(2025, 3, 1, 10, 5, 0, 123456, tzinfo=UTC)
    assert parsed.updated_at is None


def test_truncated_job(dialect: TogetherDialect) -> None:
    parsed = dialect.parse_job(ok({"id": JOB_ID, "status": "queued"}))
    assert parsed.state is TuningJobState.QUEUED
    assert (parsed.created_at, parsed.tuned_model, parsed.display_name) == (None, None, None)


def test_console_url_only_for_the_default_host() -> None:
    parsed = TogetherDialect("http://127.0.0.1:9000/v1").parse_job(ok(job()))
    assert parsed.console_url is None


# -- ids and URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize("good", [JOB_ID, "ft-1", "a", "A_b.c-9", "x" * 128])
def test_good_ids(dialect: TogetherDialect, good: str) -> None:
    assert dialect.get_request(good).url == f"{DEFAULT_BASE_URL}/fine-tunes/{good}"


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "a/b",
        "%2e%2e/",
        "a?b",
        "a#b",
        "?",
        "#",
        "ft..1",
        ".x",
        "x" * 129,
    ],
)
@pytest.mark.parametrize("op", ["get_request", "cancel_request"])
def test_bad_ids_refused(dialect: TogetherDialect, bad: object, op: str) -> None:
    with pytest.raises(InvalidJobIdError):
        getattr(dialect, op)(bad)


def test_requests() -> None:
    dialect = TogetherDialect("http://127.0.0.1:9000/v1/")
    get = dialect.get_request(JOB_ID)
    assert (get.operation, get.method, get.url) == (
        Operation.GET,
        "GET",
        f"http://127.0.0.1:9000/v1/fine-tunes/{JOB_ID}",
    )
    cancel = dialect.cancel_request(JOB_ID)
    assert (cancel.operation, cancel.method) == (Operation.CANCEL, "POST")
    assert cancel.url == f"http://127.0.0.1:9000/v1/fine-tunes/{JOB_ID}/cancel"
    assert cancel.json is None
    assert cancel.job_id == JOB_ID


@pytest.mark.parametrize(("token", "size"), [(None, None), (None, 1), ("anything", 50)])
def test_list_request_has_no_paging(dialect: TogetherDialect, token: str | None, size: int | None) -> None:
    request = dialect.list_request(token, size)
    assert (request.operation, request.method, request.url) == (Operation.LIST, "GET", f"{DEFAULT_BASE_URL}/fine-tunes")
    assert dict(request.params) == {}


# -- list and cancel answers ----------------------------------------------------------------
def test_list_is_one_page(dialect: TogetherDialect) -> None:
    body = {"data": [job(id="ft-a", status="running"), job(id="ft-b", status="completed")]}
    page = dialect.parse_page(ok(body), dialect.list_request(None, 1))
    assert [(j.job_id, j.state) for j in page.jobs] == [
        ("ft-a", TuningJobState.RUNNING),
        ("ft-b", TuningJobState.SUCCEEDED),
    ]
    assert page.next_token is None
    assert dialect.parse_page(ok({"data": []}), dialect.list_request(None, None)).jobs == []


def test_cancel_answer_is_the_truncated_job(dialect: TogetherDialect) -> None:
    body = {"id": JOB_ID, "status": "cancel_requested", "created_at": "2025-03-01T10:00:00Z", "user_id": "u"}
    parsed = dialect.parse_cancel(ok(body), dialect.cancel_request(JOB_ID))
    assert parsed is not None
    assert (parsed.job_id, parsed.state) == (JOB_ID, TuningJobState.CANCELLING)


def test_cancel_of_an_ended_job_may_return_it_unchanged(dialect: TogetherDialect) -> None:
    parsed = dialect.parse_cancel(ok(job(status="completed")), dialect.cancel_request(JOB_ID))
    assert parsed is not None and parsed.state is TuningJobState.SUCCEEDED


# -- errors ---------------------------------------------------------------------------------
def error(
    status: int, code: str | None = None, message: str = "boom", headers: dict[str, str] | None = None
) -> ApiResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return ApiResponse(status, headers or {"x-request-id": "req-9"}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "op", "cls"),
    [
        (400, "get", InvalidRequestError),
        (400, "list", InvalidRequestError),
        (400, "cancel", JobNotCancellableError),
        (409, "cancel", JobNotCancellableError),
        (422, "get", InvalidRequestError),
        (422, "cancel", InvalidRequestError),
        (401, "get", AuthenticationError),
        (403, "cancel", PermissionDeniedError),
        (404, "get", JobNotFoundError),
        (404, "cancel", JobNotFoundError),
        (429, "list", RateLimitedError),
        (500, "get", PlatformUnavailableError),
        (503, "cancel", PlatformUnavailableError),
    ],
)
def test_documented_errors(dialect: TogetherDialect, status: int, op: str, cls: type) -> None:
    request = dialect.list_request(None, None) if op == "list" else getattr(dialect, f"{op}_request")(JOB_ID)
    err = dialect.parse_error(error(status), request)
    assert type(err) is cls
    assert (err.status_code, err.request_id, err.platform) == (status, "req-9", Platform.TOGETHER)
    assert err.native_code == "invalid_request_error"  # 'type' stands in for a null 'code'
    assert err.job_id == (None if op == "list" else JOB_ID)
    assert err.message == "boom"
    assert err.retryable is (cls in (RateLimitedError, PlatformUnavailableError))


def test_error_code_preferred_over_type(dialect: TogetherDialect) -> None:
    err = dialect.parse_error(error(429, code="rate_limit_exceeded"), dialect.get_request(JOB_ID))
    assert err.native_code == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("headers", "hint"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "4"}, 4.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
    ],
)
@pytest.mark.parametrize("status", [429, 503])
def test_retry_hints(dialect: TogetherDialect, headers: dict[str, str], hint: float | None, status: int) -> None:
    response = error(status, headers=headers)
    err = dialect.parse_error(response, dialect.get_request(JOB_ID))
    assert isinstance(err, RateLimitedError | PlatformUnavailableError)
    assert dialect.retry_hint(response) == hint


def test_an_http_date_hint_is_the_time_until_it(dialect: TogetherDialect) -> None:
    """As sent: a date in the past is a negative wait, which the transport's policy clamps to 0."""
    past = dialect.retry_hint(error(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert past is not None and past < -3e8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"message": "flat body"}', "flat body"),
        (b'{"error": "just a string"}', "just a string"),
        (b'{"error": {"message": null}}', "HTTP 404 from Together AI"),
        (b"<html>nginx</html>", "HTTP 404 from Together AI"),
        (b"", "HTTP 404 from Together AI"),
        (b"[1, 2]", "HTTP 404 from Together AI"),
    ],
)
def test_tolerated_error_bodies(dialect: TogetherDialect, content: bytes, message: str) -> None:
    err = dialect.parse_error(ApiResponse(404, {}, content), dialect.get_request(JOB_ID))
    assert type(err) is JobNotFoundError
    assert err.message == message


# -- malformed answers ----------------------------------------------------------------------
MALFORMED = [
    b"",
    b"not json",
    b"\xff\xfe\x00",
    b"[]",
    b"null",
    b"42",
    b"{}",
    b'{"id": ""}',
    b'{"id": 7, "status": "running"}',
    b'{"status": "running"}',
]


@pytest.mark.parametrize("content", MALFORMED)
def test_malformed_job(dialect: TogetherDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_job(ApiResponse(200, {}, content))


@pytest.mark.parametrize("content", MALFORMED)
def test_malformed_cancel(dialect: TogetherDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_cancel(ApiResponse(200, {}, content), dialect.cancel_request(JOB_ID))


@pytest.mark.parametrize(
    "content",
    [*MALFORMED[:7], b'{"data": null}', b'{"data": {}}', b'{"data": [null]}', b'{"data": [{"status": "running"}]}'],
)
def test_malformed_page(dialect: TogetherDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_page(ApiResponse(200, {}, content), dialect.list_request(None, None))


def test_a_failed_jobs_reason_comes_from_its_last_error_event(dialect: TogetherDialect) -> None:
    events = [
        {"level": "info", "message": "Job started"},
        {"level": "error", "message": "Job failed: training file has 3 malformed lines"},
    ]
    body = {"id": JOB_ID, "status": "error", "events": events}
    job = dialect.parse_job(ApiResponse(200, {}, json.dumps(body).encode()))
    assert job.error_message == "Job failed: training file has 3 malformed lines"
    running = dialect.parse_job(ApiResponse(200, {}, json.dumps({**body, "status": "running"}).encode()))
    assert running.error_message is None
