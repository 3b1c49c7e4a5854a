"""SageMaker's dialect on literal bytes: JSON 1.1 requests, names and ARNs, records, paging, errors, extras.

The shared contract suite (``test_dialect_contract.py``) already runs it against its emulator; this
file holds what is SageMaker's own: every call a ``POST /`` named by ``X-Amz-Target``, the name as
the id (an ARN reduced to it), epoch-second times, ``SecondaryStatus`` and the billable figures,
``ThrottlingException`` at 400, the ``ValidationException`` that means "not found" or "not stoppable",
and how an ``aws`` connection reaches it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    ConnectionConfigError,
    InvalidJobIdError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    MalformedResponseError,
    PlatformUnavailableError,
    RateLimitedError,
)
from airflow_ft_provider.jobs import JobUsage, Platform, TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.sagemaker import STATES, SageMakerDialect

NAME = "nightly-sft-2024"
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{NAME}"
BASE = "https://api.sagemaker.us-east-1.amazonaws.com"
HUB_MODEL = "arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/meta-llama-3-8b/1.0.0"


def ok(body: bytes) -> ApiResponse:
    return ApiResponse(200, {"content-type": "application/x-amz-json-1.1"}, body)


def refused(kind: str, message: str = "nope", status: int = 400) -> ApiResponse:
    body = json.dumps({"__type": f"com.amazonaws.sagemaker#{kind}", "message": message}).encode()
    return ApiResponse(status, {"x-amzn-RequestId": "req-1"}, body)


@pytest.fixture
def dialect() -> SageMakerDialect:
    return SageMakerDialect(None, region="us-east-1")


# -- hosts, regions and the state table -------------------------------------------------------------
def test_the_host_is_the_regions_and_the_region_comes_from_the_extras() -> None:
    assert SageMakerDialect.from_extras(None, Extras({})).base_url == BASE
    eu = SageMakerDialect.from_extras(None, Extras({"region_name": "eu-west-1"}))
    assert (eu.region, eu.base_url) == ("eu-west-1", "https://api.sagemaker.eu-west-1.amazonaws.com")
    assert SageMakerDialect.from_extras(None, Extras({}), default_region="ap-south-1").region == "ap-south-1"
    with pytest.raises(ExtraError, match="region_name"):
        SageMakerDialect.from_extras(None, Extras({"region_name": "us-east-1/../x"}))


def test_every_status_of_the_service_model_is_in_the_table() -> None:
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model("sagemaker")
    assert set(STATES) == set(model.shape_for("TrainingJobStatus").enum)
    assert STATES.ended == {"Completed", "Failed", "Stopped", "Deleting"}
    assert STATES["Stopping"] is TuningJobState.CANCELLING


# -- ids ----------------------------------------------------------------------------------------------
def test_an_arn_is_reduced_to_its_name(dialect: SageMakerDialect) -> None:
    assert dialect.canonical_id(ARN) == NAME
    assert dialect.canonical_id(NAME) == NAME
    assert dialect.canonical_id("a") == "a" and dialect.canonical_id("A--b") == "A--b"
    assert dialect.job_key(ARN) == dialect.job_key(NAME) == NAME


@pytest.mark.parametrize(
    "job_id",
    [
        "j" * 64,
        "-job",
        "job-",
        "job_1",
        "job.1",
        "job name",
        "jöb",
        ARN + "/stop",
        "arn:aws:sagemaker:us-east-1:123456789012:processing-job/" + NAME,
        "arn:aws:sagemaker:us-east-1:12345:training-job/" + NAME,
        "arn:aws:bedrock:us-east-1:123456789012:training-job/" + NAME,
        '{"TrainingJobName": "other"}',
    ],
)
def test_other_ids_are_refused_before_any_request(dialect: SageMakerDialect, job_id: str) -> None:
    for build in (dialect.get_request, dialect.cancel_request):
        with pytest.raises(InvalidJobIdError) as info:
            build(job_id)
        assert info.value.platform == Platform.SAGEMAKER


def test_an_arn_of_another_region_names_the_region_to_use(dialect: SageMakerDialect) -> None:
    with pytest.raises(InvalidJobIdError, match="region_name is eu-west-1"):
        dialect.get_request(ARN.replace("us-east-1", "eu-west-1"))


# -- requests -----------------------------------------------------------------------------------------
def test_get_and_stop_are_posts_to_the_root_named_by_their_target(dialect: SageMakerDialect) -> None:
    get, stop = dialect.get_request(ARN), dialect.cancel_request(NAME)
    assert (get.method, get.url, get.json, get.job_id) == ("POST", BASE + "/", {"TrainingJobName": NAME}, NAME)
    assert get.headers == {
        "X-Amz-Target": "SageMaker.DescribeTrainingJob",
        "Content-Type": "application/x-amz-json-1.1",
    }
    assert (stop.method, stop.url, stop.json) == ("POST", BASE + "/", {"TrainingJobName": NAME})
    assert stop.headers["X-Amz-Target"] == "SageMaker.StopTrainingJob"


def test_a_listing_asks_in_the_body_newest_first(dialect: SageMakerDialect) -> None:
    first = dialect.list_request(None, None)
    assert (first.method, first.url, dict(first.params)) == ("POST", BASE + "/", {})
    assert first.json == {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100}
    assert first.headers["X-Amz-Target"] == "SageMaker.ListTrainingJobs"
    later = dialect.list_request("tok-2", 500)
    assert later.json == {"SortBy": "CreationTime", "SortOrder": "Descending", "NextToken": "tok-2", "MaxResults": 100}


def test_a_page_reads_the_summaries_and_the_next_token(dialect: SageMakerDialect) -> None:
    request = dialect.list_request(None, 2)
    body = (
        b'{"TrainingJobSummaries":[{"TrainingJobName":"a","TrainingJobArn":"arn:aws:sagemaker:us-east-1:'
        b'123456789012:training-job/a","CreationTime":1714640400,"TrainingJobStatus":"InProgress",'
        b'"SecondaryStatus":"Downloading"}],"NextToken":"n2"}'
    )
    page = dialect.parse_page(ok(body), request)
    assert [(j.job_id, j.state, j.native_detail) for j in page.jobs] == [("a", TuningJobState.RUNNING, "Downloading")]
    assert page.next_token == "n2"
    last = dialect.parse_page(ok(b'{"TrainingJobSummaries":[]}'), request)
    assert (last.jobs, last.next_token) == ([], None)
    with pytest.raises(MalformedResponseError):
        dialect.parse_page(ok(b'{"TrainingJobSummaries":{"a":1}}'), request)


# -- records ------------------------------------------------------------------------------------------
def record(**fields: Any) -> bytes:
    base = {
        "TrainingJobName": NAME,
        "TrainingJobArn": ARN,
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/model.tar.gz"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "ServerlessJobConfig": {"BaseModelArn": HUB_MODEL, "JobType": "FineTuning"},
        "CreationTime": 1714557630.5,
        "TrainingStartTime": 1714557700,
        "TrainingEndTime": 1714564800,
        "LastModifiedTime": 1714564801,
        "BillableTimeInSeconds": 7100,
        "BillableTokenCount": 1250000,
    }
    return json.dumps({**base, **fields}).encode()


def test_a_serverless_job_reads_with_its_usage_detail_and_console_link(dialect: SageMakerDialect) -> None:
    job = dialect.parse_job(ok(record()))
    assert (job.job_id, job.display_name, job.state, job.native_state) == (
        NAME,
        NAME,
        TuningJobState.SUCCEEDED,
        "Completed",
    )
    assert (job.base_model, job.tuned_model, job.native_detail) == (HUB_MODEL, "s3://b/out/model.tar.gz", "Completed")
    assert job.created_at == datetime(2024, 5, 1, 10, 0, 30, 500000, tzinfo=UTC)
    assert job.started_at == datetime.fromtimestamp(1714557700, UTC)
    assert job.ended_at == datetime.fromtimestamp(1714564800, UTC)
    assert job.usage == JobUsage(billable_seconds=7100, billable_tokens=1250000)
    assert job.console_url == (
        "https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/nightly-sft-2024"
    )
    assert dialect.is_same_job(ARN, job) and not dialect.is_same_job("other-job", job)


def test_a_failed_script_job_reads_its_reason_and_image(dialect: SageMakerDialect) -> None:
    body = record(
        TrainingJobStatus="Failed",
        SecondaryStatus="MaxRuntimeExceeded",
        FailureReason="MaxRuntimeExceeded: Training job reached the maximum runtime.",
        ServerlessJobConfig=None,
        AlgorithmSpecification={
            "TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/train:1",
            "TrainingInputMode": "File",
        },
        BillableTokenCount=None,
        OutputModelPackageArn="arn:aws:sagemaker:us-east-1:123456789012:model-package/pkg/1",
    )
    job = dialect.parse_job(ok(body))
    assert (job.state, job.native_detail) == (TuningJobState.FAILED, "MaxRuntimeExceeded")
    assert job.error_message == "MaxRuntimeExceeded: Training job reached the maximum runtime."
    assert job.base_model == "123.dkr.ecr.us-east-1.amazonaws.com/train:1"
    assert job.tuned_model == "arn:aws:sagemaker:us-east-1:123456789012:model-package/pkg/1"
    assert job.usage == JobUsage(billable_seconds=7100)


def test_deleting_has_ended_and_an_unknown_status_is_kept(dialect: SageMakerDialect) -> None:
    deleting = dialect.parse_job(ok(record(TrainingJobStatus="Deleting", BillableTimeInSeconds=None)))
    assert deleting.state is TuningJobState.EXPIRED and deleting.is_terminal
    assert deleting.usage == JobUsage(billable_tokens=1250000)
    odd = dialect.parse_job(ok(record(TrainingJobStatus="Paused", BillableTokenCount=None, BillableTimeInSeconds=None)))
    assert (odd.state, odd.native_state, odd.usage) == (TuningJobState.UNKNOWN, "Paused", None)


def test_a_gov_cloud_arn_gets_no_console_link(dialect: SageMakerDialect) -> None:
    gov = ARN.replace("arn:aws:", "arn:aws-us-gov:")
    assert dialect.parse_job(ok(record(TrainingJobArn=gov))).console_url is None


def test_a_stop_is_acknowledged_by_nothing_or_an_empty_object(dialect: SageMakerDialect) -> None:
    request = dialect.cancel_request(NAME)
    assert dialect.parse_cancel(ok(b""), request) is None
    assert dialect.parse_cancel(ok(b"{}"), request) is None
    with pytest.raises(MalformedResponseError):
        dialect.parse_cancel(ok(b"<html>ok</html>"), request)


# -- errors -------------------------------------------------------------------------------------------
def test_json_1_1_errors_map_by_their_type(dialect: SageMakerDialect) -> None:
    get, stop, listing = dialect.get_request(NAME), dialect.cancel_request(NAME), dialect.list_request(None, 10)
    missing = dialect.parse_error(refused("ResourceNotFound", "Training job not found"), stop)
    assert isinstance(missing, JobNotFoundError) and missing.native_code == "ResourceNotFound"
    assert isinstance(
        dialect.parse_error(refused("ValidationException", "Requested resource not found."), get), JobNotFoundError
    )
    not_stoppable = refused(
        "ValidationException", "The request was rejected because the training job is in status Stopped."
    )
    assert isinstance(dialect.parse_error(not_stoppable, stop), JobNotCancellableError)
    assert isinstance(dialect.parse_error(refused("ValidationException", "MaxResults"), listing), InvalidRequestError)
    throttled = dialect.parse_error(refused("ThrottlingException", "Rate exceeded"), get)
    assert isinstance(throttled, RateLimitedError) and throttled.retryable and throttled.status_code == 400
    bad_key = dialect.parse_error(refused("UnrecognizedClientException"), get)
    assert isinstance(bad_key, AuthenticationError) and "Login: access key id" in str(bad_key)
    assert isinstance(dialect.parse_error(refused("InternalFailure", status=500), get), PlatformUnavailableError)
    # A type in the header, as AWS's front door may send it, reads the same.
    header = ApiResponse(400, {"x-amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/"}, b"{}")
    assert isinstance(dialect.parse_error(header, get), RateLimitedError)


# -- which hook an ``aws`` connection gets --------------------------------------------------------------
def test_an_aws_connection_is_bedrocks_unless_its_platform_extra_names_sagemaker() -> None:
    from airflow_ft_provider.hooks.registry import hook_class_for_conn_type

    assert hook_class_for_conn_type("aws", "a").platform == Platform.BEDROCK
    assert hook_class_for_conn_type("aws", "a", "bedrock").platform == Platform.BEDROCK
    assert hook_class_for_conn_type("aws", "a", "sagemaker").platform == Platform.SAGEMAKER
    assert hook_class_for_conn_type("ft_sagemaker", "s").platform == Platform.SAGEMAKER
    with pytest.raises(ConnectionConfigError, match="serves only bedrock, sagemaker"):
        hook_class_for_conn_type("aws", "a", "openai")
    with pytest.raises(ConnectionConfigError, match="platform extra"):
        hook_class_for_conn_type("ft_openai", "o", "sagemaker")
