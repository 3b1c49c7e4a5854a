"""The Fireworks AI dialect, from literal JSON bytes: no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    JobNotCancellableError,
    JobNotFoundError,
    MalformedResponseError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import JobUsage, TuningJobState
from airflow_ft_provider.paging import listing
from airflow_ft_provider.platforms.base import ApiResponse, Operation, Page
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.fireworks import COLLECTIONS, RECORD, STATES, FireworksDialect, estimated_cost
from airflow_ft_provider.transport.settings import ClientSettings

BASE = "https://api.fireworks.ai"
NAME = "accounts/my-account/supervisedFineTuningJobs/abc123"
#: Every JobState value of the SDK's three job types (the same 18; test_sdk_fireworks reads them from the SDK).
SDK_STATES = (
    "JOB_STATE_UNSPECIFIED",
    "JOB_STATE_CREATING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_COMPLETED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_DELETING",
    "JOB_STATE_WRITING_RESULTS",
    "JOB_STATE_VALIDATING",
    "JOB_STATE_DELETING_CLEANING_UP",
    "JOB_STATE_PENDING",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_RE_QUEUEING",
    "JOB_STATE_CREATING_INPUT_DATASET",
    "JOB_STATE_IDLE",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_EARLY_STOPPED",
    "JOB_STATE_PAUSED",
)


@pytest.fixture
def dialect() -> FireworksDialect:
    return FireworksDialect(None, "my-account")


def ok(payload: object) -> ApiResponse:
    return ApiResponse(200, {"content-type": "application/json"}, json.dumps(payload).encode())


def err(status: int, code: str, message: str) -> ApiResponse:
    body = {"error": {"code": status, "message": message, "status": code}}
    return ApiResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


# -- the connection ----------------------------------------------------------------------------
def test_the_account_extra_is_required_and_named_in_the_error() -> None:
    with pytest.raises(ExtraError, match="'account' extra"):
        FireworksDialect.from_extras(None, Extras({}))


@pytest.mark.parametrize("account", ["my account", "a/../b", "-x", "a?b", "x" * 64])
def test_a_bad_account_is_refused(account: str) -> None:
    with pytest.raises(ExtraError, match="Fireworks account"):
        FireworksDialect.from_extras(None, Extras({"account": account}))


def test_extras_and_host_override() -> None:
    assert FireworksDialect.from_extras(None, Extras({"account": "accounts/acme"})).account == "acme"
    proxied = FireworksDialect.from_extras("https://fw-proxy.internal/", Extras({"account": "acme"}))
    assert proxied.get_request("dpoJobs/j1").url == "https://fw-proxy.internal/v1/accounts/acme/dpoJobs/j1"
    assert RECORD.form.required_examples == {"account": "my-account"}


# -- ids ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_get_and_cancel_for_each_id_form(dialect: FireworksDialect, collection: str) -> None:
    full = f"accounts/my-account/{collection}/job-1"
    for job_id in (full, f"{collection}/job-1"):
        get = dialect.get_request(job_id)
        assert (get.method, get.url, get.job_id) == ("GET", f"{BASE}/v1/{full}", full)
        cancel = dialect.cancel_request(job_id)
        assert (cancel.method, cancel.url, cancel.json, cancel.job_id) == ("POST", f"{BASE}/v1/{full}:cancel", {}, full)


def test_a_bare_id_is_refused_naming_the_accepted_forms(dialect: FireworksDialect) -> None:
    with pytest.raises(InvalidJobIdError) as info:
        dialect.get_request("abc123")
    message = str(info.value)
    assert "does not say which kind" in message and "accounts/my-account/<collection>/abc123" in message
    assert all(collection in message for collection in COLLECTIONS)


def test_a_full_name_of_another_account_is_refused(dialect: FireworksDialect) -> None:
    with pytest.raises(InvalidJobIdError, match="'account' extra is 'other'"):
        dialect.cancel_request("accounts/other/dpoJobs/abc123")


@pytest.mark.parametrize(
    "job_id",
    [
        "accounts/my-account/datasets/abc",
        "accounts/my-account/supervisedFineTuningJobs/abc/../x",
        "supervisedFineTuningJobs/abc:cancel",
        "tuningJobs/abc",
        "accounts//supervisedFineTuningJobs/abc",
        "supervisedFineTuningJobs/a_b",
    ],
)
def test_other_names_are_refused(dialect: FireworksDialect, job_id: str) -> None:
    with pytest.raises(InvalidJobIdError):
        dialect.get_request(job_id)


def test_short_and_full_names_are_the_same_job(dialect: FireworksDialect) -> None:
    assert dialect.job_key("dpoJobs/x") == dialect.job_key("accounts/my-account/dpoJobs/x")
    assert dialect.job_key("dpoJobs/x") != dialect.job_key("reinforcementFineTuningJobs/x")


# -- states --------------------------------------------------------------------------------------
def test_every_sdk_state_is_in_the_table() -> None:
    assert sorted(STATES) == sorted(SDK_STATES)
    ended = {"JOB_STATE_COMPLETED", "JOB_STATE_EARLY_STOPPED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
    assert STATES.ended == {*ended, "JOB_STATE_EXPIRED"}
    assert STATES["JOB_STATE_UNSPECIFIED"] is TuningJobState.UNKNOWN


def test_a_missing_state_is_proto3s_zero_value(dialect: FireworksDialect) -> None:
    job = dialect.parse_job(ok({"name": NAME}))
    assert (job.state, job.native_state) == (TuningJobState.UNKNOWN, "JOB_STATE_UNSPECIFIED")


# -- jobs ----------------------------------------------------------------------------------------
def test_a_supervised_job_with_its_estimated_cost(dialect: FireworksDialect) -> None:
    body = (
        b'{"name":"accounts/my-account/supervisedFineTuningJobs/abc123","displayName":"sft-1",'
        b'"createTime":"2025-01-02T03:04:05.123456789Z","updateTime":"2025-01-02T04:00:00Z",'
        b'"completedTime":"2025-01-02T05:00:00Z","state":"JOB_STATE_FAILED",'
        b'"status":{"code":"INTERNAL","message":"out of memory"},'
        b'"baseModel":"accounts/fireworks/models/llama-v3p1-8b-instruct","outputModel":"accounts/my-account/models/m1",'
        b'"estimatedCost":{"currencyCode":"USD","units":"12","nanos":400000000}}'
    )
    job = dialect.parse_job(ApiResponse(200, {}, body))
    assert (job.job_id, job.state, job.native_state, job.display_name) == (
        NAME,
        TuningJobState.FAILED,
        "JOB_STATE_FAILED",
        "sft-1",
    )
    assert (job.base_model, job.tuned_model) == (
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
        "accounts/my-account/models/m1",
    )
    assert job.created_at == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert job.ended_at == datetime(2025, 1, 2, 5, 0, tzinfo=UTC)
    assert job.error_message == "out of memory"
    assert job.usage == JobUsage(cost=Decimal("12.4"), currency="USD", estimated=True)


def test_dpo_and_reinforcement_jobs_keep_their_models_in_training_config(dialect: FireworksDialect) -> None:
    body = {
        "name": "accounts/my-account/dpoJobs/d1",
        "state": "JOB_STATE_RUNNING",
        "status": {"code": "OK", "message": ""},
        "trainingConfig": {
            "baseModel": "accounts/fireworks/models/qwen3-8b",
            "outputModel": "accounts/my-account/models/d1",
        },
    }
    job = dialect.parse_job(ok(body))
    assert (job.base_model, job.tuned_model, job.usage, job.error_message) == (
        "accounts/fireworks/models/qwen3-8b",
        "accounts/my-account/models/d1",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("money", "cost"),
    [
        ({"currencyCode": "USD", "units": "0", "nanos": 1}, Decimal("0.000000001")),
        ({"currencyCode": "USD", "units": "-1", "nanos": -750000000}, Decimal("-1.75")),
        ({"currencyCode": "EUR", "units": "123456789012"}, Decimal("123456789012")),
        ({"currencyCode": "USD", "units": "100", "nanos": 0}, Decimal("100")),
        ({"currencyCode": "USD", "units": "12", "nanos": 400000000}, Decimal("12.4")),
        ({"currencyCode": "USD", "nanos": 990000000}, Decimal("0.99")),
    ],
)
def test_money_is_an_exact_decimal(money: dict[str, object], cost: Decimal) -> None:
    usage = estimated_cost(money)
    assert usage is not None and usage.estimated and usage.currency == money["currencyCode"]
    assert usage.cost is not None and str(usage.cost) == str(cost)  # the same digits, not only equal


@pytest.mark.parametrize(
    "money", [None, {}, "12.40", {"units": "<string>"}, {"units": 1.5}, {"units": "1", "nanos": 10**9}, {"units": True}]
)
def test_an_unreadable_cost_is_no_usage(money: object) -> None:
    assert estimated_cost(money) is None


# -- listing -------------------------------------------------------------------------------------
def test_a_listing_reads_every_collection_one_after_another(dialect: FireworksDialect) -> None:
    urls = dialect.list_urls()
    assert urls == tuple(f"{BASE}/v1/accounts/my-account/{c}" for c in COLLECTIONS)
    assert dialect.list_url() == urls[0]
    walk = listing(dialect, ClientSettings(), 500, side_by_side=True)
    answers = {  # (collection, token) -> (job ids, next token)
        ("supervisedFineTuningJobs", None): (["s1", "s2"], "t2"),
        ("supervisedFineTuningJobs", "t2"): (["s3"], None),
        ("dpoJobs", None): ([], None),
        ("reinforcementFineTuningJobs", None): (["r1"], "t2"),  # the same token text in another collection
        ("reinforcementFineTuningJobs", "t2"): (["r2"], None),
    }
    asked, read = [], []
    batch = next(walk)
    while True:
        (request,) = batch
        collection = request.url.rsplit("/", 1)[-1]
        token = request.params.get("pageToken")
        asked.append((collection, token, request.params["pageSize"]))
        ids, following = answers[(collection, token)]
        body: dict[str, object] = {"totalSize": len(ids)}
        if ids:
            body[collection] = [
                {"name": f"accounts/my-account/{collection}/{i}", "state": "JOB_STATE_RUNNING"} for i in ids
            ]
        if following:
            body["nextPageToken"] = following
        page = dialect.parse_page(ok(body), request)
        read.extend(job.job_id.rsplit("/", 1)[-1] for job in page.jobs)
        try:
            batch = walk.send([Page(page.jobs, page.next_token)])
        except StopIteration:
            break
    assert [(c, t) for c, t, _ in asked] == list(answers)
    assert {size for _, _, size in asked} == {"200"}  # above 200 asked as 200
    assert read == ["s1", "s2", "s3", "r1", "r2"]


def test_a_page_keyed_by_another_collection_is_no_page_of_this_one(dialect: FireworksDialect) -> None:
    request = dialect.list_request(None, 10, dialect.list_urls()[1])
    assert request.params == {"pageSize": "10"}
    page = dialect.parse_page(ok({"supervisedFineTuningJobs": [{"name": NAME}], "totalSize": 1}), request)
    assert page.jobs == [] and page.next_token is None
    with pytest.raises(MalformedResponseError):
        dialect.parse_page(ok({"dpoJobs": {"name": NAME}}), request)


# -- errors and acknowledgement -----------------------------------------------------------------------
def test_google_style_errors(dialect: FireworksDialect) -> None:
    get = dialect.get_request(NAME)
    cancel = dialect.cancel_request(NAME)
    assert isinstance(dialect.parse_error(err(404, "NOT_FOUND", "job not found"), get), JobNotFoundError)
    assert isinstance(dialect.parse_error(err(401, "UNAUTHENTICATED", "bad key"), get), AuthenticationError)
    refused = dialect.parse_error(err(400, "FAILED_PRECONDITION", "job is in state JOB_STATE_COMPLETED"), cancel)
    assert isinstance(refused, JobNotCancellableError) and refused.native_code == "FAILED_PRECONDITION"
    limited = ApiResponse(
        429,
        {},
        b'{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":'
        b'[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}',
    )
    assert isinstance(dialect.parse_error(limited, get), RateLimitedError)
    assert dialect.retry_hint(limited) == 3.0


def test_the_cancel_acknowledgement_is_an_empty_object(dialect: FireworksDialect) -> None:
    cancel = dialect.cancel_request(NAME)
    assert cancel.operation is Operation.CANCEL
    assert dialect.parse_cancel(ApiResponse(200, {}, b"{}"), cancel) is None
    with pytest.raises(MalformedResponseError):
        dialect.parse_cancel(ApiResponse(200, {}, b"<html>ok</html>"), cancel)
