"""Replicate dialect: literal wire bytes in, normalized trainings and typed errors out."""

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
    PlatformUnavailableError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse, Operation
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.replicate import DEFAULT_BASE_URL, RECORD, ReplicateDialect

TRAINING_ID = "zz4ibbonubfz7carwiefibzgga"
VERSION = "da77bc59ee60423279fd632efb4795ab731d9e3ca9705ef3341091fb989b7eaf"
LIST_URL = f"{DEFAULT_BASE_URL}/v1/trainings"


def training(**fields: Any) -> dict[str, Any]:
    base = {
        "id": TRAINING_ID,
        "model": "stability-ai/sdxl",
        "version": VERSION,
        "input": {"input_images": "https://example.com/my-input-images.zip"},
        "logs": "",
        "error": None,
        "status": "processing",
        "created_at": "2023-09-08T16:32:56.990893084Z",
        "started_at": "2023-09-08T16:32:57.112647Z",
        "completed_at": None,
        "metrics": {},
        "output": None,
        "urls": {
            "web": f"https://replicate.com/p/{TRAINING_ID}",
            "get": f"https://api.replicate.com/v1/trainings/{TRAINING_ID}",
            "cancel": f"https://api.replicate.com/v1/trainings/{TRAINING_ID}/cancel",
        },
    }
    return {**base, **fields}


def ok(body: Any) -> ApiResponse:
    return ApiResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())


@pytest.fixture
def dialect() -> ReplicateDialect:
    return ReplicateDialect()


# -- states -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("starting", TuningJobState.PENDING),
        ("processing", TuningJobState.RUNNING),
        ("succeeded", TuningJobState.SUCCEEDED),
        ("failed", TuningJobState.FAILED),
        ("canceled", TuningJobState.CANCELLED),
        ("aborted", TuningJobState.CANCELLED),
    ],
)
def test_every_native_state(dialect: ReplicateDialect, native: str, state: TuningJobState) -> None:
    parsed = dialect.parse_job(ok(training(status=native)))
    assert (parsed.state, parsed.native_state) == (state, native)


@pytest.mark.parametrize("native", ["cancelled", "Canceled", "queued"])  # others: test_dialect_contract
def test_near_misses_are_unknown(dialect: ReplicateDialect, native: str) -> None:
    assert dialect.parse_job(ok(training(status=native))).state is TuningJobState.UNKNOWN


# -- fields -------------------------------------------------------------------------------
def test_a_succeeded_training(dialect: ReplicateDialect) -> None:
    trained = f"me/my-model:{'f' * 64}"
    parsed = dialect.parse_job(
        ok(
            training(
                status="succeeded",
                completed_at="2023-09-08T16:41:19.826523Z",
                metrics={"predict_time": 502.713876, "total_time": 502.8},
                output={"version": trained, "weights": "https://replicate.delivery/w.tar"},
            )
        )
    )
    assert parsed.platform == Platform.REPLICATE
    assert parsed.job_id == TRAINING_ID
    assert parsed.base_model == f"stability-ai/sdxl:{VERSION}"
    assert parsed.tuned_model == trained
    # Nanoseconds (Replicate's created_at) are cut to microseconds.
    assert parsed.created_at == datetime(2023, 9, 8, 16, 32, 56, 990893, UTC)
    assert parsed.started_at == datetime(2023, 9, 8, 16, 32, 57, 112647, UTC)
    assert parsed.ended_at == datetime(2023, 9, 8, 16, 41, 19, 826523, UTC)
    assert parsed.console_url == f"https://replicate.com/p/{TRAINING_ID}"
    # predict_time is the compute time the training used; Replicate does not say it is the time billed.
    assert parsed.usage is None and parsed.display_name is None


def test_a_failed_training_says_why(dialect: ReplicateDialect) -> None:
    parsed = dialect.parse_job(ok(training(status="failed", error="CUDA out of memory")))
    assert (parsed.state, parsed.error_message) == (TuningJobState.FAILED, "CUDA out of memory")


def test_a_bare_training(dialect: ReplicateDialect) -> None:
    parsed = dialect.parse_job(ok({"id": TRAINING_ID, "status": "starting", "version": VERSION}))
    assert (parsed.base_model, parsed.tuned_model, parsed.created_at) == (VERSION, None, None)
    assert parsed.console_url == f"https://replicate.com/p/{TRAINING_ID}"


@pytest.mark.parametrize(
    "web",
    [
        "https://evil.example.net/p/x",
        "javascript:alert(1)",
        "http://replicate.com/p/x",
        "https://replicate.com@evil.example.net/",
        42,
    ],
)
def test_a_web_url_off_replicates_site_is_not_a_console_link(web: object) -> None:
    urls = {"web": web}
    assert ReplicateDialect().parse_job(ok(training(urls=urls))).console_url == f"https://replicate.com/p/{TRAINING_ID}"
    assert ReplicateDialect("http://127.0.0.1:9000/replicate").parse_job(ok(training(urls=urls))).console_url is None


# -- ids, URLs and extras -----------------------------------------------------------------
@pytest.mark.parametrize("good", [TRAINING_ID, "xxi2kydbnla3ocjp64sclkewku", "ncwzzyhmk1rm80ckqmcb0bjkkc", "a" * 16])
def test_good_ids(dialect: ReplicateDialect, good: str) -> None:
    assert dialect.get_request(good).url == f"{LIST_URL}/{good}"
    cancel = dialect.cancel_request(good)
    assert (cancel.method, cancel.url, cancel.operation) == ("POST", f"{LIST_URL}/{good}/cancel", Operation.CANCEL)


@pytest.mark.parametrize(
    "bad",
    [
        "ZZ4IBBONUBFZ7CARWIEFIBZGGA",  # upper case: not Replicate's
        "ftjob-abc123abc123abc123",  # another platform's id
        f"https://replicate.com/p/{TRAINING_ID}",  # the page, pasted
        f"{TRAINING_ID}/cancel",
        "short",
        "a" * 65,
        f"{TRAINING_ID}?x=1",
        f"{TRAINING_ID}%2f",
    ],
)
@pytest.mark.parametrize("op", ["get_request", "cancel_request"])
def test_bad_ids_refused_naming_the_form(dialect: ReplicateDialect, bad: str, op: str) -> None:
    with pytest.raises(InvalidJobIdError, match=TRAINING_ID):
        getattr(dialect, op)(bad)


@pytest.mark.parametrize(
    ("host", "base"),
    [
        (None, "https://api.replicate.com"),
        ("https://replicate-proxy.internal", "https://replicate-proxy.internal"),
        ("https://api.replicate.com/v1", "https://api.replicate.com"),  # the OpenAPI document's server URL
        ("http://127.0.0.1:8080/replicate/", "http://127.0.0.1:8080/replicate"),
    ],
)
def test_the_host_overrides_the_base_url(host: str | None, base: str) -> None:
    dialect = RECORD.dialect.from_extras(host, Extras({}))
    assert dialect.base_url == base and dialect.list_url() == f"{base}/v1/trainings"


def test_the_record() -> None:
    assert (RECORD.conn_type, RECORD.hook_class_path) == (
        "ft_replicate",
        "airflow_ft_provider.hooks.api_key.ReplicateTuningHook",
    )
    assert RECORD.api_key is not None and (RECORD.api_key.header, RECORD.api_key.scheme) == ("Authorization", "Bearer")
    assert RECORD.largest_page == 100 and not RECORD.has_labels


# -- paging ---------------------------------------------------------------------------------
def test_the_first_page_asks_nothing_and_next_is_followed_as_given(dialect: ReplicateDialect) -> None:
    first = dialect.list_request(None, 10)
    assert (first.method, first.url, dict(first.params)) == ("GET", LIST_URL, {})
    following = "https://api.replicate.com/v1/trainings?cursor=cD0yMDIzLTA2LTA2KzIzJTNBNDAlM0EwOC45NjMwMDAlMkIwMCUzQTAw"
    body = b'{"next": "%s", "previous": null, "results": [%s]}' % (
        following.encode(),
        json.dumps(training()).encode(),
    )
    page = dialect.parse_page(ApiResponse(200, {}, body), first)
    assert [j.job_id for j in page.jobs] == [TRAINING_ID] and page.next_token == following
    second = dialect.list_request(following, 10)
    assert (second.url, dict(second.params)) == (following, {})
    last = dialect.parse_page(ApiResponse(200, {}, b'{"next": null, "previous": "x", "results": []}'), second)
    assert (last.jobs, last.next_token) == ([], None)


@pytest.mark.parametrize(
    "following",
    [
        "https://api.replicate.com.evil.example/v1/trainings?cursor=2",
        "http://api.replicate.com/v1/trainings?cursor=2",
        "https://api.replicate.com@evil.example/v1/trainings",
        "/v1/trainings?cursor=2",
    ],
)
def test_a_next_url_off_the_apis_origin_is_a_hostile_answer(dialect: ReplicateDialect, following: str) -> None:
    body = json.dumps({"next": following, "previous": None, "results": [training()]}).encode()
    with pytest.raises(MalformedResponseError, match="origin") as info:
        dialect.parse_page(ApiResponse(200, {}, body), dialect.list_request(None, None))
    assert info.value.platform == "replicate"


# -- the cancel's answer --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("native", "state"), [("canceled", "CANCELLED"), ("processing", "RUNNING"), ("aborted", "CANCELLED")]
)
def test_a_cancel_answered_with_the_training_still_running_or_cancelled_is_acknowledged(
    dialect: ReplicateDialect, native: str, state: str
) -> None:
    request = dialect.cancel_request(TRAINING_ID)
    answered = dialect.parse_cancel(ok(training(status=native)), request)
    assert answered is not None and answered.state == state


@pytest.mark.parametrize("native", ["succeeded", "failed"])
def test_a_cancel_answered_with_a_training_that_ended_otherwise_is_refused(
    dialect: ReplicateDialect, native: str
) -> None:
    request = dialect.cancel_request(TRAINING_ID)
    with pytest.raises(JobNotCancellableError, match=f"already ended \\({native}\\)") as info:
        dialect.parse_cancel(ok(training(status=native)), request)
    assert (info.value.platform, info.value.job_id, info.value.retryable) == ("replicate", TRAINING_ID, False)


# -- errors: problem details ------------------------------------------------------------------
#: Bodies the API sent, as the replicate SDK's recordings keep them (tests/cassettes).
UNAUTHENTICATED = b'{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}\n'
MISSING = b'{"detail":"The specified training destination does not exist","status":404}\n'
#: Replicate's rate-limits page.
THROTTLED = b'{"detail":"Request was throttled. Your rate limit resets in ~30s."}'
PROBLEM = {"content-type": "application/problem+json"}


@pytest.mark.parametrize(
    ("status", "body", "op", "kind", "message"),
    [
        (401, UNAUTHENTICATED, "get", AuthenticationError, "You did not pass a valid authentication token"),
        (404, MISSING, "get", JobNotFoundError, "The specified training destination does not exist"),
        (429, THROTTLED, "get", RateLimitedError, "Request was throttled. Your rate limit resets in ~30s."),
        (400, b'{"detail":"Training is already complete.","status":400}', "cancel", JobNotCancellableError, "already"),
        (409, b'{"title":"Conflict","status":409}', "cancel", JobNotCancellableError, "Conflict"),
        (400, b'{"detail":"Bad.","status":400}', "get", InvalidRequestError, "Bad."),
        (502, b"<html>Bad gateway</html>", "get", PlatformUnavailableError, "HTTP 502 from Replicate"),
    ],
)
def test_problem_details_map_to_the_shared_errors(dialect, status, body, op, kind, message) -> None:
    request = dialect.get_request(TRAINING_ID) if op == "get" else dialect.cancel_request(TRAINING_ID)
    error = dialect.parse_error(ApiResponse(status, {**PROBLEM, "retry-after": "30"}, body), request)
    assert type(error) is kind and message in str(error)
    assert (error.platform, error.status_code, error.job_id) == ("replicate", status, TRAINING_ID)


def test_the_retry_hint_is_retry_after(dialect: ReplicateDialect) -> None:
    assert dialect.retry_hint(ApiResponse(429, {"Retry-After": "7"}, THROTTLED)) == 7.0


def test_another_trainings_ended_record_is_not_this_ones_refusal(dialect: ReplicateDialect) -> None:
    """It is passed on as it is, and the hook refuses it as an answer about another training."""
    other = "xxi2kydbnla3ocjp64sclkewku"
    answered = dialect.parse_cancel(ok(training(id=other, status="succeeded")), dialect.cancel_request(TRAINING_ID))
    assert answered is not None and not dialect.is_same_job(TRAINING_ID, answered)
