"""Amazon Bedrock model customization jobs under ``/model-customization-jobs`` (rest-json).

Faithful points: every request is SigV4-signed (service ``bedrock``, checked as :mod:`._aws` does
for every AWS platform) with the emulator's access key (:data:`ACCESS_KEY_ID`, secret: the
platform's emulator key); a Bedrock API key (``Authorization: Bearer``) works too. Jobs are named
by ARN or name, the ARN percent-encoded as one path segment; stop answers 200 with an empty body
and ``ConflictException`` (400) for a job no longer in progress; errors carry their type in
``x-amzn-ErrorType`` and ``{"message"}``; listings page on ``maxResults``/``nextToken`` and filter
on ``statusEquals``, ``creationTimeAfter``/``Before`` and ``nameContains``. Regions and ``/sts``:
:mod:`._aws`.
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.bedrock import BedrockDialect
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._aws import ACCOUNT, STS_PATH, AwsSpec
from airflow_ft_provider.testing.platforms._base import PlatformSpec, bearer_token, iso8601, json_response, random_id
from airflow_ft_provider.testing.platforms._paging import list_answer
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

#: The emulator's access key id; its secret access key is the platform's emulator key.
ACCESS_KEY_ID = "AKIAEMULATORBEDROCK0"
COLLECTION = "/model-customization-jobs"
#: ``SortOrder`` of botocore's bedrock service model (2023-04-20).
SORT_ORDERS = ("Ascending", "Descending")
__all__ = ["ACCESS_KEY_ID", "SPEC", "STS_PATH"]
_ERRORS = {
    400: ("ValidationException", "Input validation failed."),
    401: ("UnrecognizedClientException", "The security token included in the request is invalid."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "The specified resource was not found."),
    409: ("ConflictException", "The request conflicts with the resource's current state."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "An internal server error occurred. Retry your request."),
    503: ("ServiceUnavailableException", "The service isn't currently available. Retry your request."),
}
_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:([a-z0-9-]+):([0-9]{12}):model-customization-job/(.+)/([a-z0-9]{12})")
_MODEL_ID = re.compile(r"[a-z0-9-]{1,63}[.][a-z0-9.-]{1,126}(?::[a-z0-9-]{1,63}){0,2}")


def error(status: int, kind: str | None = None, message: str | None = None) -> Response:
    """An AWS rest-json error: the type in ``x-amzn-ErrorType`` (with Coral's namespace), ``{"message"}``."""
    default_kind, default_message = _ERRORS.get(
        status, ("InternalServerException" if status >= 500 else "ValidationException", "Error.")
    )
    kind = kind or default_kind
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
    }
    return json_response({"message": message or default_message}, status, headers)


def arn(job: Job) -> str:
    model = job.base_model if _MODEL_ID.fullmatch(job.base_model) else BedrockSpec.default_base_model
    return f"arn:aws:bedrock:{job.scope['region']}:{ACCOUNT}:model-customization-job/{model}/{job.native_id}"


def render(view: JobView, state: str) -> dict[str, Any]:
    job = view.job
    region = job.scope["region"]
    out: dict[str, Any] = {
        "jobArn": arn(job),
        "jobName": job.display_name,
        "outputModelName": f"{job.display_name}-model",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/BedrockCustomization",
        "status": state,
        "creationTime": iso8601(view.created_at),
        "lastModifiedTime": iso8601(view.updated_at),
        "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{job.base_model.split(':')[0]}",
        "hyperParameters": {"epochCount": "2", "batchSize": "1", "learningRate": "0.00001"},
        "trainingDataConfig": {"s3Uri": "s3://emulator-bucket/train.jsonl"},
        "validationDataConfig": {"validators": []},
        "outputDataConfig": {"s3Uri": "s3://emulator-bucket/output/"},
        "customizationType": "FINE_TUNING",
    }
    if view.ended_at is not None:
        out["endTime"] = iso8601(view.ended_at)
    if state == "Completed":
        out["outputModelArn"] = f"arn:aws:bedrock:{region}:{ACCOUNT}:custom-model/{job.base_model}/{job.native_id}"
    if view.phase is Phase.FAILED:
        out["failureMessage"] = job.error_message or "The job failed: training data validation error."
    out.update(job.extra)
    return out


def summary(full: dict[str, Any]) -> dict[str, Any]:
    """A listing's ``ModelCustomizationJobSummary`` of a job's full record."""
    keys = ("jobArn", "baseModelArn", "jobName", "status", "lastModifiedTime", "creationTime", "endTime")
    out = {k: full[k] for k in keys if k in full}
    if "outputModelArn" in full:
        out["customModelArn"] = full["outputModelArn"]
        out["customModelName"] = full["outputModelName"]
    out["customizationType"] = full["customizationType"]
    return out


async def _listing(api: JobApi, request: Request) -> Response:
    """One page of ListModelCustomizationJobs, after its sort order and filters are checked."""
    q = request.query_params
    # botocore's service model: sortBy is CreationTime only, sortOrder Ascending or Descending.
    order = q.get("sortOrder", "Descending")
    if order not in SORT_ORDERS or q.get("sortBy", "CreationTime") != "CreationTime":
        return error(
            400,
            message="1 validation error detected: sortBy must be CreationTime and sortOrder Ascending or Descending.",
        )
    where = _list_filter(api.spec, request)
    if isinstance(where, Response):
        return where
    return await list_answer(api, request, where, oldest_first=order == "Ascending")


def _list_filter(spec: PlatformSpec, request: Request) -> Callable[[JobView], bool] | Response | None:
    q = request.query_params
    status, contains = q.get("statusEquals"), q.get("nameContains")
    if status is not None and status not in spec.states:
        return error(400, message=f"1 validation error detected: statusEquals {status[:40]!r} is not valid.")
    bounds: list[float | None] = []
    for name in ("creationTimeAfter", "creationTimeBefore"):
        raw = q.get(name, "")
        try:
            bounds.append(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() if raw else None)
        except ValueError:
            return error(400, message=f"1 validation error detected: {name} {raw[:40]!r} is not a timestamp.")
    after, before = bounds
    if status is None and contains is None and after is None and before is None:
        return None

    def matches(view: JobView) -> bool:
        created = view.created_at
        return (
            (status is None or spec.native_state(view) == status)
            and (after is None or created > after)
            and (before is None or created < before)
            and (contains is None or contains.lower() in view.job.display_name.lower())
        )

    return matches


class BedrockSpec(AwsSpec):
    platform = Platform("bedrock")
    conn_type = "ft_bedrock"
    access_key_id = ACCESS_KEY_ID
    signing_name = "bedrock"
    auth_note = f"SigV4 (service bedrock) with access key {ACCESS_KEY_ID} and the key as its secret, or Bearer <key>"
    default_base_model = "amazon.titan-text-express-v1:0:8k"
    collections = (COLLECTION,)
    # Served by :meth:`extra_routes`: an ARN holds "/" once decoded, and auth needs the body.
    operations = frozenset[str]()
    repeat_cancel_refused = True
    paging = BedrockDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        return random_id(12)

    def native_id(self, client_id: str) -> str:
        """An ARN's last segment; a name is a name (see :meth:`find`)."""
        match = _ARN.fullmatch(client_id)
        return match.group(4) if match else client_id

    def client_id(self, core: EmulatorCore, job: Job) -> str:
        return arn(job)

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        # No retry hint: Bedrock documents none (botocore backs off on its own).
        return error(status, code, message)

    def aws_error(self, status: int, kind: str | None = None, message: str | None = None) -> Response:
        return error(status, kind, message)

    def respond(self, data: Any, status: int = 200) -> Response:
        return json_response(data, status, {"x-amzn-RequestId": str(uuid.uuid4())})

    def secret_fields(self, key: str) -> dict[str, Any]:
        """A Bedrock API key: a Password without a Login, sent as it is."""
        return {"login": None, "password": key}

    def credential(self, request: Request) -> str | None:
        return super().credential(request) or bearer_token(request)

    async def verified(self, core: EmulatorCore, request: Request) -> Response | None:
        """None if the request is signed (or carries the Bedrock API key), else the refusal."""
        token = bearer_token(request)
        if token is not None:
            ok = hmac.compare_digest(token.encode(), core.api_key(self.platform).encode())
            return None if ok else error(403, "UnrecognizedClientException", "Invalid API key.")
        return await super().verified(core, request)

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return render(view, self.native_state(view))

    def render_listed(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return summary(self.render(core, view))

    def not_found(self, request: Request) -> Response:
        return error(404, message=f"Model customization job {request.path_params.get('job_id', '')[:200]} not found.")

    def cancel_refused(self, view: JobView) -> Response:
        return error(
            400, "ConflictException", f"Job is in {self.native_state(view)} state; only InProgress jobs can be stopped."
        )

    def find(self, api: JobApi, request: Request, job_id: str) -> Job | None:
        """The job an ARN or a name names, among those the request can see."""
        match = _ARN.fullmatch(job_id)
        if match is not None:
            job = api.core.store.get(self.platform, match.group(4))
            ok = job is not None and job.partition in api.partitions(request) and arn(job) == job_id
            return job if ok else None
        views, _ = api.page(request, limit=1, where=lambda v: v.job.display_name == job_id)
        return views[0].job if views else None

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        """Get and stop, on ``{job_id:path}``: a job ARN decodes to several path segments."""
        core = api.core

        async def get(request: Request) -> Response:
            refused = await self.verified(core, request)
            if refused is not None:
                return refused
            job = self.find(api, request, request.path_params["job_id"])
            return self.not_found(request) if job is None else self.respond(self.render(core, api.view(job)))

        async def stop(request: Request) -> Response:
            refused = await self.verified(core, request)
            if refused is not None:
                return refused
            job = self.find(api, request, request.path_params["job_id"])
            if job is None:
                return self.not_found(request)
            result, view = core.store.cancel(job, self.native_state, self.terminal)
            if result != "accepted":
                return self.cancel_refused(view)
            return Response(b"", 200, {"x-amzn-RequestId": str(uuid.uuid4()), "content-type": "application/json"})

        async def listing(request: Request) -> Response:
            refused = await self.verified(core, request)
            return refused or await _listing(api, request)

        return [
            self.sts_route(api),
            Route(COLLECTION, listing, methods=["GET"]),
            Route(COLLECTION + "/{job_id:path}/stop", stop, methods=["POST"]),
            Route(COLLECTION + "/{job_id:path}", get, methods=["GET"]),
        ]


SPEC = BedrockSpec()
