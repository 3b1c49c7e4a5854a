"""The SageMaker emulator on a real socket: JSON 1.1 calls signed by botocore's signer, every status,
the stop timeline, JSON 1.1 errors, listing filters and pages, regions and the quota's throttle."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.platforms.sagemaker import ACCESS_KEY_ID

botocore_auth = pytest.importorskip("botocore.auth")
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

NEVER_ENDS = JobScript(running_s=None, cancel_s=1.5)  # Stopping lasts long enough to be read


def call(
    emu: Any,
    operation: str,
    body: dict[str, Any],
    *,
    secret: str | None = None,
    region: str = "us-east-1",
    service: str = "sagemaker",
) -> httpx.Response:
    """``SageMaker.<operation>`` with ``body``, signed by botocore's signer, sent by httpx as signed."""
    url = emu.platform_url("sagemaker") + "/"
    headers = {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1"}
    request = AWSRequest(method="POST", url=url, data=json.dumps(body).encode(), headers=headers)
    credentials = Credentials(ACCESS_KEY_ID, secret if secret is not None else emu.api_key("sagemaker"))
    botocore_auth.SigV4Auth(credentials, service, region).add_auth(request)
    prepared = request.prepare()
    return httpx.post(prepared.url, headers=dict(prepared.headers), content=prepared.body, timeout=10)


def error_type(response: httpx.Response) -> str:
    return response.json()["__type"].rsplit("#", 1)[-1]


def test_describe_answers_the_record_in_epoch_seconds(emu):
    name = emu.seed("sagemaker", display_name="nightly-sft", script=NEVER_ENDS)
    answer = call(emu, "DescribeTrainingJob", {"TrainingJobName": name})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-amz-json-1.1" and answer.headers["x-amzn-RequestId"]
    body = answer.json()
    assert name.startswith("nightly-sft-")
    assert (body["TrainingJobName"], body["TrainingJobStatus"], body["SecondaryStatus"]) == (
        name,
        "InProgress",
        "Training",
    )
    assert isinstance(body["CreationTime"], float) and "TrainingEndTime" not in body
    assert body["TrainingJobArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"


def test_stop_answers_empty_then_validation_exception(emu):
    name = emu.seed("sagemaker", script=NEVER_ENDS)
    stop = call(emu, "StopTrainingJob", {"TrainingJobName": name})
    assert (stop.status_code, stop.json()) == (200, {})
    assert call(emu, "DescribeTrainingJob", {"TrainingJobName": name}).json()["TrainingJobStatus"] == "Stopping"
    again = call(emu, "StopTrainingJob", {"TrainingJobName": name})
    assert (again.status_code, error_type(again)) == (400, "ValidationException")
    assert "Stopping" in again.json()["message"]
    time.sleep(1.6)
    stopped = call(emu, "DescribeTrainingJob", {"TrainingJobName": name}).json()
    assert (stopped["TrainingJobStatus"], stopped["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert stopped["BillableTimeInSeconds"] >= 1 and stopped["TrainingEndTime"] >= stopped["CreationTime"]


@pytest.mark.parametrize(
    ("end_state", "status", "reason"),
    [("succeeded", "Completed", False), ("failed", "Failed", True)],
)
def test_ended_jobs_show_their_status_and_reason(emu, end_state, status, reason):
    name = emu.seed("sagemaker", script=JobScript(running_s=0.0, end_state=end_state))
    body = call(emu, "DescribeTrainingJob", {"TrainingJobName": name}).json()
    assert body["TrainingJobStatus"] == status and ("FailureReason" in body) is reason
    refused = call(emu, "StopTrainingJob", {"TrainingJobName": name})
    assert (refused.status_code, error_type(refused)) == (400, "ValidationException")


def test_deleting_can_be_shown(emu):
    name = emu.seed("sagemaker", script=JobScript(running_s=0.0))
    emu.set_native_state("sagemaker", name, "Deleting")
    assert call(emu, "DescribeTrainingJob", {"TrainingJobName": name}).json()["TrainingJobStatus"] == "Deleting"


def test_missing_bad_and_unknown_calls_are_json_1_1_errors(emu):
    missing = call(emu, "DescribeTrainingJob", {"TrainingJobName": "no-such-job"})
    assert (missing.status_code, error_type(missing)) == (400, "ResourceNotFound")
    assert set(missing.json()) == {"__type", "message"}
    bad = call(emu, "DescribeTrainingJob", {"TrainingJobName": "bad_name"})
    assert (bad.status_code, error_type(bad)) == (400, "ValidationException")
    unknown = call(emu, "DeleteTrainingJob", {"TrainingJobName": "x"})
    assert (unknown.status_code, error_type(unknown)) == (400, "UnknownOperationException")


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"secret": "wrong-secret"}, "InvalidSignatureException"),
        ({"service": "bedrock"}, "InvalidSignatureException"),
    ],
)
def test_bad_signatures_are_refused(emu, change, kind):
    response = call(emu, "ListTrainingJobs", {}, **change)
    assert (response.status_code, error_type(response)) == (403, kind)
    unsigned = httpx.post(emu.platform_url("sagemaker") + "/", json={})
    assert error_type(unsigned) == "MissingAuthenticationTokenException"


def walk(emu: Any, **filters: Any) -> tuple[list[str], int]:
    """Every name of a listing walked by ``NextToken`` three at a time, and the number of pages."""
    seen: list[str] = []
    token, pages = None, 0
    while True:
        answer = call(emu, "ListTrainingJobs", {"MaxResults": 3, **filters, **({"NextToken": token} if token else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += [s["TrainingJobName"] for s in body["TrainingJobSummaries"]]
        assert all(set(s) <= {"TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime",
                              "LastModifiedTime", "TrainingJobStatus", "SecondaryStatus"}
                   for s in body["TrainingJobSummaries"])  # fmt: skip
        pages += 1
        token = body.get("NextToken")
        if not token:
            return seen, pages


def test_listing_pages_sorts_and_filters(emu):
    names = emu.seed_many("sagemaker", 7, display_name="sft", script=NEVER_ENDS, created_over_s=60)
    done = emu.seed("sagemaker", display_name="eval", script=JobScript(running_s=0.0))
    assert walk(emu) == ([done, *names[::-1]], 3)
    assert walk(emu, SortOrder="Ascending")[0] == [*names, done]
    assert walk(emu, StatusEquals="Completed") == ([done], 1)
    assert walk(emu, NameContains="EVAL") == ([done], 1)
    created = call(emu, "DescribeTrainingJob", {"TrainingJobName": names[3]}).json()["CreationTime"]
    assert walk(emu, CreationTimeBefore=created)[0] == names[:3][::-1]
    for refused in ({"MaxResults": 101}, {"SortBy": "Name"}, {"StatusEquals": "Running"}, {"NextToken": "x!"}):
        answer = call(emu, "ListTrainingJobs", refused)
        assert (answer.status_code, error_type(answer)) == (400, "ValidationException"), refused


def test_a_request_sees_the_jobs_of_its_signatures_region(emu):
    here = emu.seed("sagemaker", script=NEVER_ENDS)
    there = emu.seed("sagemaker", script=NEVER_ENDS, region="eu-west-1")
    assert walk(emu)[0] == [here]
    listed = call(emu, "ListTrainingJobs", {}, region="eu-west-1").json()["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in listed] == [there]
    assert listed[0]["TrainingJobArn"].startswith("arn:aws:sagemaker:eu-west-1:")
    assert error_type(call(emu, "DescribeTrainingJob", {"TrainingJobName": there})) == "ResourceNotFound"


def test_over_quota_is_a_throttling_exception_at_400(emu):
    emu.set_rate_limit("sagemaker", per_second=0.5, burst=1)
    statuses = [call(emu, "ListTrainingJobs", {}) for _ in range(2)]
    assert [r.status_code for r in statuses] == [200, 400]
    assert error_type(statuses[1]) == "ThrottlingException"
    assert emu.requests("sagemaker")[-1].fault == "rate_limit"
