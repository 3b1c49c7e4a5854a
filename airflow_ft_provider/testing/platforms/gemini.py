"""Gemini API tuned models (``/v1beta/tunedModels``), read/list/delete only.

The platform stopped tuning in May 2025 and never published a cancel method, so by
default ``:cancel`` answers Google's "Method not found." 404 whatever the model; set
``EmulatorConfig.gemini_cancel_supported`` to emulate a cancellable variant.
A bad API key is a 400 ``API_KEY_INVALID`` (not a 401), as on the real service.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import (
    Handler,
    PlatformSpec,
    int_param,
    json_response,
    page_after,
    random_id,
    rfc3339,
)
from airflow_ft_provider.testing.platforms._google import google_error
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

STATES = {
    Phase.QUEUED: "CREATING",
    Phase.PENDING: "CREATING",
    Phase.RUNNING: "CREATING",
    Phase.CANCELLING: "CREATING",
    Phase.SUCCEEDED: "ACTIVE",
    Phase.FAILED: "FAILED",
    Phase.CANCELLED: "FAILED",
}
TERMINAL = frozenset({"ACTIVE", "FAILED"})
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
_UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def native_state(view: JobView) -> str:
    return view.pinned or STATES[view.phase]


def new_id(display_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")[:40] or "tuned-model"
    return f"{slug}-{random_id(6)}"


def resource_name(_core: EmulatorCore, job: Job) -> str:
    return f"tunedModels/{job.native_id}"


def error(
    status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
) -> Response:
    return google_error(status, message, retry_after, code)


def render(view: JobView) -> dict[str, Any]:
    job = view.job
    task: dict[str, Any] = {
        "startTime": rfc3339(view.started_at or view.created_at),
        "snapshots": [],
        "hyperparameters": {"epochCount": 5, "batchSize": 4, "learningRate": 0.001},
    }
    if view.ended_at is not None:
        task["completeTime"] = rfc3339(view.ended_at)
    out: dict[str, Any] = {
        "name": f"tunedModels/{job.native_id}",
        "displayName": job.display_name,
        "description": "",
        "state": native_state(view),
        "createTime": rfc3339(view.created_at),
        "updateTime": rfc3339(view.updated_at),
        "baseModel": job.base_model,
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "tuningTask": task,
    }
    out.update(job.extra)
    return out


def routes(core: EmulatorCore) -> list[BaseRoute]:
    def authorize(request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            return error(403, _UNREGISTERED)
        if key != core.api_key(Platform("gemini")):
            return google_error(
                400,
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )
        return None

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return authorize(request) or await handler(request)

        return endpoint

    def lookup(request: Request) -> Job | Response:
        model_id = request.path_params["model_id"]
        job = core.store.get(Platform("gemini"), model_id)
        if job is None:
            return error(404, f"Tuned model tunedModels/{model_id} is not found.")
        return job

    async def get_model(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        return json_response(render(core.store.view(job)))

    async def delete_model(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        core.store.delete(Platform("gemini"), job.native_id)
        return json_response({})

    async def list_models(request: Request) -> Response:
        size = int_param(request, "pageSize", DEFAULT_PAGE_SIZE)
        if size is None or size < 0:
            return error(400, "Invalid page size.")
        page = page_after(
            core.store.jobs(Platform("gemini")),
            request.query_params.get("pageToken"),
            min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        )
        if page is None:
            return error(400, "Invalid page token.")
        items, token = page
        out: dict[str, Any] = {}
        if items:
            out["tunedModels"] = [render(v) for v in core.store.views_of(items)]
        if token:
            out["nextPageToken"] = token
        return json_response(out)

    async def cancel_model(request: Request) -> Response:
        if not core.config.gemini_cancel_supported:
            return error(404, "Method not found.")
        job = lookup(request)
        if isinstance(job, Response):
            return job
        result, view = core.store.cancel(job, native_state, TERMINAL)
        if result == "rejected":
            return error(
                400,
                f"Tuned model tunedModels/{job.native_id} is {native_state(view)} and cannot be cancelled.",
                code="FAILED_PRECONDITION",
            )
        return json_response({})

    out: list[BaseRoute] = []
    for version in ("v1beta", "v1"):
        base = f"/{version}/tunedModels"
        out += [
            Route(f"{base}/{{model_id}}:cancel", guarded(cancel_model), methods=["POST"]),
            Route(f"{base}/{{model_id}}", guarded(get_model), methods=["GET"]),
            Route(f"{base}/{{model_id}}", guarded(delete_model), methods=["DELETE"]),
            Route(base, guarded(list_models), methods=["GET"]),
        ]
    return out


SPEC = PlatformSpec(
    platform=Platform("gemini"),
    prefixes=("/v1beta/tunedModels", "/v1/tunedModels"),
    base_path="",
    default_base_model="models/gemini-1.5-flash-001-tuning",
    routes=routes,
    error=error,
    native_state=native_state,
    terminal=TERMINAL,
    new_id=new_id,
    client_id=resource_name,
)
