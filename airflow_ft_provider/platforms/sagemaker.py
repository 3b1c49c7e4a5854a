"""Amazon SageMaker AI training jobs (AWS JSON 1.1: every call is ``POST /`` with ``X-Amz-Target``).

JumpStart fine-tunes, custom training scripts and serverless model customization all run as
training jobs. A job is named by its name (``TrainingJobName``); an ARN
(``arn:aws:sagemaker:{region}:{account}:training-job/{name}``) is accepted and reduced to the
name, which is what the API takes and what the provider's id for a job is. Stop answers 200 with
no output (the flows confirm by reading); stopping a job that is not in progress is a
``ValidationException`` (400), as is, on SageMaker, describing a job that does not exist
("Requested resource not found."). Errors name their type in the body's ``__type``; a
``ThrottlingException`` comes with 400 and is a rate limit all the same. Listing summaries lack
``FailureReason`` and the billing figures: a listed job is the summary's fields.
Signing is the hook's business (``hooks/aws.py``); this module is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_ft_provider.errors import InvalidJobIdError, JobNotFoundError, TuningJobError
from airflow_ft_provider.jobs import JobUsage, TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import EMPTY_OBJECT_OR_NO_BODY
from airflow_ft_provider.platforms.aws import AwsDialect, aws_form
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Operation
from airflow_ft_provider.platforms.fields import count, mapping, parse_time, text
from airflow_ft_provider.platforms.ids import check_id_text, invalid_id
from airflow_ft_provider.platforms.labels import LabelRules
from airflow_ft_provider.platforms.paging import PageSize, PageTokens
from airflow_ft_provider.platforms.record import PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

#: botocore's service model (sagemaker 2017-07-24): ``TrainingJobStatus``. ``Deleting`` only
#: follows an ended job (DeleteTrainingJob takes Completed, Failed or Stopped jobs) whose outcome
#: the record no longer says: ended, and neither a success, a failure nor a cancel of ours.
STATES = StateTable(
    {
        "InProgress": TuningJobState.RUNNING,
        "Completed": TuningJobState.SUCCEEDED,
        "Failed": TuningJobState.FAILED,
        "Stopping": TuningJobState.CANCELLING,
        "Stopped": TuningJobState.CANCELLED,
        "Deleting": TuningJobState.EXPIRED,
    },
    timeline={
        Phase.QUEUED: "InProgress",
        Phase.PENDING: "InProgress",
        Phase.RUNNING: "InProgress",
        Phase.CANCELLING: "Stopping",
        Phase.SUCCEEDED: "Completed",
        Phase.FAILED: "Failed",
        Phase.CANCELLED: "Stopped",
    },
)

#: The service model's ``TrainingJobName`` (1-63 characters) and ``TrainingJobArn`` patterns; the
#: partition suffix is narrowed from ``[a-z\-]*`` to the dashed suffixes partitions use.
MAX_NAME = 63
NAME = re.compile(r"[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}")
ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):sagemaker:(?P<region>[a-z0-9-]{1,20}):(?P<account>[0-9]{12})"
    r":training-job/(?P<name>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})"
)
CONSOLE_URL = "https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{name}"
#: The JSON 1.1 protocol's content type and target prefix (``SageMaker.<Operation>``).
CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."
#: What SageMaker says, as a ``ValidationException``, about a job that does not exist.
_NOT_FOUND = re.compile(r"not found|does not exist", re.IGNORECASE)


def target_headers(operation: str) -> dict[str, str]:
    """The headers naming a JSON 1.1 operation (``DescribeTrainingJob``)."""
    return {"X-Amz-Target": TARGET_PREFIX + operation, "Content-Type": CONTENT_TYPE}


class SageMakerDialect(AwsDialect):
    platform = "sagemaker"
    service_title = "Amazon SageMaker AI"
    host_template = "https://api.sagemaker.{region}.amazonaws.com"
    signing_name = "sagemaker"
    id_pattern = NAME
    id_example = "arn:aws:sagemaker:us-east-1:123456789012:training-job/nightly-sft-2024-06-01"
    max_id_length = 256  # TrainingJobArn's maximum
    states = STATES
    #: StopTrainingJob has no output shape: ``{}``, or no body at all (botocore reads both as ``{}``).
    cancel_ack = EMPTY_OBJECT_OR_NO_BODY
    #: Stopping a job that is not InProgress is refused with a ``ValidationException``.
    cancel_refused_types = frozenset({"ValidationException"})
    #: ListTrainingJobs: ``MaxResults`` (1-100, default 10) / ``NextToken`` in the JSON body ->
    #: ``{"TrainingJobSummaries", "NextToken"}``.
    paging = PageTokens(
        PageSize("MaxResults", 100, default=10, oversize_capped=False),
        "TrainingJobSummaries",
        cursor_param="NextToken",
        next_key="NextToken",
        in_body=True,
        empty_items_omitted=False,
    )

    # -- ids ------------------------------------------------------------------------------
    def canonical_id(self, job_id: object) -> str:
        """The job's name: a name as given, an ARN's name once checked. An ARN in another region
        than the connection's is refused: the same name there is another job."""
        check_id_text(job_id, self.platform, self.id_example, self.max_id_length)
        assert isinstance(job_id, str)
        arn = ARN.fullmatch(job_id)
        if arn is not None:
            if arn.group("region") != self.region:
                raise InvalidJobIdError(
                    f"SageMaker training job {job_id[:120]!r} is in region {arn.group('region')}, but the "
                    f"connection is for {self.region}. Use a connection whose region_name is {arn.group('region')}.",
                    platform=self.platform,
                )
            return arn.group("name")
        if len(job_id) <= MAX_NAME and NAME.fullmatch(job_id):
            return job_id
        raise invalid_id(job_id, self.platform, self.id_example)

    def job_key(self, job_id: str) -> str:
        """A name and the ARN of that name are the same job."""
        arn = ARN.fullmatch(job_id)
        return arn.group("name") if arn else job_id

    # -- requests -------------------------------------------------------------------------
    def _call(self, operation: Operation, target: str, job_id: str) -> ApiRequest:
        name = self.canonical_id(job_id)
        body = {"TrainingJobName": name}
        return ApiRequest(operation, "POST", self.list_url(), json=body, headers=target_headers(target), job_id=name)

    def get_request(self, job_id: str) -> ApiRequest:
        return self._call(Operation.GET, "DescribeTrainingJob", job_id)

    def cancel_request(self, job_id: str) -> ApiRequest:
        return self._call(Operation.CANCEL, "StopTrainingJob", job_id)

    def list_url(self) -> str:
        return self.base_url + "/"

    def list_params(self) -> dict[str, str]:
        """Newest first (the paging style puts these in the body beside the page fields)."""
        return {"SortBy": "CreationTime", "SortOrder": "Descending"}

    def list_headers(self) -> Mapping[str, str]:
        return {**self.headers, **target_headers("ListTrainingJobs")}

    # -- answers --------------------------------------------------------------------------
    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        """A DescribeTrainingJob answer or a listing's TrainingJobSummary (a subset of its fields)."""
        if not isinstance(item, dict):
            raise self.malformed("Training job record is not a JSON object", response)
        native = item.get("TrainingJobStatus")
        name = text(item.get("TrainingJobName"))
        algorithm = mapping(item.get("AlgorithmSpecification"))
        return self.job(
            response,
            job_id=name,
            state=self.map_state(native),
            native_state=str(native),
            native_detail=text(item.get("SecondaryStatus")),
            display_name=name,
            base_model=text(mapping(item.get("ServerlessJobConfig")).get("BaseModelArn"))
            or text(algorithm.get("AlgorithmName"))
            or text(algorithm.get("TrainingImage")),
            tuned_model=text(item.get("OutputModelPackageArn"))
            or text(mapping(item.get("ModelArtifacts")).get("S3ModelArtifacts")),
            created_at=parse_time(item.get("CreationTime")),
            started_at=parse_time(item.get("TrainingStartTime")),
            updated_at=parse_time(item.get("LastModifiedTime")),
            ended_at=parse_time(item.get("TrainingEndTime")),
            error_message=text(item.get("FailureReason")),
            console_url=console_url(text(item.get("TrainingJobArn")) or "", name),
            usage=usage(item),
        )

    def refined_error(self, kind: str | None, message: str, request: ApiRequest) -> type[TuningJobError] | None:
        """SageMaker answers a describe or stop of a missing job with a ``ValidationException``
        saying "Requested resource not found.": that job is not found, not refused."""
        if kind == "ValidationException" and request.job_id is not None and _NOT_FOUND.search(message):
            return JobNotFoundError
        return None


def usage(item: dict[str, Any]) -> JobUsage | None:
    """``BillableTimeInSeconds`` and ``BillableTokenCount`` (serverless jobs), where the record has them."""
    seconds, tokens = count(item.get("BillableTimeInSeconds")), count(item.get("BillableTokenCount"))
    if seconds is None and tokens is None:
        return None
    return JobUsage(billable_seconds=seconds, billable_tokens=tokens)


def console_url(arn: str, name: str | None) -> str | None:
    """The job in the AWS console (best effort: the console's routes are not a documented API).
    Only for the commercial partition, whose console host is known, and the region of the ARN."""
    match = ARN.fullmatch(arn)
    if match is None or match.group("partition") != "aws" or match.group("name") != name:
        return None
    return CONSOLE_URL.format(region=match.group("region"), name=name)


RECORD = PlatformRecord(
    name="sagemaker",
    title="Amazon SageMaker AI",
    conn_type="ft_sagemaker",
    hook_name_note="training jobs",
    dialect=SageMakerDialect,
    form=aws_form(SageMakerDialect, "SageMaker API"),
    hook_class_name="SageMakerTrainingHook",
    hook_module="airflow_ft_provider.hooks.sagemaker",
    # Airflow's ``aws`` connection serves Bedrock unless its ``platform`` extra names SageMaker.
    shared_conn_types=("aws",),
    # ``Tags`` of CreateTrainingJob: keys up to 128, values up to 256 characters (letters, digits,
    # spaces and _.:/=+-@). ListTrainingJobs does not show them, so the reaper cannot read them back yet.
    labels=LabelRules(
        "Tags", max_key_length=128, max_value_length=256, charset=r"\w\s.:/=+@-", key_name="Key", value_name="Value"
    ),
)
