"""The Bedrock emulator on a real socket: SigV4 checked for real, ARN or name paths, stop, listing filters."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.platforms.bedrock import ACCESS_KEY_ID

botocore_auth = pytest.importorskip("botocore.auth")
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

NEVER_ENDS = JobScript(running_s=None, cancel_s=0.2)
#: Stopping lasts long enough to be read even on a loaded machine.
SLOW_STOP = JobScript(running_s=None, cancel_s=1.5)


def signed(
    emu: Any,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    secret: str | None = None,
    region: str = "us-east-1",
    service: str = "bedrock",
    key_id: str = ACCESS_KEY_ID,
) -> httpx.Response:
    """``method path`` signed by botocore's signer, sent by httpx exactly as signed."""
    url = emu.base_url("bedrock") + path
    request = AWSRequest(method=method, url=url, params=params or {}, headers={})
    credentials = Credentials(key_id, secret if secret is not None else emu.api_key("bedrock"))
    botocore_auth.SigV4Auth(credentials, service, region).add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, headers=dict(prepared.headers), content=prepared.body, timeout=10)


def job_path(job_id: str, suffix: str = "") -> str:
    return "/model-customization-jobs/" + quote(job_id, safe="") + suffix


def test_get_by_arn_and_by_name(emu):
    arn = emu.seed("bedrock", display_name="nightly-sft", script=NEVER_ENDS)
    by_arn = signed(emu, "GET", job_path(arn))
    assert by_arn.status_code == 200, by_arn.text
    body = by_arn.json()
    assert (body["jobArn"], body["jobName"], body["status"]) == (arn, "nightly-sft", "InProgress")
    assert by_arn.headers["x-amzn-RequestId"]
    assert signed(emu, "GET", job_path("nightly-sft")).json()["jobArn"] == arn


def test_stop_answers_empty_then_conflict(emu):
    arn = emu.seed("bedrock", script=SLOW_STOP)
    stop = signed(emu, "POST", job_path(arn, "/stop"))
    assert (stop.status_code, stop.content) == (200, b"")
    assert signed(emu, "GET", job_path(arn)).json()["status"] == "Stopping"
    again = signed(emu, "POST", job_path(arn, "/stop"))
    assert again.status_code == 400
    assert again.headers["x-amzn-ErrorType"].split(":")[0] == "ConflictException"
    time.sleep(1.6)
    assert signed(emu, "GET", job_path(arn)).json()["status"] == "Stopped"


def test_missing_job_is_resource_not_found(emu):
    response = signed(emu, "GET", job_path("no-such-job"))
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException")
    assert set(response.json()) == {"message"}


@pytest.mark.parametrize(
    ("change", "error_type"),
    [
        ({"secret": "wrong-secret"}, "InvalidSignatureException"),
        ({"key_id": "AKIAUNKNOWN000000000"}, "UnrecognizedClientException"),
        ({"service": "sagemaker"}, "InvalidSignatureException"),
    ],
)
def test_bad_signatures_are_refused(emu, change, error_type):
    emu.seed("bedrock", script=NEVER_ENDS)
    response = signed(emu, "GET", "/model-customization-jobs", **change)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"].split(":")[0] == error_type


def test_a_signature_does_not_cover_another_request(emu):
    arn = emu.seed("bedrock", script=NEVER_ENDS)
    url = emu.base_url("bedrock") + job_path(arn)
    request = AWSRequest(method="GET", url=url, headers={})
    botocore_auth.SigV4Auth(Credentials(ACCESS_KEY_ID, emu.api_key("bedrock")), "bedrock", "us-east-1").add_auth(
        request
    )
    headers = dict(request.headers)
    assert httpx.get(url, headers=headers).status_code == 200
    replayed = httpx.post(url + "/stop", headers=headers)  # same headers, another path and method
    assert replayed.status_code == 403
    assert emu.job_state("bedrock", arn) == "InProgress"


def test_stale_and_unsigned_requests_are_refused(emu):
    url = emu.base_url("bedrock") + "/model-customization-jobs"
    unsigned = httpx.get(url)
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    request = AWSRequest(method="GET", url=url, headers={})
    signer = botocore_auth.SigV4Auth(Credentials(ACCESS_KEY_ID, emu.api_key("bedrock")), "bedrock", "us-east-1")
    signer.add_auth(request)
    stale = datetime.now(UTC) - timedelta(minutes=20)
    request.context["timestamp"] = stale.strftime("%Y%m%dT%H%M%SZ")
    request.headers.replace_header("X-Amz-Date", request.context["timestamp"])
    del request.headers["Authorization"]
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    signer._inject_signature_to_request(request, signature)
    response = httpx.get(url, headers=dict(request.headers))
    assert response.status_code == 403 and "expired" in response.json()["message"]


def test_a_bedrock_api_key_is_accepted_as_a_bearer_token(emu):
    emu.seed("bedrock", script=NEVER_ENDS)
    url = emu.base_url("bedrock") + "/model-customization-jobs"
    assert httpx.get(url, headers={"Authorization": f"Bearer {emu.api_key('bedrock')}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 403


def listed_pages(emu: Any, **params: str) -> tuple[list[str], int]:
    """Every ARN of a listing walked by ``nextToken`` three at a time, and the number of pages."""
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = {"maxResults": "3", **params, **({"nextToken": token} if token else {})}
        answer = signed(emu, "GET", "/model-customization-jobs", params=page)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += [s["jobArn"] for s in body["modelCustomizationJobSummaries"]]
        pages += 1
        token = body.get("nextToken")
        if not token:
            return seen, pages


def test_listing_pages_with_next_token(emu):
    arns = emu.seed_many("bedrock", 7, script=NEVER_ENDS, created_over_s=60)
    assert listed_pages(emu) == (arns[::-1], 3)
    bad = signed(emu, "GET", "/model-customization-jobs", params={"maxResults": "1001"})
    assert bad.status_code == 400 and bad.headers["x-amzn-ErrorType"].startswith("ValidationException")


@pytest.mark.parametrize(("order", "oldest_first"), [("Ascending", True), ("Descending", False)])
def test_listing_sorts_both_ways(emu, order, oldest_first):
    """botocore's service model allows ``sortOrder`` Ascending and Descending (by CreationTime)."""
    arns = emu.seed_many("bedrock", 7, script=NEVER_ENDS, created_over_s=60)
    emu.seed("bedrock", display_name="done", script=JobScript(running_s=0.0))  # filtered out below
    expected = arns if oldest_first else arns[::-1]
    assert listed_pages(emu, sortBy="CreationTime", sortOrder=order, statusEquals="InProgress") == (expected, 3)


def test_listing_refuses_a_sort_the_model_lacks(emu):
    for params in ({"sortOrder": "Random"}, {"sortBy": "Name"}):
        bad = signed(emu, "GET", "/model-customization-jobs", params=params)
        assert bad.status_code == 400 and bad.headers["x-amzn-ErrorType"].startswith("ValidationException")


def test_listing_filters(emu):
    old = emu.seed("bedrock", display_name="old-sft", script=NEVER_ENDS, created_ago_s=7200)
    new = emu.seed("bedrock", display_name="new-SFT", script=NEVER_ENDS)
    done = emu.seed("bedrock", display_name="done-sft", script=JobScript(running_s=0.0))
    time.sleep(0.05)

    def listed(**params: str) -> list[str]:
        answer = signed(emu, "GET", "/model-customization-jobs", params=params)
        assert answer.status_code == 200, answer.text
        return [s["jobArn"] for s in answer.json()["modelCustomizationJobSummaries"]]

    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(listed(statusEquals="InProgress")) == {old, new}
    assert listed(statusEquals="Completed") == [done]
    assert listed(creationTimeBefore=an_hour_ago) == [old]
    assert set(listed(creationTimeAfter=an_hour_ago)) == {new, done}
    assert set(listed(nameContains="sft", statusEquals="InProgress")) == {old, new}
    assert signed(emu, "GET", "/model-customization-jobs", params={"statusEquals": "Running"}).status_code == 400


def test_a_request_sees_the_region_it_is_signed_for(emu):
    east = emu.seed("bedrock", script=NEVER_ENDS)
    west = emu.seed("bedrock", script=NEVER_ENDS, region="us-west-2")
    assert ":us-west-2:" in west
    in_west = signed(emu, "GET", "/model-customization-jobs", region="us-west-2").json()
    assert [s["jobArn"] for s in in_west["modelCustomizationJobSummaries"]] == [west]
    assert signed(emu, "GET", job_path(east), region="us-west-2").status_code == 404
