"""Vertex AI tuning jobs (REST v1 and v1beta1) and a Google OAuth token endpoint.

Faithful points clients trip on: names come back with the project *number*; auth is
an OAuth access token, minted by ``/token`` from a service-account key the emulator
issued (or a configured static token); cancel is asynchronous (``{}``, then
``JOB_STATE_CANCELLING``) and may still end ``JOB_STATE_SUCCEEDED``.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.auth import OAuthError
from airflow_ft_provider.testing.platforms._base import (
    Handler,
    PlatformSpec,
    bearer_token,
    int_param,
    json_response,
    page_after,
    read_json,
    rfc3339,
)
from airflow_ft_provider.testing.platforms._google import google_error
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

STATES = {
    Phase.QUEUED: "JOB_STATE_QUEUED",
    Phase.PENDING: "JOB_STATE_PENDING",
    Phase.RUNNING: "JOB_STATE_RUNNING",
    Phase.CANCELLING: "JOB_STATE_CANCELLING",
    Phase.SUCCEEDED: "JOB_STATE_SUCCEEDED",
    Phase.FAILED: "JOB_STATE_FAILED",
    Phase.CANCELLED: "JOB_STATE_CANCELLED",
}
TERMINAL = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_WWW_AUTH = {"www-authenticate": 'Bearer realm="https://accounts.google.com/"'}


def native_state(view: JobView) -> str:
    return view.pinned or STATES[view.phase]


def new_id(_display_name: str) -> str:
    return str(secrets.randbelow(9 * 10**18) + 10**18)


def resource_name(core: EmulatorCore, job: Job) -> str:
    number = core.project_number(job.project or "")
    return f"projects/{number}/locations/{job.location}/tuningJobs/{job.native_id}"


def error(
    status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
) -> Response:
    return google_error(status, message, retry_after, code, headers=_WWW_AUTH if status == 401 else None)


def render(core: EmulatorCore, view: JobView) -> dict[str, Any]:
    job = view.job
    name = resource_name(core, job)
    parent = name.rsplit("/tuningJobs/", 1)[0]
    out: dict[str, Any] = {
        "name": name,
        "tunedModelDisplayName": job.display_name,
        "baseModel": job.base_model,
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://emulator-bucket/train.jsonl",
            "hyperParameters": {"epochCount": "3", "adapterSize": "ADAPTER_SIZE_FOUR"},
        },
        "state": native_state(view),
        "createTime": rfc3339(view.created_at),
        "updateTime": rfc3339(view.updated_at),
    }
    if view.started_at is not None:
        out["startTime"] = rfc3339(view.started_at)
    if view.ended_at is not None:
        out["endTime"] = rfc3339(view.ended_at)
    if job.labels:
        out["labels"] = dict(job.labels)
    if view.phase is Phase.FAILED:
        out["error"] = {"code": 13, "message": job.error_message or "Internal error occurred during tuning."}
    elif view.phase is Phase.CANCELLED:
        out["error"] = {"code": 1, "message": "CANCELLED"}
    elif view.phase is Phase.SUCCEEDED:
        out["tunedModel"] = {
            "model": f"{parent}/models/{job.native_id}@1",
            "endpoint": f"{parent}/endpoints/{job.native_id}",
        }
    out.update(job.extra)
    return out


# -- list filters: a useful subset of AIP-160 -------------------------------------------
_TERM = re.compile(r'^\s*(-|NOT\s+)?([\w.]+)\s*(!=|=|:)\s*("(?:[^"\\]|\\.)*"|\S+)\s*$')


def _term_matches(term: str, state: str, job: Job) -> bool:
    m = _TERM.match(term.strip().strip("()"))
    if m is None:
        return True  # unknown syntax: ignored, as the brief allows
    negate, field, op, raw = m.groups()
    value = raw[1:-1] if raw.startswith('"') else raw
    if field == "state":
        actual: str | None = state
    elif field.startswith("labels."):
        actual = job.labels.get(field[len("labels.") :])
        if op == ":" and value == "*":
            return (actual is not None) != bool(negate)
    elif field in ("tuned_model_display_name", "display_name"):
        actual = job.display_name
    else:
        return True
    hit = actual == value if op in ("=", ":") else actual != value
    return hit != bool(negate)


def filter_matches(expr: str, state: str, job: Job) -> bool:
    """Conjuncts split on AND, each a disjunction split on OR (AIP-160 precedence)."""
    for conjunct in re.split(r"\s+AND\s+", expr.strip()):
        alternatives = re.split(r"\s+OR\s+", conjunct.strip().strip("()"))
        if not any(_term_matches(alt, state, job) for alt in alternatives):
            return False
    return True


def routes(core: EmulatorCore) -> list[BaseRoute]:
    def project_allowed(allowed: frozenset[str] | None, project: str) -> bool:
        if allowed is None:
            return True
        number = core.project_number(project)
        return any(p == project or core.project_number(p) == number for p in allowed)

    def authorize(request: Request, permission: str) -> Response | None:
        token = bearer_token(request)
        if token is None:
            return error(401, _MISSING_CREDENTIAL)
        if token == core.api_key(Platform("vertex_ai")):
            allowed = core.config.vertex_allowed_projects
        else:
            grant = core.google_auth.check_bearer(token)
            if grant is None:
                return error(401)
            allowed = grant.projects
            if core.config.vertex_allowed_projects is not None and allowed is not None:
                allowed = allowed | core.config.vertex_allowed_projects
        p = request.path_params
        if project_allowed(allowed, p["project"]):
            return None
        resource = f"projects/{p['project']}/locations/{p['location']}"
        return google_error(
            403,
            f"Permission '{permission}' denied on resource '//aiplatform.googleapis.com/{resource}' "
            "(or it may not exist).",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "aiplatform.googleapis.com",
                    "metadata": {"permission": permission, "resource": resource},
                }
            ],
        )

    def guarded(permission: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return authorize(request, permission) or await handler(request)

        return endpoint

    def in_parent(request: Request) -> tuple[str, str]:
        p = request.path_params
        return core.project_number(p["project"]), p["location"]

    def lookup(request: Request) -> Job | Response:
        number, location = in_parent(request)
        job = core.store.get(Platform("vertex_ai"), request.path_params["job_id"])
        if job is None or job.location != location or core.project_number(job.project or "") != number:
            p = request.path_params
            name = f"projects/{p['project']}/locations/{location}/tuningJobs/{p['job_id']}"
            return error(404, f"The TuningJob {name} does not exist.")
        return job

    async def get_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        return json_response(render(core, core.store.view(job)))

    async def list_jobs(request: Request) -> Response:
        size = int_param(request, "pageSize", DEFAULT_PAGE_SIZE)
        if size is None or size < 0:
            return error(400, "Invalid pageSize.")
        number, location = in_parent(request)
        jobs = core.store.jobs(
            Platform("vertex_ai"),
            lambda j: j.location == location and core.project_number(j.project or "") == number,
        )
        expr = request.query_params.get("filter", "").strip()
        if expr:
            views = core.store.views_of(jobs)
            jobs = [v.job for v in views if filter_matches(expr, native_state(v), v.job)]
        page = page_after(jobs, request.query_params.get("pageToken"), min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))
        if page is None:
            return error(400, "Invalid page token.")
        items, token = page
        out: dict[str, Any] = {}
        if items:
            out["tuningJobs"] = [render(core, v) for v in core.store.views_of(items)]
        if token:
            out["nextPageToken"] = token
        return json_response(out)

    async def cancel_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        result, view = core.store.cancel(job, native_state, TERMINAL)
        if result == "rejected":
            return error(
                400,
                f"The TuningJob {resource_name(core, job)} is in state {native_state(view)} and cannot be cancelled.",
                code="FAILED_PRECONDITION",
            )
        return json_response({})

    async def create_job(request: Request) -> Response:
        body = await read_json(request)
        if not body.get("baseModel") and not body.get("preTunedModel"):
            return error(400, "baseModel is required.")
        p = request.path_params
        job_id = core.seed(
            Platform("vertex_ai"),
            display_name=str(body.get("tunedModelDisplayName") or "tuned-model"),
            base_model=str(body.get("baseModel") or "pre-tuned"),
            script=core.config.created_job_script,
            labels={str(k): str(v) for k, v in (body.get("labels") or {}).items()},
            project=p["project"],
            location=p["location"],
            extra={k: v for k, v in body.items() if k in ("description", "supervisedTuningSpec")},
        )
        job = core.find(Platform("vertex_ai"), job_id)
        assert job is not None
        return json_response(render(core, core.store.view(job)))

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))
        try:
            grant = core.google_auth.grant_token(form)
        except OAuthError as exc:
            return json_response({"error": exc.error, "error_description": exc.description}, 400)
        return json_response(grant)

    out: list[BaseRoute] = [Route("/token", token, methods=["POST"])]
    for version in ("v1", "v1beta1"):
        parent = f"/{version}/projects/{{project}}/locations/{{location}}/tuningJobs"
        out += [
            Route(f"{parent}/{{job_id}}:cancel", guarded("aiplatform.tuningJobs.cancel", cancel_job), methods=["POST"]),
            Route(f"{parent}/{{job_id}}", guarded("aiplatform.tuningJobs.get", get_job), methods=["GET"]),
            Route(parent, guarded("aiplatform.tuningJobs.list", list_jobs), methods=["GET"]),
            Route(parent, guarded("aiplatform.tuningJobs.create", create_job), methods=["POST"]),
        ]
    return out


SPEC = PlatformSpec(
    platform=Platform("vertex_ai"),
    prefixes=("/v1/projects/", "/v1beta1/projects/", "/token"),
    base_path="",
    default_base_model="gemini-2.5-flash",
    routes=routes,
    error=error,
    native_state=native_state,
    terminal=TERMINAL,
    new_id=new_id,
    client_id=resource_name,
)
