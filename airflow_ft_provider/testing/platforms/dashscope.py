"""Alibaba Cloud Model Studio (DashScope) fine-tunes under ``/api/v1``.

Faithful points: an envelope with ``request_id`` on every body, errors as
``{"code","message","request_id"}``, times in China Standard Time with no zone,
``CANCELED`` with one L, ``CANCELING`` (undocumented) while a cancel is in progress,
and a second cancel refused like a cancel of an ended job.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import (
    Handler,
    PlatformSpec,
    bearer_token,
    china_time,
    int_param,
    json_response,
    read_json,
)
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

STATES = {
    Phase.QUEUED: "PENDING",
    Phase.PENDING: "PENDING",
    Phase.RUNNING: "RUNNING",
    Phase.CANCELLING: "CANCELING",
    Phase.SUCCEEDED: "SUCCEEDED",
    Phase.FAILED: "FAILED",
    Phase.CANCELLED: "CANCELED",
}
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})
_CODES = {
    400: ("InvalidParameter", "Invalid parameter."),
    401: ("InvalidApiKey", "Invalid API-key provided."),
    403: ("AccessDenied", "Access denied."),
    404: ("NotFound", "Not Found!"),
    409: ("Conflict", "Conflict."),
    429: ("Throttling", "Requests rate limit exceeded, please try again later."),
    500: ("InternalError", "An internal error has occured, please try again later or contact service support."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable, please try again later."),
}
USER = "1234567890123456"


def _request_id() -> str:
    return str(uuid.uuid4())


def native_state(view: JobView) -> str:
    return view.pinned or STATES[view.phase]


def new_id(_display_name: str) -> str:
    """Like ``ft-202410291653-1c7f``: creation minute (CST) and four hex digits."""
    stamp = "".join(ch for ch in china_time(time.time()) if ch.isdigit())[:12]
    return f"ft-{stamp}-{secrets.token_hex(2)}"


def job_id(_core: EmulatorCore, job: Job) -> str:
    return job.native_id


def error(
    status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
) -> Response:
    """DashScope documents no retry hint on 429, so ``retry_after`` is ignored."""
    default_code, default_message = _CODES.get(status, ("InternalError", "Error."))
    body = {"request_id": _request_id(), "code": code or default_code, "message": message or default_message}
    return json_response(body, status)


def render(view: JobView) -> dict[str, Any]:
    job = view.job
    state = native_state(view)
    out: dict[str, Any] = {
        "job_id": job.native_id,
        "job_name": job.display_name,
        "status": state,
        "model": job.base_model,
        "base_model": job.base_model,
        "training_file_ids": ["file-ft-emulator-train"],
        "validation_file_ids": [],
        "hyper_parameters": {"n_epochs": 3, "batch_size": 16, "learning_rate": "1.6e-5"},
        "training_type": "sft",
        "create_time": china_time(view.created_at),
        "user_identity": USER,
        "creator": USER,
        "modifier": USER,
        "group": "llm",
    }
    if job.workspace:
        out["workspace_id"] = job.workspace
    if view.ended_at is not None:
        out["end_time"] = china_time(view.ended_at)
    if view.phase is Phase.SUCCEEDED:
        out["finetuned_output"] = f"{job.base_model}-{job.native_id}"
        out["usage"] = 123456
    elif view.phase is Phase.FAILED:
        out["code"] = "TrainingFailed"
        out["message"] = job.error_message or "Training failed."
    elif view.phase is Phase.CANCELLED:
        out["code"] = "1"  # seen on real cancelled jobs: not a request error
    out.update(job.extra)
    return out


def _ok(output: Any) -> Response:
    return json_response({"request_id": _request_id(), "output": output})


def routes(core: EmulatorCore) -> list[BaseRoute]:
    def authorize(request: Request) -> Response | None:
        key = bearer_token(request)
        if key is None:
            return error(401, "No API-key provided.")
        if key != core.api_key(Platform("dashscope")):
            return error(401)
        return None

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return authorize(request) or await handler(request)

        return endpoint

    def visible(request: Request, job: Job) -> bool:
        """A job seeded into a workspace is only seen with that workspace's header."""
        return job.workspace is None or job.workspace == request.headers.get("x-dashscope-workspace")

    def lookup(request: Request) -> Job | Response:
        job = core.store.get(Platform("dashscope"), request.path_params["job_id"])
        if job is None or not visible(request, job):
            return error(404)
        return job

    async def get_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        return _ok(render(core.store.view(job)))

    async def list_jobs(request: Request) -> Response:
        page_no = int_param(request, "page_no", 1)
        page_size = int_param(request, "page_size", 10)
        if page_no is None or page_no < 1:
            return error(400, "page_no must be a positive integer.")
        if page_size is None or not 1 <= page_size <= 100:
            return error(400, "page_size must be between 1 and 100.")
        jobs = core.store.jobs(Platform("dashscope"), lambda j: visible(request, j))
        start = (page_no - 1) * page_size
        page = [render(v) for v in core.store.views_of(jobs[start : start + page_size])]
        return _ok({"page_no": page_no, "page_size": page_size, "total": len(jobs), "jobs": page})

    async def cancel_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        result, view = core.store.cancel(job, native_state, TERMINAL)
        if result != "accepted":
            return error(
                400,
                f"Job {job.native_id} is in status {native_state(view)} and cannot be canceled.",
                code="UnsupportedOperation",
            )
        return _ok({"status": "success"})

    async def delete_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        core.store.delete(Platform("dashscope"), job.native_id)
        return _ok({"status": "success"})

    async def logs(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        offset = int_param(request, "offset", 0)
        line = int_param(request, "line", 100)
        if offset is None or line is None or offset < 0 or line < 1:
            return error(400, "offset and line must be non-negative integers.")
        view = core.store.view(job)
        lines = [f"{china_time(t)} job {job.native_id} {STATES[p]}" for p, t in view.history]
        return _ok({"total": len(lines), "logs": lines[offset : offset + line]})

    async def create_job(request: Request) -> Response:
        body = await read_json(request)
        if not body.get("model"):
            return error(400, "Missing required parameter: model.")
        new = core.seed(
            Platform("dashscope"),
            display_name=str(body.get("job_name") or body["model"]),
            base_model=str(body["model"]),
            script=core.config.created_job_script,
            workspace=request.headers.get("x-dashscope-workspace"),
        )
        job = core.find(Platform("dashscope"), new)
        assert job is not None
        return _ok(render(core.store.view(job)))

    base = "/api/v1/fine-tunes"
    return [
        Route(base, guarded(list_jobs), methods=["GET"]),
        Route(base, guarded(create_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}", guarded(get_job), methods=["GET"]),
        Route(f"{base}/{{job_id}}", guarded(delete_job), methods=["DELETE"]),
        Route(f"{base}/{{job_id}}/cancel", guarded(cancel_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}/logs", guarded(logs), methods=["GET"]),
    ]


SPEC = PlatformSpec(
    platform=Platform("dashscope"),
    prefixes=("/api/v1/",),
    base_path="/api/v1",
    default_base_model="qwen3-14b",
    routes=routes,
    error=error,
    native_state=native_state,
    terminal=TERMINAL,
    new_id=new_id,
    client_id=job_id,
)
