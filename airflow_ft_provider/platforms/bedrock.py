"""Amazon Bedrock model customization jobs (``/model-customization-jobs``, rest-json, SigV4).

A job is named by its name or its ARN; answers carry both, and the provider's id for a job is its
ARN (``jobArn``): unique across regions and accounts, and what listings return. A name is accepted
wherever an id is, and a record whose ``jobName`` is the name asked for is that job. Stop answers
200 with an empty body (the flows confirm by reading); stopping a job that is no longer in
progress is a ``ConflictException`` (400). Errors name their type in ``x-amzn-ErrorType``.
Signing is the hook's business (``hooks/aws_credentials.py``); this module is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

from airflow_ft_provider.errors import InvalidJobIdError
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import EMPTY_OBJECT_OR_NO_BODY
from airflow_ft_provider.platforms.aws import DEFAULT_REGION, AwsDialect, aws_form
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Operation
from airflow_ft_provider.platforms.fields import parse_time, text
from airflow_ft_provider.platforms.ids import check_id_text, invalid_id
from airflow_ft_provider.platforms.labels import LabelRules
from airflow_ft_provider.platforms.paging import PageSize, PageTokens
from airflow_ft_provider.platforms.record import PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

if TYPE_CHECKING:
    from airflow_ft_provider.job_filter import JobFilter

#: botocore's ``ModelCustomizationJobIdentifier``: at most 1,011 characters.
MAX_ID_LENGTH = 1011

STATES = StateTable(
    {
        "InProgress": TuningJobState.RUNNING,
        "Completed": TuningJobState.SUCCEEDED,
        "Failed": TuningJobState.FAILED,
        "Stopping": TuningJobState.CANCELLING,
        "Stopped": TuningJobState.CANCELLED,
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
#: The ``statusEquals`` value selecting each normalized state (Bedrock has one native state per state).
STATUS_OF = {state: native for native, state in STATES.items()}

# botocore's service model (bedrock 2023-04-20): JobName and ModelCustomizationJobArn. The
# partition suffix is narrowed from ``-[^:]+`` to the letters and dashes partitions use.
_NAME = r"[a-zA-Z0-9](?:-*[a-zA-Z0-9+\-.])*"
_BASE_MODEL = r"[a-z0-9-]{1,63}[.][a-z0-9-]{1,63}(?:[a-z0-9-]{1,63}[.]){0,2}[a-z0-9-]{1,63}(?:[:][a-z0-9-]{1,63}){0,2}"
_ARN = re.compile(
    rf"arn:(?P<partition>aws(?:-[a-z-]+)?):bedrock:(?P<region>[a-z0-9-]{{1,20}}):(?P<account>[0-9]{{12}})"
    rf":model-customization-job/{_BASE_MODEL}/[a-z0-9]{{12}}"
)
_NAME_RE = re.compile(_NAME)
_MAX_NAME = 63

CONSOLE_URL = "https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/custom-models/item?arn={arn}"


@dataclass(frozen=True)
class ListFilter:
    """What Bedrock's listing can narrow on the server; the bulk filter still decides (a superset is fine)."""

    status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    name_contains: str | None = None

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.status:
            out["statusEquals"] = self.status
        if self.created_after:
            out["creationTimeAfter"] = _iso(self.created_after)
        if self.created_before:
            out["creationTimeBefore"] = _iso(self.created_before)
        if self.name_contains:
            out["nameContains"] = self.name_contains
        return out


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_filter(job_filter: JobFilter, now: datetime) -> ListFilter:
    """The part of a bulk filter Bedrock's listing can apply, selecting a superset of its matches.

    ``statusEquals`` when the filter's states are one Bedrock status (the default active states are
    just ``InProgress`` here; never with ``include_unknown_states``, as no status names those);
    ``creationTimeBefore`` from
    ``created_before`` and ``running_longer_than`` (Bedrock reports no start, so a job runs since its
    creation), rounded up to the second; ``nameContains`` for a glob ``*text*`` of job-name
    characters. The rest is left to the filter, which still judges every listed job.
    """
    natives = {native for native, state in STATES.items() if state in job_filter.states}
    status = natives.pop() if len(natives) == 1 and not job_filter.include_unknown_states else None
    bounds = [job_filter.created_before]
    if job_filter.running_longer_than is not None:
        bounds.append(now - job_filter.running_longer_than)
    before = min((b for b in bounds if b is not None), default=None)
    if before is not None and before.microsecond:
        before = before.replace(microsecond=0) + timedelta(seconds=1)
    contains = None
    pattern = job_filter.name_pattern
    if pattern and len(pattern) > 2 and pattern[0] == pattern[-1] == "*":
        core = pattern[1:-1]
        if len(core) <= _MAX_NAME and re.fullmatch(r"[a-zA-Z0-9+\-.]+", core):
            contains = core
    return ListFilter(status=status, created_before=before, name_contains=contains)


class BedrockDialect(AwsDialect):
    platform = "bedrock"
    service_title = "Amazon Bedrock"
    host_template = "https://bedrock.{region}.amazonaws.com"
    signing_name = "bedrock"
    takes_api_key = True
    credentials_hint = (
        "Check the connection's credentials (Login: access key id, Password: its secret "
        "or, without a Login, a Bedrock API key) and region."
    )
    #: Stopping a job no longer in progress is a ``ConflictException`` (400).
    cancel_refused_types = frozenset({"ConflictException"})
    id_pattern = _NAME_RE
    id_example = (
        "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/abcd1234efgh"
    )
    states = STATES
    #: StopModelCustomizationJob's output shape has no members (botocore's service model, rest-json):
    #: ``{}``, or a body of zero bytes as the emulator sends and botocore reads as ``{}``.
    cancel_ack = EMPTY_OBJECT_OR_NO_BODY
    max_id_length = MAX_ID_LENGTH
    #: ListModelCustomizationJobs: ``maxResults`` (1-1,000) / ``nextToken`` ->
    #: ``{"modelCustomizationJobSummaries", "nextToken"}``.
    paging = PageTokens(
        PageSize("maxResults", 1000, default=100, oversize_capped=False),
        "modelCustomizationJobSummaries",
        cursor_param="nextToken",
        next_key="nextToken",
        empty_items_omitted=False,
    )

    def __init__(self, base_url: str | None, region: str = DEFAULT_REGION) -> None:
        super().__init__(base_url, region)
        #: What every listing of this dialect asks the server to narrow to (see :meth:`narrowed`).
        self.list_filter: ListFilter | None = None

    # -- ids ------------------------------------------------------------------------------
    def canonical_id(self, job_id: object) -> str:
        """The name or ARN as given, once checked: a name becomes an ARN only by reading the job.

        An ARN in another region than the connection's is refused: its host and signature are that
        region's, so it needs a connection for it.
        """
        check_id_text(job_id, self.platform, self.id_example, self.max_id_length)
        assert isinstance(job_id, str)
        arn = _ARN.fullmatch(job_id)
        if arn is not None:
            if arn.group("region") != self.region:
                raise InvalidJobIdError(
                    f"Bedrock job {job_id[:120]!r} is in region {arn.group('region')}, but the connection is "
                    f"for {self.region}. Use a connection whose region_name is {arn.group('region')}.",
                    platform=self.platform,
                )
            return job_id
        if len(job_id) <= _MAX_NAME and _NAME_RE.fullmatch(job_id) and ".." not in job_id:
            return job_id
        raise invalid_id(job_id, self.platform, self.id_example)

    def is_same_job(self, requested: str, job: TuningJob) -> bool:
        """The ARN asked for, or (a name asked for) the job of that name."""
        if _ARN.fullmatch(requested):
            return job.job_id == requested
        return job.display_name == requested or job.job_id == requested

    def narrowed(self, job_filter: JobFilter, now: datetime) -> Self:
        """A copy whose listings ask the server for :func:`server_filter`'s subset."""
        copy = type(self)(self.base_url, region=self.region)
        copy.list_filter = server_filter(job_filter, now)
        return copy

    def _job_url(self, job_id: str, *suffix: str) -> str:
        # One path segment: an ARN's ':' and '/' are percent-encoded, as botocore does.
        return self.url("model-customization-jobs", job_id, *suffix)

    # -- requests -------------------------------------------------------------------------
    def get_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.GET, "GET", self._job_url(job_id), job_id=job_id)

    def list_url(self) -> str:
        return self.url("model-customization-jobs")

    def list_params(self) -> dict[str, str]:
        """Newest first, narrowed on the server by the dialect's :attr:`list_filter` (see :meth:`narrowed`)."""
        return {"sortBy": "CreationTime", "sortOrder": "Descending", **(self.list_filter or ListFilter()).params()}

    def cancel_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.CANCEL, "POST", self._job_url(job_id, "stop"), job_id=job_id)

    # -- answers --------------------------------------------------------------------------
    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Model customization job record is not a JSON object", response)
        native = item.get("status")
        arn = text(item.get("jobArn"))
        return self.job(
            response,
            job_id=arn,
            state=self.map_state(native),
            native_state=str(native),
            display_name=text(item.get("jobName")),
            base_model=text(item.get("baseModelArn")),
            tuned_model=text(item.get("outputModelArn")) or text(item.get("customModelArn")),
            created_at=parse_time(item.get("creationTime")),
            updated_at=parse_time(item.get("lastModifiedTime")),
            ended_at=parse_time(item.get("endTime")),
            error_message=text(item.get("failureMessage")),
            console_url=console_url(arn) if arn else None,
        )


def console_url(arn: str) -> str | None:
    """The job in the AWS console (best effort: the console's routes are not a documented API)."""
    match = _ARN.fullmatch(arn)
    if match is None or match.group("partition") != "aws":
        return None
    region = match.group("region")
    return CONSOLE_URL.format(region=region, arn=quote(arn, safe=""))


RECORD = PlatformRecord(
    name="bedrock",
    title="Amazon Bedrock",
    conn_type="ft_bedrock",
    hook_name_note="model customization",
    dialect=BedrockDialect,
    # Password without a Login is a Bedrock API key.
    form=aws_form(BedrockDialect, "Bedrock", "Secret access key (or Bedrock API key)"),
    hook_class_name="BedrockCustomizationHook",
    hook_module="airflow_ft_provider.hooks.bedrock",
    # A user's existing Amazon provider connection works as well.
    also_conn_types=("aws",),
    # ``jobTags`` of CreateModelCustomizationJob: keys up to 128, values up to 256 characters. Listings
    # do not show them (has_labels stays False), so the reaper cannot read them back yet.
    labels=LabelRules(
        "jobTags",
        max_key_length=128,
        max_value_length=256,
        charset=r"a-zA-Z0-9\s._:/=+@-",
        key_name="key",
        value_name="value",
    ),
)
