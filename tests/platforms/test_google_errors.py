"""google.rpc.Status error bodies -> the shared error hierarchy, from literal bytes."""

from __future__ import annotations

import json

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    OperationNotSupportedError,
    PermissionDeniedError,
    PlatformUnavailableError,
    RateLimitedError,
    TuningJobError,
)
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Operation
from airflow_ft_provider.platforms.google_errors import google_error, google_retry_hint, parse_duration, read_status

NAME = "projects/p/locations/us-central1/tuningJobs/123"
GET = ApiRequest(Operation.GET, "GET", "https://x/v1/" + NAME, job_id=NAME)
CANCEL = ApiRequest(Operation.CANCEL, "POST", "https://x/v1/" + NAME + ":cancel", job_id=NAME)
LIST = ApiRequest(Operation.LIST, "GET", "https://x/v1/projects/p/locations/us-central1/tuningJobs")


def body(code: int, status: str, message: str = "boom", details: list[object] | None = None) -> bytes:
    error: dict[str, object] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def hint(status_code: int, content: bytes, headers: dict[str, str] | None = None) -> float | None:
    return google_retry_hint(ApiResponse(status_code, headers or {}, content))


def err(
    status_code: int,
    content: bytes,
    request: ApiRequest = GET,
    headers: dict[str, str] | None = None,
) -> TuningJobError:
    return google_error(ApiResponse(status_code, headers or {}, content), request, Platform.VERTEX_AI)


@pytest.mark.parametrize(
    ("code", "status", "request_", "expected"),
    [
        (400, "INVALID_ARGUMENT", LIST, InvalidRequestError),
        (400, "FAILED_PRECONDITION", CANCEL, JobNotCancellableError),
        (400, "FAILED_PRECONDITION", GET, InvalidRequestError),
        (401, "UNAUTHENTICATED", GET, AuthenticationError),
        (403, "PERMISSION_DENIED", CANCEL, PermissionDeniedError),
        (404, "NOT_FOUND", GET, JobNotFoundError),
        (404, "NOT_FOUND", CANCEL, JobNotFoundError),
        (404, "NOT_FOUND", LIST, InvalidRequestError),
        (409, "ABORTED", CANCEL, JobNotCancellableError),
        (409, "ALREADY_EXISTS", CANCEL, JobNotCancellableError),
        (409, "ABORTED", GET, PlatformUnavailableError),
        (429, "RESOURCE_EXHAUSTED", GET, RateLimitedError),
        (500, "INTERNAL", GET, PlatformUnavailableError),
        (501, "UNIMPLEMENTED", CANCEL, OperationNotSupportedError),
        (502, "", GET, PlatformUnavailableError),
        (503, "UNAVAILABLE", CANCEL, PlatformUnavailableError),
        (504, "DEADLINE_EXCEEDED", GET, PlatformUnavailableError),
        (418, "", GET, InvalidRequestError),
    ],
)
def test_documented_errors_map_to_classes(
    code: int, status: str, request_: ApiRequest, expected: type[TuningJobError]
) -> None:
    error = err(code, body(code, status, "the platform's words"), request_)
    assert type(error) is expected
    assert "the platform's words" in error.message
    assert error.status_code == code
    assert error.native_code == (status or None)
    assert error.platform == Platform.VERTEX_AI
    assert error.job_id == request_.job_id


def test_invalid_argument_about_the_name_is_an_invalid_id() -> None:
    error = err(400, body(400, "INVALID_ARGUMENT", "Invalid resource name."), CANCEL)
    assert type(error) is InvalidJobIdError


def test_invalid_argument_about_something_else_is_an_invalid_request() -> None:
    error = err(400, body(400, "INVALID_ARGUMENT", "Request contains an invalid argument."), GET)
    assert type(error) is InvalidRequestError


def test_rejected_api_key_is_an_authentication_error_despite_the_400() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    error = err(400, body(400, "INVALID_ARGUMENT", "API key not valid.", details))
    assert type(error) is AuthenticationError
    assert "credentials" in error.message


def test_list_wrapper_form_is_read() -> None:
    content = json.dumps([{"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}}]).encode()
    error = err(404, content)
    assert type(error) is JobNotFoundError
    assert error.message == "gone"
    assert error.native_code == "NOT_FOUND"


@pytest.mark.parametrize(("delay", "seconds"), [("53s", 53.0), ("1.5s", 1.5), ("0.000001s", 0.000001)])
def test_rate_limit_retry_delay_from_retry_info(delay: str, seconds: float) -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]
    error = err(429, body(429, "RESOURCE_EXHAUSTED", "slow down", details))
    assert isinstance(error, RateLimitedError)
    assert error.retryable
    assert hint(429, body(429, "RESOURCE_EXHAUSTED", "slow down", details)) == pytest.approx(seconds)


def test_retry_info_wins_over_the_header() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
    assert hint(429, body(429, "RESOURCE_EXHAUSTED", details=details), headers={"Retry-After": "99"}) == 7.0


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_header_when_no_retry_info(code: int) -> None:
    error = err(code, body(code, "UNAVAILABLE"), headers={"retry-after": "2"})
    assert isinstance(error, RateLimitedError | PlatformUnavailableError)
    assert hint(code, body(code, "UNAVAILABLE"), headers={"retry-after": "2"}) == 2.0


def test_rate_limit_without_any_hint() -> None:
    error = err(429, body(429, "RESOURCE_EXHAUSTED"))
    assert isinstance(error, RateLimitedError)
    assert hint(429, body(429, "RESOURCE_EXHAUSTED")) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("53s", 53.0),
        (" 2s ", 2.0),
        ("1.000000001s", 1.000000001),
        ({"seconds": 3, "nanos": 500_000_000}, 3.5),
        ("-1s", None),
        ("53", None),
        ("1e9s", None),
        ("abc", None),
        ({"seconds": "x"}, None),
        ({"seconds": -5}, -5.0),  # as sent: the transport clamps it to 0
        (53, None),
        (None, None),
    ],
)
def test_parse_duration(value: object, expected: float | None) -> None:
    assert parse_duration(value) == expected


def test_request_id_from_request_info_or_header() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "req-1"}]
    assert err(500, body(500, "INTERNAL", details=details)).request_id == "req-1"
    assert err(500, body(500, "INTERNAL"), headers={"X-Goog-Request-Id": "req-2"}).request_id == "req-2"
    assert err(500, body(500, "INTERNAL")).request_id is None


def test_long_messages_and_codes_are_truncated() -> None:
    error = err(400, body(400, "S" * 10_000, "x" * 100_000), LIST)
    assert len(str(error)) < 1200


HOSTILE_BODIES = [
    b"",
    b"not json",
    b"<html><body>404 Not Found</body></html>",
    b"\xff\xfe\x00garbage",
    b"null",
    b"[]",
    b"[1, 2]",
    b'[{"error": 1}, {"error": 2}]',
    b'"a string"',
    b'{"error": "a string"}',
    b'{"error": []}',
    b'{"error": {"code": "x", "message": 12, "status": [], "details": "nope"}}',
    b'{"error": {"details": [1, "two", null, {"@type": 5}]}}',
    b'{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": {"a": 1}}]}}',
    b'{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": 1e400}]}}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"error": ' * 50_000 + b"1" + b"}" * 50_000,
    b'{"error": {"message": "' + b"m" * 400_000 + b'"}}',
]


@pytest.mark.parametrize("content", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
@pytest.mark.parametrize("code", [400, 404, 429, 500])
def test_hostile_bodies_give_a_typed_error(content: bytes, code: int) -> None:
    error = err(code, content)
    assert isinstance(error, TuningJobError)
    assert error.status_code == code
    assert str(error)  # renders


def test_read_status_keeps_only_dict_details() -> None:
    status = read_status(ApiResponse(400, {}, b'{"error": {"details": [1, {"@type": "t"}]}}'))
    assert status.details == [{"@type": "t"}]
