"""DashScope dialect: literal wire bytes in, normalized jobs and typed errors out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
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
from airflow_ft_provider.platforms.dashscope import BASE_URLS, DashScopeDialect

CN = BASE_URLS["cn"]
INTL = BASE_URLS["intl"]
JOB_ID = "ft-202410291653-1c7f"


def job(**fields: Any) -> dict[str, Any]:
    base = {
        "job_id": JOB_ID,
        "job_name": "my-sft",
        "status": "RUNNING",
        "model": "qwen3-14b",
        "base_model": "qwen3-14b",
        "training_file_ids": ["file-1"],
        "hyper_parameters": {"n_epochs": 1},
        "training_type": "sft",
        "create_time": "2024-10-29 16:53:53",
        "workspace_id": "llm-abc",
    }
    return {**base, **fields}


def ok(body: Any, headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(200, headers or {}, json.dumps(body).encode())


def envelope(output: Any) -> ApiResponse:
    return ok({"request_id": "req-1", "output": output})


@pytest.fixture
def dialect() -> DashScopeDialect:
    return DashScopeDialect(CN)


# -- states -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("PENDING", TuningJobState.PENDING),
        ("QUEUING", TuningJobState.QUEUED),
        ("RUNNING", TuningJobState.RUNNING),
        ("CANCELING", TuningJobState.CANCELLING),
        ("CANCELLING", TuningJobState.CANCELLING),
        ("SUSPENDED", TuningJobState.PAUSED),
        ("SUCCEEDED", TuningJobState.SUCCEEDED),
        ("FAILED", TuningJobState.FAILED),
        ("CANCELED", TuningJobState.CANCELLED),
        ("CANCELLED", TuningJobState.CANCELLED),
        ("UNKNOWN", TuningJobState.UNKNOWN),
    ],
)
def test_every_native_state(dialect: DashScopeDialect, native: str, state: TuningJobState) -> None:
    parsed = dialect.parse_job(envelope(job(status=native)))
    assert parsed.state is state
    assert parsed.native_state == native


@pytest.mark.parametrize("native", ["running", "Running"])  # other unknown states: test_dialect_contract
def test_states_are_case_sensitive(dialect: DashScopeDialect, native: object) -> None:
    parsed = dialect.parse_job(envelope(job(status=native)))
    assert parsed.state is TuningJobState.UNKNOWN
    assert parsed.native_state == str(native)


# -- job fields -----------------------------------------------------------------------------
def test_fields(dialect: DashScopeDialect) -> None:
    parsed = dialect.parse_job(
        envelope(job(status="SUCCEEDED", finetuned_output="qwen3-14b-ft-1", end_time="2024-10-30 01:02:03"))
    )
    assert parsed.platform == Platform.DASHSCOPE
    assert parsed.job_id == JOB_ID
    assert parsed.display_name == "my-sft"
    assert parsed.base_model == "qwen3-14b"
    assert parsed.tuned_model == "qwen3-14b-ft-1"
    assert parsed.error_message is None
    assert parsed.console_url is None


def test_base_model_falls_back(dialect: DashScopeDialect) -> None:
    item = job(base_model="qwen3-14b")
    del item["model"]
    assert dialect.parse_job(envelope(item)).base_model == "qwen3-14b"


def test_beijing_times_are_utc_plus_8(dialect: DashScopeDialect) -> None:
    parsed = dialect.parse_job(envelope(job(status="CANCELED", end_time="2024-10-30 01:02:03")))
    assert parsed.created_at == datetime(2024, 10, 29, 8, 53, 53, tzinfo=UTC)
    assert parsed.ended_at == datetime(2024, 10, 29, 17, 2, 3, tzinfo=UTC)


def test_intl_times_are_utc_plus_8_too() -> None:
    parsed = DashScopeDialect(INTL).parse_job(envelope(job()))
    assert parsed.created_at == datetime(2024, 10, 29, 8, 53, 53, tzinfo=UTC)


def test_naive_tz_override_and_explicit_zone() -> None:
    utc_host = DashScopeDialect(INTL, naive_tz=UTC)
    assert utc_host.parse_job(envelope(job())).created_at == datetime(2024, 10, 29, 16, 53, 53, tzinfo=UTC)
    zoned = utc_host.parse_job(envelope(job(create_time="2024-10-29T16:53:53+08:00"))).created_at
    assert zoned == datetime(2024, 10, 29, 16, 53, 53, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize("value", ["yesterday", "", 12.5e300, True, {"a": 1}])
def test_unreadable_time_is_none(dialect: DashScopeDialect, value: object) -> None:
    assert dialect.parse_job(envelope(job(create_time=value))).created_at is None


def test_job_code_is_not_an_error(dialect: DashScopeDialect) -> None:
    # A cancelled job carries "code": "1"; that is the job's record, not a failed request.
    parsed = dialect.parse_job(
        ok({"request_id": "r", "code": "1", "output": job(status="CANCELED", code="1", message="cancelled")})
    )
    assert parsed.state is TuningJobState.CANCELLED
    assert parsed.error_message is None


def test_failed_job_message_is_the_error(dialect: DashScopeDialect) -> None:
    parsed = dialect.parse_job(envelope(job(status="FAILED", code="DataError", message="bad line 3")))
    assert parsed.state is TuningJobState.FAILED
    assert parsed.error_message == "bad line 3"


# -- ids and URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize("good", [JOB_ID, "ft-1", "a", "A_b.c-9", "x" * 128])
def test_good_ids(dialect: DashScopeDialect, good: str) -> None:
    request = dialect.get_request(good)
    assert request.url == f"{CN}/fine-tunes/{good}"
    assert request.job_id == good


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
        ".hidden",
        "-x",
        "x" * 129,
    ],
)
@pytest.mark.parametrize("op", ["get_request", "cancel_request"])
def test_bad_ids_refused(dialect: DashScopeDialect, bad: object, op: str) -> None:
    with pytest.raises(InvalidJobIdError):
        getattr(dialect, op)(bad)


def test_get_request(dialect: DashScopeDialect) -> None:
    request = DashScopeDialect(CN + "/").get_request(JOB_ID)
    assert (request.operation, request.method, request.url) == (Operation.GET, "GET", f"{CN}/fine-tunes/{JOB_ID}")
    assert request.headers == {}


def test_cancel_request(dialect: DashScopeDialect) -> None:
    request = dialect.cancel_request(JOB_ID)
    assert (request.operation, request.method) == (Operation.CANCEL, "POST")
    assert request.url == f"{CN}/fine-tunes/{JOB_ID}/cancel"
    assert request.json is None


def test_workspace_header_on_every_request() -> None:
    dialect = DashScopeDialect(INTL, workspace="llm-ws1")
    for request in (dialect.get_request(JOB_ID), dialect.cancel_request(JOB_ID), dialect.list_request(None, 5)):
        assert request.headers == {"X-DashScope-WorkSpace": "llm-ws1"}


@pytest.mark.parametrize(("size", "sent"), [(None, "100"), (1, "1"), (10, "10"), (0, "100"), (500, "100")])
def test_list_request(dialect: DashScopeDialect, size: int | None, sent: str) -> None:
    request = dialect.list_request(None, size)
    assert (request.operation, request.method, request.url) == (Operation.LIST, "GET", f"{CN}/fine-tunes")
    assert dict(request.params) == {"page_no": "1", "page_size": sent}
    assert dialect.list_request("3", size).params["page_no"] == "3"


# -- pagination -----------------------------------------------------------------------------
def page(page_no: int, page_size: int, total: int, count: int) -> ApiResponse:
    jobs = [job(job_id=f"ft-{page_no}-{i}") for i in range(count)]
    return envelope({"page_no": page_no, "page_size": page_size, "total": total, "jobs": jobs})


@pytest.mark.parametrize(
    ("page_no", "page_size", "total", "count", "next_token"),
    [
        (1, 2, 5, 2, "2"),
        (2, 2, 5, 2, "3"),
        (3, 2, 5, 1, None),
        (1, 2, 4, 2, "2"),
        (2, 2, 4, 2, None),
        (1, 10, 0, 0, None),
        (1, 2, 50, 0, None),  # an empty page ends the walk even if 'total' says more
    ],
)
def test_pagination(
    dialect: DashScopeDialect, page_no: int, page_size: int, total: int, count: int, next_token: str | None
) -> None:
    request = dialect.list_request(str(page_no), page_size)
    result = dialect.parse_page(page(page_no, page_size, total, count), request)
    assert [j.job_id for j in result.jobs] == [f"ft-{page_no}-{i}" for i in range(count)]
    assert result.next_token == next_token


@pytest.mark.parametrize(
    ("page_no", "total", "later"),
    [
        (1, 5, ("2", "3")),  # the first page names the others: they can be fetched at once
        (1, 4, ("2",)),
        (1, 2, ()),
        (2, 5, ()),  # only the first page does
        (1, 2 * 100 + 1, ()),  # past 100 pages the walk goes page by page
        (1, 2 * 100, tuple(str(n) for n in range(2, 101))),
    ],
)
def test_first_page_names_the_later_pages(
    dialect: DashScopeDialect, page_no: int, total: int, later: tuple[str, ...]
) -> None:
    request = dialect.list_request(str(page_no), 2)
    assert dialect.parse_page(page(page_no, 2, total, 2), request).later_tokens == later


def test_pagination_falls_back_to_the_request(dialect: DashScopeDialect) -> None:
    request = dialect.list_request("2", 1)
    result = dialect.parse_page(envelope({"total": 3, "jobs": [job()]}), request)
    assert result.next_token == "3"


def test_walk_all_pages(dialect: DashScopeDialect) -> None:
    token, seen = None, []
    while True:
        request = dialect.list_request(token, 2)
        number = int(request.params["page_no"])
        result = dialect.parse_page(page(number, 2, 5, min(2, 5 - 2 * (number - 1))), request)
        seen += [j.job_id for j in result.jobs]
        if not (token := result.next_token):
            break
    assert len(seen) == 5


# -- cancel ---------------------------------------------------------------------------------
def test_cancel_answer_has_no_job(dialect: DashScopeDialect) -> None:
    request = dialect.cancel_request(JOB_ID)
    assert dialect.parse_cancel(envelope({"status": "success"}), request) is None


# -- errors ---------------------------------------------------------------------------------
def error(status: int, code: str | None, message: str = "boom", headers: dict[str, str] | None = None) -> ApiResponse:
    body = {"code": code, "request_id": "req-err", "message": message}
    return ApiResponse(status, headers or {}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "code", "op", "cls"),
    [
        (400, "InvalidParameter", "get", InvalidRequestError),
        (400, "InvalidParameter", "cancel", InvalidRequestError),
        (400, "InvalidParameter", "list", InvalidRequestError),
        (400, "UnsupportedOperation", "cancel", JobNotCancellableError),
        (400, "UnsupportedOperation", "get", InvalidRequestError),
        (401, "InvalidApiKey", "get", AuthenticationError),
        (403, "AccessDenied", "cancel", PermissionDeniedError),
        (404, "NotFound", "get", JobNotFoundError),
        (404, "NotFound", "cancel", JobNotFoundError),
        (409, "Conflict", "cancel", JobNotCancellableError),
        (409, "Conflict", "get", InvalidRequestError),
        (429, "Throttling", "get", RateLimitedError),
        (429, "Throttling.RateQuota", "cancel", RateLimitedError),
        (429, "Throttling.AllocationQuota", "list", RateLimitedError),
        (500, "InternalError", "get", PlatformUnavailableError),
        (502, None, "cancel", PlatformUnavailableError),
        (503, "ServiceUnavailable", "list", PlatformUnavailableError),
    ],
)
def test_documented_errors(dialect: DashScopeDialect, status: int, code: str | None, op: str, cls: type) -> None:
    request = dialect.list_request(None, 1) if op == "list" else getattr(dialect, f"{op}_request")(JOB_ID)
    err = dialect.parse_error(error(status, code), request)
    assert type(err) is cls
    assert (err.status_code, err.native_code, err.request_id) == (status, code, "req-err")
    assert err.platform == Platform.DASHSCOPE
    assert err.job_id == (None if op == "list" else JOB_ID)
    assert "boom" in str(err)
    assert err.retryable is (cls in (RateLimitedError, PlatformUnavailableError))


def test_hints_name_the_fix(dialect: DashScopeDialect) -> None:
    request = dialect.get_request(JOB_ID)
    assert "region" in dialect.parse_error(error(401, "InvalidApiKey", "Invalid API-key provided."), request).message
    not_found = dialect.parse_error(error(404, "NotFound", "Not Found!"), request)
    assert not_found.message.startswith("Not Found. Check the job id")


@pytest.mark.parametrize(
    ("headers", "hint"),
    [({}, None), ({"Retry-After": "7"}, 7.0), ({"retry-after": "2.5"}, 2.5), ({"Retry-After": "soon"}, None)],
)
@pytest.mark.parametrize("status", [429, 503])
def test_retry_hint(dialect: DashScopeDialect, headers: dict[str, str], hint: float | None, status: int) -> None:
    response = error(status, "Throttling", headers=headers)
    err = dialect.parse_error(response, dialect.get_request(JOB_ID))
    assert isinstance(err, RateLimitedError | PlatformUnavailableError)
    assert dialect.retry_hint(response) == hint


# -- malformed answers (the generic ones: test_dialect_contract) ------------------------------
MALFORMED = [
    b"",
    b"not json",
    b"\xff\xfe\x00",
    b"[]",
    b"null",
    b'"text"',
    b"{}",
    b'{"output": null}',
    b'{"output": []}',
    b'{"output": "x"}',
    b'{"output": {}}',
    b'{"output": {"job_id": ""}}',
    b'{"output": {"job_id": 5, "status": "RUNNING"}}',
]


@pytest.mark.parametrize("content", MALFORMED)
def test_malformed_job(dialect: DashScopeDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_job(ApiResponse(200, {}, content))


@pytest.mark.parametrize(
    "content",
    [
        *MALFORMED[:10],
        b'{"output": {"total": 1}}',
        b'{"output": {"jobs": [], "total": "1"}}',
        b'{"output": {"jobs": [], "total": true}}',
        b'{"output": {"jobs": {}, "total": 1}}',
        b'{"output": {"jobs": [null], "total": 1}}',
        b'{"output": {"jobs": [{"status": "RUNNING"}], "total": 1}}',
    ],
)
def test_malformed_page(dialect: DashScopeDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_page(ApiResponse(200, {}, content), dialect.list_request(None, 10))


@pytest.mark.parametrize("content", MALFORMED[:10])
def test_malformed_cancel(dialect: DashScopeDialect, content: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        dialect.parse_cancel(ApiResponse(200, {}, content), dialect.cancel_request(JOB_ID))
