"""Amazon SageMaker AI training jobs on AWS's JSON 1.1 protocol: every call is ``POST /``.

Faithful points: the operation is the ``X-Amz-Target`` header (``SageMaker.DescribeTrainingJob``,
``ListTrainingJobs``, ``StopTrainingJob``) and its input the JSON body; every request is
SigV4-signed (service ``sagemaker``, checked as :mod:`._aws` does for every AWS platform) with the
emulator's access key (:data:`ACCESS_KEY_ID`, secret: the platform's emulator key). Jobs are named
by name (the API takes names); times are epoch seconds. Stop answers 200 with ``{}`` and a
``ValidationException`` for a job that is not InProgress; errors are JSON 1.1 bodies
``{"__type", "message"}`` with 400 for client errors, ``ThrottlingException`` included (also when
the emulator's quota refuses a request). Listings page on ``MaxResults``/``NextToken`` in the body
and filter on ``StatusEquals``, ``NameContains`` and ``CreationTimeAfter``/``Before``. Regions and
``/sts``: :mod:`._aws`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.paging_base import is_int
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.platforms.sagemaker import ARN, CONTENT_TYPE, NAME, TARGET_PREFIX, SageMakerDialect
from airflow_ft_provider.testing.platforms._aws import ACCOUNT, STS_PATH, AwsSpec
from airflow_ft_provider.testing.platforms._base import json_response, read_json
from airflow_ft_provider.testing.platforms._paging import list_answer
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

__all__ = ["ACCESS_KEY_ID", "SPEC", "STS_PATH"]

ACCESS_KEY_ID = "AKIAEMULATORSAGEMAKR"
#: The status and type of each kind of refusal (JSON 1.1: client errors are 400, whatever their kind).
_ERRORS = {
    400: (400, "ValidationException", "1 validation error detected."),
    401: (400, "UnrecognizedClientException", "The security token included in the request is invalid."),
    403: (400, "AccessDeniedException", "User is not authorized to perform: sagemaker:DescribeTrainingJob."),
    404: (400, "ResourceNotFound", "Requested resource not found."),
    429: (400, "ThrottlingException", "Rate exceeded"),
    500: (500, "InternalFailure", "The request processing has failed because of an unknown error."),
    503: (503, "ServiceUnavailable", "The service is unavailable. Please try again later."),
}
#: What each phase shows as ``SecondaryStatus`` (the model's finer status beside TrainingJobStatus).
_SECONDARY = {
    Phase.QUEUED: "Starting",
    Phase.PENDING: "Downloading",
    Phase.RUNNING: "Training",
    Phase.CANCELLING: "Stopping",
    Phase.SUCCEEDED: "Completed",
    Phase.FAILED: "Failed",
    Phase.CANCELLED: "Stopped",
}
_BAD_NAME = (
    "1 validation error detected: Value at 'trainingJobName' failed to satisfy constraint: Member must "
    "satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
)
#: botocore's service model: SortBy and SortOrder (the emulator orders by creation time only).
SORT_ORDERS = ("Ascending", "Descending")


def error(status: int, kind: str | None = None, message: str | None = None) -> Response:
    """A JSON 1.1 error: ``{"__type", "message"}``; ``status`` picks the kind (and the status AWS sends for it)."""
    sent, default_kind, default_message = _ERRORS.get(
        status, (status, "InternalFailure" if status >= 500 else "ValidationException", "Error.")
    )
    kind = kind or default_kind
    # A kind named outright keeps the status asked for (an emulator fault, an auth refusal).
    code = sent if kind == default_kind else status
    body = {"__type": f"com.amazonaws.sagemaker#{kind}", "message": message or default_message}
    return json_response(body, code, {"x-amzn-RequestId": str(uuid.uuid4())})


def arn(job: Job) -> str:
    return f"arn:aws:sagemaker:{job.scope['region']}:{ACCOUNT}:training-job/{job.native_id}"


def render(view: JobView, state: str) -> dict[str, Any]:
    """DescribeTrainingJob's answer, times in epoch seconds."""
    job = view.job
    region = job.scope["region"]
    out: dict[str, Any] = {
        "TrainingJobName": job.native_id,
        "TrainingJobArn": arn(job),
        "TrainingJobStatus": state,
        "SecondaryStatus": _SECONDARY[view.phase],
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://emulator-bucket/{job.native_id}/output/model.tar.gz"},
        "HyperParameters": {"epochs": "2", "learning_rate": "0.0001"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/SageMakerTraining",
        "ServerlessJobConfig": {
            "BaseModelArn": f"arn:aws:sagemaker:{region}:aws:hub-content/SageMakerPublicHub/Model/{job.base_model}",
            "JobType": "FineTuning",
            "CustomizationTechnique": "SFT",
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": view.created_at,
        "LastModifiedTime": view.updated_at,
        "SecondaryStatusTransitions": [
            {"Status": _SECONDARY[phase], "StartTime": at} for phase, at in view.history if phase in _SECONDARY
        ],
    }
    if view.started_at is not None:
        out["TrainingStartTime"] = view.started_at
    if view.ended_at is not None:
        out["TrainingEndTime"] = view.ended_at
        seconds = max(1, round(view.ended_at - (view.started_at or view.created_at)))
        out["TrainingTimeInSeconds"] = out["BillableTimeInSeconds"] = seconds
        out["BillableTokenCount"] = 1000 * seconds
    if view.phase is Phase.FAILED:
        out["FailureReason"] = job.error_message or "AlgorithmError: training data validation failed."
    out.update(job.extra)
    return out


def summary(full: dict[str, Any]) -> dict[str, Any]:
    """A listing's ``TrainingJobSummary`` of a job's full record."""
    keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime", "LastModifiedTime")
    return {**{k: full[k] for k in keys if k in full}, **_status(full)}


def _status(full: dict[str, Any]) -> dict[str, Any]:
    return {k: full[k] for k in ("TrainingJobStatus", "SecondaryStatus") if k in full}


class SageMakerSpec(AwsSpec):
    platform = Platform("sagemaker")
    conn_type = "ft_sagemaker"
    access_key_id = ACCESS_KEY_ID
    signing_name = "sagemaker"
    auth_note = f"SigV4 (service sagemaker) with access key {ACCESS_KEY_ID} and the key as its secret"
    default_base_model = "meta-textgeneration-llama-3-2-1b-instruct"
    # One route for every operation (:meth:`extra_routes`), dispatched on X-Amz-Target.
    collections = ()
    operations = frozenset[str]()
    repeat_cancel_refused = True
    paging = SageMakerDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        """A name, as SageMaker's ids are the names users give (made unique, as SageMaker requires)."""
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", display_name).strip("-")[:40] or "job"
        return f"{base}-{uuid.uuid4().hex[:12]}"

    def native_id(self, client_id: str) -> str:
        match = ARN.fullmatch(client_id)
        return match.group("name") if match else client_id

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        # No retry hint: SageMaker sends none (botocore backs off on its own).
        return error(status, code, message)

    def aws_error(self, status: int, kind: str | None = None, message: str | None = None) -> Response:
        return error(status, kind, message)

    def respond(self, data: Any, status: int = 200) -> Response:
        response = json_response(data, status, {"x-amzn-RequestId": str(uuid.uuid4())})
        response.headers["content-type"] = CONTENT_TYPE
        return response

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return render(view, self.native_state(view))

    def render_listed(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return summary(self.render(core, view))

    def not_found(self, request: Request) -> Response:
        return error(404, "ResourceNotFound", "Requested resource not found.")

    def cancel_refused(self, view: JobView) -> Response:
        return error(
            400,
            "ValidationException",
            f"The request was rejected because the training job is in status {self.native_state(view)}.",
        )

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        core = api.core

        async def call(request: Request) -> Response:
            refused = await self.verified(core, request)
            if refused is not None:
                return refused
            target = request.headers.get("x-amz-target", "")
            operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
            body = await read_json(request)
            if operation == "ListTrainingJobs":
                return await self.listing(api, request, body)
            if operation not in ("DescribeTrainingJob", "StopTrainingJob"):
                return error(400, "UnknownOperationException", f"Unknown operation {target[:80]!r}.")
            name = body.get("TrainingJobName")
            if not isinstance(name, str) or len(name) > 63 or not NAME.fullmatch(name):
                return error(400, message=_BAD_NAME)
            job = core.store.get(self.platform, name)
            if job is None or job.partition not in api.partitions(request):
                return self.not_found(request)
            if operation == "DescribeTrainingJob":
                return self.respond(self.render(core, api.view(job)))
            result, view = core.store.cancel(job, self.native_state, self.terminal)
            return self.respond({}) if result == "accepted" else self.cancel_refused(view)

        return [self.sts_route(api), Route("/", call, methods=["POST"])]

    async def listing(self, api: JobApi, request: Request, body: dict[str, Any]) -> Response:
        """One page of ListTrainingJobs, after its sort order and filters are checked."""
        order = body.get("SortOrder", "Descending")
        if order not in SORT_ORDERS or body.get("SortBy", "CreationTime") != "CreationTime":
            return error(400, message="1 validation error detected: the emulator sorts by CreationTime only.")
        where = self.filter_of(body)
        if isinstance(where, Response):
            return where
        return await list_answer(api, request, where, oldest_first=order == "Ascending")

    def filter_of(self, body: dict[str, Any]) -> Callable[[JobView], bool] | Response | None:
        status, contains = body.get("StatusEquals"), body.get("NameContains")
        if status is not None and status not in self.states:
            return error(400, message=f"1 validation error detected: StatusEquals {str(status)[:40]!r} is not valid.")
        after, before = body.get("CreationTimeAfter"), body.get("CreationTimeBefore")
        for name, value in (("CreationTimeAfter", after), ("CreationTimeBefore", before)):
            if value is not None and not (is_int(value) or isinstance(value, float)):
                return error(400, message=f"1 validation error detected: {name} is not a timestamp.")
        if status is None and contains is None and after is None and before is None:
            return None

        def matches(view: JobView) -> bool:
            created = view.created_at
            return (
                (status is None or self.native_state(view) == status)
                and (after is None or created > after)
                and (before is None or created < before)
                and (contains is None or str(contains).lower() in view.job.native_id.lower())
            )

        return matches


SPEC = SageMakerSpec()
