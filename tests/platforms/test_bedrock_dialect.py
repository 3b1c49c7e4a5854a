"""Amazon Bedrock dialect: ids (name or ARN), escaping, rest-json errors, states, paging, list filters."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    PermissionDeniedError,
    PlatformUnavailableError,
    RateLimitedError,
)
from airflow_ft_provider.job_filter import JobFilter
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse, Operation
from airflow_ft_provider.platforms.bedrock import (
    DEFAULT_REGION,
    BedrockDialect,
    ListFilter,
    console_url,
    server_filter,
)
from airflow_ft_provider.platforms.extras import ExtraError, Extras

ARN = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/abcd1234efgh"
NAME = "nightly-sft.v2+exp"


def job(**fields: Any) -> dict[str, Any]:
    base = {
        "jobArn": ARN,
        "jobName": NAME,
        "outputModelName": "nightly-model",
        "roleArn": "arn:aws:iam::123456789012:role/Bedrock",
        "status": "InProgress",
        "creationTime": "2025-03-01T10:00:00.123Z",
        "lastModifiedTime": "2025-03-01T11:00:00Z",
        "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1",
        "customizationType": "FINE_TUNING",
    }
    return {**base, **fields}


def ok(body: Any) -> ApiResponse:
    return ApiResponse(200, {}, json.dumps(body).encode())


def failed(status: int, kind: str | None, message: str = "nope", **headers: str) -> ApiResponse:
    if kind is not None:
        headers["x-amzn-ErrorType"] = f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return ApiResponse(status, headers, json.dumps({"message": message}).encode())


@pytest.fixture
def dialect() -> BedrockDialect:
    return BedrockDialect(None, region="us-east-1")


# -- hosts and regions ----------------------------------------------------------------------------
def test_default_host_is_the_regions_and_the_region_comes_from_the_extras() -> None:
    assert BedrockDialect.from_extras(None, Extras({})).base_url == f"https://bedrock.{DEFAULT_REGION}.amazonaws.com"
    eu = BedrockDialect.from_extras(None, Extras({"region_name": "eu-central-1"}))
    assert (eu.region, eu.base_url) == ("eu-central-1", "https://bedrock.eu-central-1.amazonaws.com")
    configured = BedrockDialect.from_extras(None, Extras({}), default_region="ap-northeast-1")
    assert configured.region == "ap-northeast-1"
    assert BedrockDialect.from_extras("http://127.0.0.1:9/", Extras({})).base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("region", ["US-EAST-1", "us-east-1/../x", "useast1", "us east 1"])
def test_a_bad_region_is_refused_naming_the_extra(region: str) -> None:
    with pytest.raises(ExtraError, match="region_name"):
        BedrockDialect.from_extras(None, Extras({"region_name": region}))


# -- ids ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "job_id",
    [
        ARN,
        "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/meta.llama3-1-8b-instruct-v1:0/0123456789ab",
        "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-micro-v1:0:128k/zzzzzzzzzzzz",
        "my-job",
        "a",
        "Job.2024+v1",
        "j" * 63,
    ],
)
def test_names_and_arns_are_accepted_as_given(dialect: BedrockDialect, job_id: str) -> None:
    assert dialect.canonical_id(job_id) == job_id


@pytest.mark.parametrize(
    "job_id",
    [
        "j" * 64,  # JobName: at most 63
        "-job",
        "job_1",  # '_' is not in botocore's JobName pattern
        "job name",
        "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan/abc",  # suffix != 12
        "arn:aws:bedrock:us-east-1:12345:model-customization-job/amazon.titan-v1/abcd1234efgh",  # account
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-v1/abcd1234efgh",
        "arn:aws:sagemaker:us-east-1:123456789012:model-customization-job/amazon.titan-v1/abcd1234efgh",
        ARN + "/stop",
        ARN.replace("abcd1234efgh", "ABCD1234EFGH"),
        "x" * 1012,
    ],
)
def test_other_ids_are_refused_before_any_request(dialect: BedrockDialect, job_id: str) -> None:
    for build in (dialect.get_request, dialect.cancel_request, dialect.canonical_id):
        with pytest.raises(InvalidJobIdError) as info:
            build(job_id)
        assert info.value.platform == Platform.BEDROCK


def test_an_arn_of_another_region_names_the_region_to_use(dialect: BedrockDialect) -> None:
    with pytest.raises(InvalidJobIdError, match="region_name is eu-west-1"):
        dialect.get_request(ARN.replace("us-east-1", "eu-west-1"))


def test_an_arn_up_to_1011_characters_is_within_the_limit() -> None:
    assert BedrockDialect.max_id_length == 1011
    with pytest.raises(InvalidJobIdError, match="at most 1011"):
        BedrockDialect(None).canonical_id("a" * 1012)


def test_an_arn_is_escaped_as_one_path_segment(dialect: BedrockDialect) -> None:
    request = dialect.get_request(ARN)
    path = urlsplit(request.url).path
    prefix = "/model-customization-jobs/"
    assert path.startswith(prefix)
    segment = path[len(prefix) :]
    assert "/" not in segment and ":" not in segment
    assert unquote(segment) == ARN
    assert (request.method, request.job_id, request.operation) == ("GET", ARN, Operation.GET)


def test_stop_request_posts_without_a_body(dialect: BedrockDialect) -> None:
    request = dialect.cancel_request(NAME)
    assert request.method == "POST" and request.json is None
    assert request.url == "https://bedrock.us-east-1.amazonaws.com/model-customization-jobs/nightly-sft.v2%2Bexp/stop"


def test_the_same_job_by_arn_or_by_name(dialect: BedrockDialect) -> None:
    record = dialect.parse_job(ok(job()))
    assert record.job_id == ARN and record.display_name == NAME
    assert dialect.is_same_job(ARN, record)
    assert dialect.is_same_job(NAME, record)
    assert not dialect.is_same_job("other-job", record)
    assert not dialect.is_same_job(ARN.replace("abcd1234efgh", "000000000000"), record)


# -- answers --------------------------------------------------------------------------------------
def test_a_full_record(dialect: BedrockDialect) -> None:
    record = dialect.parse_job(
        ok(
            job(
                status="Failed",
                failureMessage="Training data is invalid.",
                endTime="2025-03-01T12:00:00Z",
                outputModelArn="arn:aws:bedrock:us-east-1:123456789012:custom-model/x",
            )
        )
    )
    assert record.state is TuningJobState.FAILED and record.native_state == "Failed"
    assert record.error_message == "Training data is invalid."
    assert record.created_at == datetime(2025, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert record.ended_at == datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert record.tuned_model == "arn:aws:bedrock:us-east-1:123456789012:custom-model/x"
    assert record.base_model is not None and record.base_model.endswith("amazon.titan-text-express-v1")


@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("InProgress", TuningJobState.RUNNING),
        ("Completed", TuningJobState.SUCCEEDED),
        ("Failed", TuningJobState.FAILED),
        ("Stopping", TuningJobState.CANCELLING),
        ("Stopped", TuningJobState.CANCELLED),
        ("inprogress", TuningJobState.UNKNOWN),
    ],
)
def test_states(dialect: BedrockDialect, native: str, state: TuningJobState) -> None:
    assert dialect.parse_job(ok(job(status=native))).state is state


def test_an_empty_stop_answer_is_accepted(dialect: BedrockDialect) -> None:
    request = dialect.cancel_request(ARN)
    assert dialect.parse_cancel(ApiResponse(200, {}, b""), request) is None
    assert dialect.parse_cancel(ApiResponse(200, {}, b"{}"), request) is None


def test_console_link_is_the_jobs_page_in_its_region() -> None:
    link = console_url(ARN)
    assert link is not None
    assert link.startswith("https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/")
    assert link.endswith("arn=" + ARN.replace(":", "%3A").replace("/", "%2F"))
    assert console_url(ARN.replace("arn:aws:", "arn:aws-cn:")) is None  # other partitions: other consoles


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (403, "UnrecognizedClientException", AuthenticationError),
        (403, "ExpiredTokenException", AuthenticationError),
        (403, "InvalidSignatureException", AuthenticationError),
        (403, "AccessDeniedException", PermissionDeniedError),
        (404, "ResourceNotFoundException", JobNotFoundError),
        (429, "ThrottlingException", RateLimitedError),
        (500, "InternalServerException", PlatformUnavailableError),
        (503, "ServiceUnavailableException", PlatformUnavailableError),
        (400, "ValidationException", InvalidRequestError),
        (400, None, InvalidRequestError),
    ],
)
def test_error_types_map_to_the_shared_classes(dialect: BedrockDialect, status, kind, expected) -> None:
    error = dialect.parse_error(failed(status, kind, "why", **{"x-amzn-RequestId": "req-1"}), dialect.get_request(ARN))
    assert type(error) is expected
    assert (error.native_code, error.request_id, error.platform) == (kind, "req-1", Platform.BEDROCK)
    assert "why" in str(error)
    assert error.retryable is (status in (429, 500, 503))


def test_the_type_is_read_from_the_body_when_the_header_is_missing(dialect: BedrockDialect) -> None:
    body = json.dumps({"__type": "com.amazon.coral#ThrottlingException", "message": "slow"}).encode()
    error = dialect.parse_error(ApiResponse(400, {}, body), dialect.get_request(ARN))
    assert isinstance(error, RateLimitedError) and error.native_code == "ThrottlingException"


def test_a_conflict_on_stop_is_the_already_ended_refusal(dialect: BedrockDialect) -> None:
    error = dialect.parse_error(failed(400, "ConflictException"), dialect.cancel_request(ARN))
    assert isinstance(error, JobNotCancellableError) and not error.retryable
    on_read = dialect.parse_error(failed(400, "ConflictException"), dialect.get_request(ARN))
    assert isinstance(on_read, InvalidRequestError)


def test_an_auth_error_says_what_to_check(dialect: BedrockDialect) -> None:
    error = dialect.parse_error(failed(403, "UnrecognizedClientException", "bad token"), dialect.get_request(ARN))
    assert "access key id" in str(error) and "Bedrock API key" in str(error)


# -- listing --------------------------------------------------------------------------------------
def test_list_request_pages_newest_first(dialect: BedrockDialect) -> None:
    first = dialect.list_request(None, None)
    assert first.params == {"maxResults": "100", "sortBy": "CreationTime", "sortOrder": "Descending"}
    later = dialect.list_request("tok==", 5000)
    assert later.params["maxResults"] == str(dialect.paging.largest) and later.params["nextToken"] == "tok=="
    assert dialect.list_request(None, -3).params["maxResults"] == "1"


def test_parse_page(dialect: BedrockDialect) -> None:
    summary = {k: job()[k] for k in ("jobArn", "jobName", "status", "creationTime", "baseModelArn")}
    request = dialect.list_request(None, 1)
    page = dialect.parse_page(ok({"modelCustomizationJobSummaries": [summary], "nextToken": "n1"}), request)
    assert [j.job_id for j in page.jobs] == [ARN] and page.next_token == "n1"
    last = dialect.parse_page(ok({"modelCustomizationJobSummaries": []}), request)
    assert (last.jobs, last.next_token) == ([], None)


def test_list_filter_parameters(dialect: BedrockDialect) -> None:
    after = datetime(2025, 1, 1, tzinfo=UTC)
    wanted = ListFilter(status="InProgress", created_after=after, created_before=after + timedelta(days=1))
    dialect.list_filter = ListFilter(**{**wanted.__dict__, "name_contains": "sft"})
    request = dialect.list_request(None, 10)
    assert request.params["statusEquals"] == "InProgress"
    assert request.params["creationTimeAfter"] == "2025-01-01T00:00:00Z"
    assert request.params["creationTimeBefore"] == "2025-01-02T00:00:00Z"
    assert request.params["nameContains"] == "sft"


NOW = datetime(2025, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, ListFilter(status="InProgress")),  # the default active states: only InProgress on Bedrock
        ({"states": "RUNNING"}, ListFilter(status="InProgress")),
        ({"states": "CANCELLING"}, ListFilter(status="Stopping")),
        ({"states": "RUNNING,CANCELLING"}, ListFilter()),
        ({"states": "RUNNING", "include_unknown_states": True}, ListFilter()),  # an unknown status is no statusEquals
        ({"states": "QUEUED"}, ListFilter()),  # no Bedrock status: the filter itself finds nothing
        ({"name_pattern": "*sft*"}, ListFilter(status="InProgress", name_contains="sft")),
        ({"name_pattern": "sft*"}, ListFilter(status="InProgress")),
        ({"name_pattern": "*s?t*"}, ListFilter(status="InProgress")),
        ({"name_pattern": "re:sft"}, ListFilter(status="InProgress")),
        (
            # Rounded up: a bound at whole seconds must not drop a job of the same second.
            {"created_before": "2025-01-01T00:00:00.0005+00:00"},
            ListFilter(status="InProgress", created_before=datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)),
        ),
        (
            {"running_longer_than": 3600},
            ListFilter(status="InProgress", created_before=datetime(2025, 6, 1, 11, 0, 1, tzinfo=UTC)),
        ),
        (
            {"running_longer_than": 3600, "created_before": "2025-01-01T00:00:00Z"},
            ListFilter(status="InProgress", created_before=datetime(2025, 1, 1, tzinfo=UTC)),
        ),
    ],
)
def test_server_filter_narrows_only_to_a_superset(criteria, expected) -> None:
    assert server_filter(JobFilter(**criteria), NOW) == expected


def test_a_narrowed_dialect_lists_with_the_filter_and_reads_as_before(dialect: BedrockDialect) -> None:
    narrowed = dialect.narrowed(JobFilter(states="RUNNING", name_pattern="*nightly*"), NOW)
    params = narrowed.list_request("tok", 10).params
    assert (params["statusEquals"], params["nameContains"], params["nextToken"]) == ("InProgress", "nightly", "tok")
    assert "statusEquals" not in dialect.list_request(None, 10).params  # the original is unchanged
    assert narrowed.get_request(ARN).url == dialect.get_request(ARN).url


def test_every_listed_record_is_a_bedrock_job(dialect: BedrockDialect) -> None:
    items = [job(jobArn=ARN.replace("abcd1234efgh", f"{i:012d}"), jobName=f"j{i}") for i in range(3)]
    page = dialect.parse_page(ok({"modelCustomizationJobSummaries": items}), dialect.list_request(None, 3))
    assert all(isinstance(j, TuningJob) and j.platform == Platform.BEDROCK for j in page.jobs)
    assert all(re.fullmatch(r".*/[0-9]{12}", j.job_id) for j in page.jobs)
