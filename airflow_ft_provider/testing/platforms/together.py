"""Together AI fine-tunes under ``/v1``.

Faithful points: list is unpaginated (``{"data": [...]}`` of truncated jobs), cancel
answers the truncated job (usually ``cancel_requested``), 429s carry ``retry-after`` and
``retry-after-ms``, errors are ``{"error": {message, type, param, code}}``.
"""

from __future__ import annotations

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
    iso8601,
    json_response,
    openai_style_error,
    read_json,
    retry_headers,
)
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

STATES = {
    Phase.QUEUED: "queued",
    Phase.PENDING: "pending",
    Phase.RUNNING: "running",
    Phase.CANCELLING: "cancel_requested",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "error",
    Phase.CANCELLED: "cancelled",
}
TERMINAL = frozenset({"completed", "error", "cancelled", "user_error"})
_EVENTS = {
    Phase.QUEUED: ("job_pending", "info", "Fine tune request created"),
    Phase.RUNNING: ("job_start", "info", "Job started"),
    Phase.CANCELLING: ("cancel_requested", "info", "Cancel requested"),
    Phase.SUCCEEDED: ("job_complete", "info", "Job finished"),
    Phase.FAILED: ("job_error", "error", "Job failed"),
    Phase.CANCELLED: ("job_stopped", "info", "Job stopped"),
}
_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("invalid_request_error", "Invalid API key provided."),
    403: ("invalid_request_error", "Forbidden."),
    404: ("invalid_request_error", "Not found."),
    429: ("rate_limit_exceeded", "You have exceeded the rate limit, please retry later."),
    500: ("server_error", "Internal server error."),
    503: ("service_unavailable", "The server is overloaded or not ready yet."),
}
USER_ID = "emulator-user-0001"


def native_state(view: JobView) -> str:
    return view.pinned or STATES[view.phase]


def new_id(_display_name: str) -> str:
    return f"ft-{uuid.uuid4()}"


def job_id(_core: EmulatorCore, job: Job) -> str:
    return job.native_id


def error(
    status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
) -> Response:
    type_, default = _ERRORS.get(status, ("server_error", "Error."))
    return json_response(openai_style_error(message or default, type_, code), status, retry_headers(retry_after))


def events(view: JobView) -> list[dict[str, Any]]:
    out = []
    for phase, t in view.history:
        if phase in _EVENTS:
            kind, level, message = _EVENTS[phase]
            out.append(
                {
                    "object": "fine-tune-event",
                    "created_at": iso8601(t),
                    "message": message,
                    "type": kind,
                    "level": level,
                    "checkpoint_path": "",
                    "model_path": "",
                    "param_count": 0,
                    "token_count": 0,
                    "total_steps": 0,
                    "step": 0,
                    "wandb_url": "",
                }
            )
    return out


def render(view: JobView, *, full: bool = True) -> dict[str, Any]:
    job = view.job
    out: dict[str, Any] = {
        "id": job.native_id,
        "status": native_state(view),
        "created_at": iso8601(view.created_at),
        "updated_at": iso8601(view.updated_at),
        "model": job.base_model,
        "model_output_name": f"{USER_ID}/{job.base_model.rsplit('/', 1)[-1]}-{job.display_name}-{job.native_id[3:11]}",
        "suffix": job.display_name,
        "user_id": USER_ID,
        "n_epochs": 1,
        "n_checkpoints": 1,
        "n_evals": 0,
        "batch_size": 16,
        "learning_rate": 1e-05,
        "training_file": "file-emulator-train",
        "total_price": 0,
        "token_count": 0,
        "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
    }
    if view.started_at is not None:
        out["started_at"] = iso8601(view.started_at)
    if full:
        out["events"] = events(view)
        out["queue_depth"] = 0
        if view.phase is Phase.RUNNING:
            out["progress"] = {"estimate_available": False, "seconds_remaining": 0}
    out.update(job.extra)
    return out


def routes(core: EmulatorCore) -> list[BaseRoute]:
    def authorize(request: Request) -> Response | None:
        if bearer_token(request) != core.api_key(Platform("together")):
            return error(
                401,
                "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.",
                code="invalid_api_key",
            )
        return None

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return authorize(request) or await handler(request)

        return endpoint

    def lookup(request: Request) -> Job | Response:
        fid = request.path_params["job_id"]
        job = core.store.get(Platform("together"), fid)
        if job is None:
            return error(404, f"Fine-tune job {fid} not found.")
        return job

    async def get_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        return json_response(render(core.store.view(job)))

    async def list_jobs(_request: Request) -> Response:
        views = core.store.views(Platform("together"))
        return json_response({"data": [render(v, full=False) for v in views]})

    async def cancel_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        result, view = core.store.cancel(job, native_state, TERMINAL)
        if result == "rejected":
            return error(400, f"Fine-tune job {job.native_id} is already {native_state(view)} and cannot be cancelled.")
        return json_response(render(view, full=False))

    async def list_events(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        return json_response({"data": events(core.store.view(job))})

    async def create_job(request: Request) -> Response:
        body = await read_json(request)
        if not body.get("model") or not body.get("training_file"):
            return error(400, "model and training_file are required.")
        new = core.seed(
            Platform("together"),
            display_name=str(body.get("suffix") or "ft"),
            base_model=str(body["model"]),
            script=core.config.created_job_script,
        )
        job = core.find(Platform("together"), new)
        assert job is not None
        return json_response(render(core.store.view(job)))

    base = "/v1/fine-tunes"
    return [
        Route(base, guarded(list_jobs), methods=["GET"]),
        Route(base, guarded(create_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}", guarded(get_job), methods=["GET"]),
        Route(f"{base}/{{job_id}}/cancel", guarded(cancel_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}/events", guarded(list_events), methods=["GET"]),
    ]


SPEC = PlatformSpec(
    platform=Platform("together"),
    prefixes=("/v1/fine-tunes",),
    base_path="/v1",
    default_base_model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    routes=routes,
    error=error,
    native_state=native_state,
    terminal=TERMINAL,
    new_id=new_id,
    client_id=job_id,
)
