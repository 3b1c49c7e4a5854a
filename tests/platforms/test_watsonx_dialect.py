"""IBM watsonx.ai dialect, with literal bytes: the version and scope on every call, the DELETE that
cancels (never ``hard_delete``), ``next.href`` paging on the API's origin, IBM's error body, extras."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    MalformedResponseError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse, Operation
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.watsonx import DEFAULT_VERSION, STATES, WatsonxDialect

BASE = "https://us-south.ml.cloud.ibm.com"
PROJECT = "0f3c6a52-6e0b-4d8e-9a51-2c7b9d4e1a07"
JOB = "8c3a2f1e-5b7d-4e0a-9f6c-2d1b0a9e8c7f"


def dialect(**extras: Any) -> WatsonxDialect:
    return WatsonxDialect.from_extras(None, Extras({"project_id": PROJECT, **extras}))


def record(state: str = "running", **entity: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "id": JOB,
            "name": "granite-sft",
            "project_id": PROJECT,
            "created_at": "2026-11-30T08:00:00.123Z",
            "modified_at": "2026-11-30T08:05:00.456Z",
        },
        "entity": {
            "parameters": {"base_model": {"model_id": "ibm/granite-3-1-8b-base"}, "task_id": "generation"},
            "auto_update_model": True,
            "status": {"state": state, "running_at": "2026-11-30T08:01:00.000Z", **entity.pop("status", {})},
            **entity,
        },
    }


def answer(body: Any, status: int = 200) -> ApiResponse:
    return ApiResponse(status, {}, json.dumps(body).encode() if not isinstance(body, bytes) else body)


def test_every_call_carries_the_version_and_one_scope():
    d = dialect()
    get, cancel, listing = d.get_request(JOB), d.cancel_request(JOB), d.list_request(None, 5)
    assert (get.method, get.url) == ("GET", f"{BASE}/ml/v1/fine_tunings/{JOB}")
    assert (cancel.method, cancel.url) == ("DELETE", f"{BASE}/ml/v1/fine_tunings/{JOB}")
    assert (listing.method, listing.url) == ("GET", f"{BASE}/ml/v1/fine_tunings")
    for request in (get, cancel):
        assert dict(request.params) == {"version": DEFAULT_VERSION, "project_id": PROJECT}
    assert dict(listing.params) == {"version": DEFAULT_VERSION, "project_id": PROJECT, "limit": "5"}
    space = WatsonxDialect.from_extras(None, Extras({"space_id": "space-1", "version": "2025-02-11"}))
    assert dict(space.get_request(JOB).params) == {"version": "2025-02-11", "space_id": "space-1"}


@pytest.mark.parametrize("job_id", [JOB, f"{JOB}?hard_delete=true", f"{JOB}&hard_delete=true", "../deployments"])
def test_the_cancel_never_asks_for_hard_delete(job_id):
    d = dialect()
    if job_id != JOB:
        with pytest.raises(InvalidJobIdError):
            d.cancel_request(job_id)
        return
    request = d.cancel_request(job_id)
    assert "hard_delete" not in request.url and "hard_delete" not in request.params


def test_a_record_reads_with_its_times_model_and_failure():
    job = dialect().parse_job(answer(record()))
    assert (job.job_id, job.state, job.native_state) == (JOB, TuningJobState.RUNNING, "running")
    assert (job.display_name, job.base_model, job.tuned_model) == ("granite-sft", "ibm/granite-3-1-8b-base", None)
    assert job.created_at.isoformat() == "2026-11-30T08:00:00.123000+00:00"
    assert job.updated_at.isoformat() == "2026-11-30T08:05:00.456000+00:00"
    assert job.started_at.isoformat() == "2026-11-30T08:01:00+00:00" and job.ended_at is None
    done = dialect().parse_job(
        answer(record("completed", model_id="tuned-1", status={"completed_at": "2026-11-30T09:00:00Z"}))
    )
    assert (done.state, done.tuned_model, done.ended_at.hour) == (TuningJobState.SUCCEEDED, "tuned-1", 9)
    failure = {"failure": {"trace": "t", "errors": [{"code": "training_failed", "message": "Out of memory."}]}}
    failed = dialect().parse_job(answer(record("failed", status=failure)))
    assert (failed.state, failed.error_message) == (TuningJobState.FAILED, "Out of memory.")
    message_only = dialect().parse_job(
        answer(record("failed", status={"message": {"level": "error", "text": "Bad data."}}))
    )
    assert message_only.error_message == "Bad data."


def test_every_documented_state_is_known_and_storing_is_still_running():
    assert dict(STATES) == {
        "queued": TuningJobState.QUEUED,
        "pending": TuningJobState.PENDING,
        "running": TuningJobState.RUNNING,
        "storing": TuningJobState.RUNNING,
        "completed": TuningJobState.SUCCEEDED,
        "failed": TuningJobState.FAILED,
        "canceled": TuningJobState.CANCELLED,
    }
    assert STATES.ended == {"completed", "failed", "canceled"}
    assert dialect().parse_job(answer(record("cancelled"))).state is TuningJobState.UNKNOWN  # IBM spells it canceled


def test_the_cancel_is_acknowledged_by_a_204_with_no_body_only():
    d = dialect()
    request = d.cancel_request(JOB)
    assert d.success_statuses[Operation.CANCEL] == {204}
    assert d.parse_cancel(ApiResponse(204, {}, b""), request) is None
    for body in (b"<html>ok</html>", b'{"ok": true}', b"[]"):
        with pytest.raises(MalformedResponseError):
            d.parse_cancel(ApiResponse(204, {}, body), request)


def test_pages_follow_next_href_on_the_apis_origin_only():
    d = dialect()
    first = d.list_request(None, 2)
    following = f"{BASE}/ml/v1/fine_tunings?version={DEFAULT_VERSION}&project_id={PROJECT}&limit=2&start=g1AAAA"
    page = d.parse_page(answer({"resources": [record()], "limit": 2, "next": {"href": following}}), first)
    assert [job.job_id for job in page.jobs] == [JOB] and page.next_token == following
    second = d.list_request(page.next_token, 2)
    assert (second.url, dict(second.params)) == (following, {})  # the URL's own query: nothing added, nothing lost
    last = d.parse_page(answer({"resources": [], "limit": 2, "first": {"href": following}}), second)
    assert (last.jobs, last.next_token) == ([], None)
    for elsewhere in ("https://evil.example.net/ml/v1/fine_tunings?start=x", "http://us-south.ml.cloud.ibm.com/x"):
        with pytest.raises(MalformedResponseError, match="origin"):
            d.parse_page(answer({"resources": [], "next": {"href": elsewhere}}), first)
    with pytest.raises(MalformedResponseError):
        d.parse_page(answer({"resources": [], "next": "https://us-south.ml.cloud.ibm.com/x"}), first)


@pytest.mark.parametrize(
    ("status", "operation", "body", "expected", "code"),
    [
        (
            401,
            Operation.GET,
            b'{"errors":[{"code":"authentication_token_expired","message":"Failed to authenticate the request due '
            b'to an expired token","more_info":"https://cloud.ibm.com/apidocs/watsonx-ai"}],"trace":"abc","status_code":401}',
            AuthenticationError,
            "authentication_token_expired",
        ),
        (
            404,
            Operation.GET,
            b'{"errors":[{"code":"not_found","message":"Not found."}]}',
            JobNotFoundError,
            "not_found",
        ),
        (
            400,
            Operation.CANCEL,
            b'{"errors":[{"code":"invalid_state","message":"Job already completed with state completed."}]}',
            JobNotCancellableError,
            "invalid_state",
        ),
        (400, Operation.GET, b'{"errors":[{"code":"missing_version","message":"version"}]}', InvalidRequestError, None),
        (429, Operation.LIST, b"<html>Too many</html>", RateLimitedError, None),
    ],
)
def test_ibms_error_body_maps_to_the_shared_classes(status, operation, body, expected, code):
    d = dialect()
    request = {
        Operation.GET: d.get_request(JOB),
        Operation.LIST: d.list_request(None, 1),
        Operation.CANCEL: d.cancel_request(JOB),
    }[operation]
    error = d.parse_error(ApiResponse(status, {}, body), request)
    assert isinstance(error, expected)
    if code:
        assert error.native_code == code
    if status == 401:
        assert error.request_id == "abc" and "expired token" in str(error)


@pytest.mark.parametrize(
    ("extras", "named"),
    [
        ({}, "neither is set"),
        ({"project_id": PROJECT, "space_id": "s"}, "both are set"),
        ({"project_id": "a b"}, "project_id"),
        ({"project_id": PROJECT, "version": "yesterday"}, "version"),
        ({"project_id": PROJECT, "version": "2026-02-30"}, "version"),
        ({"project_id": PROJECT, "region": "us-south.evil.com/"}, "region"),
        ({"project_id": PROJECT, "url": "http://eu-de.ml.cloud.ibm.com"}, "url"),
        ({"project_id": PROJECT, "url": "https://user@eu-de.ml.cloud.ibm.com"}, "url"),
    ],
)
def test_extras_that_cannot_work_are_refused_by_name(extras, named):
    with pytest.raises(ExtraError, match=named):
        WatsonxDialect.from_extras(None, Extras(extras))


def test_region_and_url_choose_the_host():
    assert dialect(region="eu-de").base_url == "https://eu-de.ml.cloud.ibm.com"
    assert dialect(url="https://jp-tok.ml.cloud.ibm.com/").base_url == "https://jp-tok.ml.cloud.ibm.com"
    assert WatsonxDialect.from_extras("http://127.0.0.1:8080/watsonx", Extras({"space_id": "s"})).base_url == (
        "http://127.0.0.1:8080/watsonx"
    )
