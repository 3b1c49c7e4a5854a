"""OpenAI fine-tuning jobs under ``/v1/fine_tuning/jobs``.

Faithful points: no intermediate cancelling state (a cancel reads ``cancelled`` at
once, unless the script's race outcome says the job finishes anyway, in which case it
keeps reading ``running`` until it ends), cursor pagination on ``after`` with
``has_more``, ``x-request-id`` on every answer, and two kinds of 429:
``rate_limit_exceeded`` (retry) and ``insufficient_quota`` (do not).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import (
    Handler,
    PlatformSpec,
    bearer_token,
    int_param,
    json_response,
    openai_style_error,
    random_id,
    read_json,
    retry_headers,
)
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

STATES = {
    Phase.QUEUED: "queued",
    Phase.PENDING: "validating_files",
    Phase.RUNNING: "running",
    Phase.SUCCEEDED: "succeeded",
    Phase.FAILED: "failed",
    Phase.CANCELLED: "cancelled",
}
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_MESSAGES = {
    Phase.QUEUED: "Created fine-tuning job",
    Phase.PENDING: "Validating training file",
    Phase.RUNNING: "Fine-tuning job started",
    Phase.SUCCEEDED: "The job has successfully completed",
    Phase.FAILED: "The job failed",
    Phase.CANCELLED: "Fine-tuning job cancelled",
}
_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", None, "Not found."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_ALNUM = string.ascii_letters + string.digits
T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def native_state(view: JobView) -> str:
    if view.pinned:
        return view.pinned
    if view.phase is Phase.CANCELLING:
        return "cancelled" if view.job.script.cancel_outcome == "cancelled" else "running"
    return STATES[view.phase]


def _finished_at(view: JobView) -> float | None:
    if view.phase in (Phase.CANCELLING, Phase.CANCELLED) and view.job.script.cancel_outcome == "cancelled":
        return view.cancel_requested_at
    return view.ended_at


def new_id(_display_name: str) -> str:
    return "ftjob-" + random_id(24, _ALNUM)


def job_id(_core: EmulatorCore, job: Job) -> str:
    return job.native_id


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-request-id": "req_" + secrets.token_hex(16), **(extra or {})}


def respond(data: Any, status: int = 200) -> Response:
    return json_response(data, status, _headers())


def error(
    status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
) -> Response:
    type_, default_code, default_message = _ERRORS.get(status, ("server_error", None, "Error."))
    if code == "insufficient_quota":
        type_, default_message = "insufficient_quota", _QUOTA
    body = openai_style_error(message or default_message, type_, code or default_code)
    return json_response(body, status, _headers(retry_headers(retry_after)))


def render(view: JobView) -> dict[str, Any]:
    job = view.job
    state = native_state(view)
    finished = _finished_at(view)
    hyper = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
    out: dict[str, Any] = {
        "object": "fine_tuning.job",
        "id": job.native_id,
        "model": job.base_model,
        "created_at": int(view.created_at),
        "finished_at": int(finished) if finished is not None else None,
        "fine_tuned_model": f"ft:{job.base_model}:emulator::{job.native_id[-8:]}" if state == "succeeded" else None,
        "organization_id": "org-emulator",
        "result_files": ["file-emulator-result"] if state == "succeeded" else [],
        "status": state,
        "validation_file": None,
        "training_file": "file-emulator-train",
        "hyperparameters": hyper,
        "trained_tokens": 123456 if state == "succeeded" else None,
        "error": None,
        "user_provided_suffix": job.display_name,
        "seed": 42,
        "estimated_finish": None,
        "integrations": [],
        "metadata": dict(job.labels) or None,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
    }
    if view.phase is Phase.FAILED:
        out["error"] = {"code": "server_error", "message": job.error_message or "The job failed.", "param": None}
    out.update(job.extra)
    return out


def events(view: JobView) -> list[dict[str, Any]]:
    """Newest first, with ids stable across calls so ``after`` paging works.

    A cancel that will take is reported when requested (OpenAI has no cancelling state).
    """
    cancels = view.job.script.cancel_outcome == "cancelled"
    out = []
    for i, (phase, t) in enumerate(view.history):
        if phase is Phase.CANCELLING and not cancels:
            continue
        if phase is Phase.CANCELLED and cancels:
            continue
        message = _MESSAGES[Phase.CANCELLED if phase is Phase.CANCELLING else phase]
        out.append(
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-{view.job.native_id[6:]}{i:02d}",
                "created_at": int(t),
                "level": "error" if phase is Phase.FAILED else "info",
                "message": message,
                "data": {},
                "type": "message",
            }
        )
    return out[::-1]


def routes(core: EmulatorCore) -> list[BaseRoute]:
    def authorize(request: Request) -> Response | None:
        key = bearer_token(request)
        if key is None:
            return error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="missing_api_key",
            )
        if key != core.api_key(Platform("openai")):
            return error(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            )
        return None

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return authorize(request) or await handler(request)

        return endpoint

    def lookup(request: Request) -> Job | Response:
        fid = request.path_params["job_id"]
        job = core.store.get(Platform("openai"), fid)
        if job is None:
            return error(404, f"Could not find fine tune job: {fid}", code="fine_tuning_job_not_found")
        return job

    def paginate(request: Request, items: list[T], ident: Callable[[T], str]) -> tuple[list[T], bool] | Response:
        """One ``after``/``limit`` page of newest-first ``items``, and whether more follow."""
        limit = int_param(request, "limit", DEFAULT_LIMIT)
        if limit is None or limit < 1:
            return error(400, "Invalid 'limit': must be a positive integer.")
        after = request.query_params.get("after")
        if after:
            ids = [ident(item) for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        page = items[: min(limit, MAX_LIMIT)]
        return page, len(items) > len(page)

    async def get_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        return respond(render(core.store.view(job)))

    async def list_jobs(request: Request) -> Response:
        page = paginate(request, core.store.jobs(Platform("openai")), lambda j: j.native_id)
        if isinstance(page, Response):
            return page
        jobs, more = page
        return respond({"object": "list", "data": [render(v) for v in core.store.views_of(jobs)], "has_more": more})

    async def cancel_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        result, view = core.store.cancel(job, native_state, TERMINAL)
        if result == "rejected":
            return error(400, f"Cannot cancel a job that has already {native_state(view)}.")
        return respond(render(view))

    async def pause_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        view = core.store.view(job)
        if native_state(view) != "running":
            return error(400, f"Cannot pause a job that is {native_state(view)}.")
        return respond(render(core.store.pin(job, "paused")))

    async def resume_job(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        view = core.store.view(job)
        if native_state(view) != "paused":
            return error(400, f"Cannot resume a job that is {native_state(view)}.")
        return respond(render(core.store.pin(job, None)))

    async def list_events(request: Request) -> Response:
        job = lookup(request)
        if isinstance(job, Response):
            return job
        page = paginate(request, events(core.store.view(job)), lambda e: str(e["id"]))
        if isinstance(page, Response):
            return page
        items, more = page
        return respond({"object": "list", "data": items, "has_more": more})

    async def create_job(request: Request) -> Response:
        body = await read_json(request)
        if not body.get("model") or not body.get("training_file"):
            return error(400, "Missing required parameter: 'model' and 'training_file'.")
        new = core.seed(
            Platform("openai"),
            display_name=str(body.get("suffix") or ""),
            base_model=str(body["model"]),
            script=core.config.created_job_script,
            labels={str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
        )
        job = core.find(Platform("openai"), new)
        assert job is not None
        return respond(render(core.store.view(job)))

    base = "/v1/fine_tuning/jobs"
    return [
        Route(base, guarded(list_jobs), methods=["GET"]),
        Route(base, guarded(create_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}", guarded(get_job), methods=["GET"]),
        Route(f"{base}/{{job_id}}/cancel", guarded(cancel_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}/pause", guarded(pause_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}/resume", guarded(resume_job), methods=["POST"]),
        Route(f"{base}/{{job_id}}/events", guarded(list_events), methods=["GET"]),
    ]


SPEC = PlatformSpec(
    platform=Platform("openai"),
    prefixes=("/v1/fine_tuning/",),
    base_path="/v1",
    default_base_model="gpt-4o-mini-2024-07-18",
    routes=routes,
    error=error,
    native_state=native_state,
    terminal=TERMINAL,
    new_id=new_id,
    client_id=job_id,
)
