"""OpenAI fine-tuning jobs under ``/v1/fine_tuning/jobs``.

Faithful points: the dialect's state table (:mod:`airflow_ft_provider.platforms.states`) with
no intermediate cancelling state (a cancel reads ``cancelled`` at once, unless the script's
race outcome says the job finishes anyway, in which case it keeps reading ``running`` until it
ends), cursor pagination on ``after`` with ``has_more``, ``x-request-id`` on every answer, and two kinds of 429:
``rate_limit_exceeded`` (retry) and ``insufficient_quota`` (do not).
"""

from __future__ import annotations

import secrets
import string
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from airflow_ft_provider.platforms.openai import OpenAIDialect
from airflow_ft_provider.platforms.paging_base import BadPageRequest, ServedPage
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import (
    PlatformSpec,
    json_response,
    openai_style_error,
    random_id,
    retry_headers,
)
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

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


def render(view: JobView, state: str) -> dict[str, Any]:
    job = view.job
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


def _finished_at(view: JobView) -> float | None:
    if view.phase in (Phase.CANCELLING, Phase.CANCELLED) and view.job.script.cancel_outcome == "cancelled":
        return view.cancel_requested_at
    return view.ended_at


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-request-id": "req_" + secrets.token_hex(16), **(extra or {})}


class OpenAISpec(PlatformSpec):
    platform = Platform("openai")
    conn_type = "ft_openai"
    # Typed as the base declares them, so OpenAI-shaped hosts (Azure OpenAI) may serve several.
    base_path = "/v1"
    default_base_model = "gpt-4o-mini-2024-07-18"
    collections: ClassVar[tuple[str, ...]] = ("/v1/fine_tuning/jobs",)
    paging = OpenAIDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        return "ftjob-" + random_id(24, _ALNUM)

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        type_, default_code, default_message = _ERRORS.get(status, ("server_error", None, "Error."))
        if code == "insufficient_quota":
            type_, default_message = "insufficient_quota", _QUOTA
        body = openai_style_error(message or default_message, type_, code or default_code)
        return json_response(body, status, _headers(retry_headers(retry_after)))

    def respond(self, data: Any, status: int = 200) -> Response:
        return json_response(data, status, _headers())

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        key = self.credential(request)
        if key is None:
            return self.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="missing_api_key",
            )
        if key != core.api_key(self.platform):
            return self.error(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            )
        return None

    def quota_project(self, core: EmulatorCore, request: Request) -> str | None:
        return request.headers.get("openai-project")

    def not_found(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        return self.error(404, f"Could not find fine tune job: {job_id}", code="fine_tuning_job_not_found")

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return render(view, self.native_state(view))

    def cancel_answer(self, core: EmulatorCore, view: JobView) -> Any:
        return self.render(core, view)

    def cancel_refused(self, view: JobView) -> Response:
        return self.error(400, f"Cannot cancel a job that has already {self.native_state(view)}.")

    def create_fields(self, request: Request, body: dict[str, Any]) -> dict[str, Any] | Response:
        if not body.get("model") or not body.get("training_file"):
            return self.error(400, "Missing required parameter: 'model' and 'training_file'.")
        return {
            "display_name": str(body.get("suffix") or ""),
            "base_model": str(body["model"]),
            "labels": {str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
        }

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        """Pause and resume (a pinned ``paused`` state), and the job's events, paged like jobs."""
        core = api.core

        async def pause(_request: Request, job: Job) -> Response:
            state = self.native_state(api.view(job))
            if state != "running":
                return self.error(400, f"Cannot pause a job that is {state}.")
            return self.respond(self.render(core, core.store.pin(job, "paused")))

        async def resume(_request: Request, job: Job) -> Response:
            state = self.native_state(api.view(job))
            if state != "paused":
                return self.error(400, f"Cannot resume a job that is {state}.")
            return self.respond(self.render(core, core.store.pin(job, None)))

        async def list_events(request: Request, job: Job) -> Response:
            try:  # paged as jobs are: ``after`` the last event id seen, ``limit``
                ask = self.paging.read_ask(request.query_params)
            except BadPageRequest as exc:
                return self.error(400, str(exc))
            items = events(api.view(job))
            if ask.cursor:
                ids = [str(e["id"]) for e in items]
                items = items[ids.index(ask.cursor) + 1 :] if ask.cursor in ids else []
            limit = ask.limit or len(items)
            following = str(items[limit - 1]["id"]) if len(items) > limit else None
            page = ServedPage(items[:limit], ask, following, len(items), str(request.url))
            return self.respond(self.paging.answer(page))

        return [
            *api.job_routes("POST", "/pause", "pause", pause),
            *api.job_routes("POST", "/resume", "resume", resume),
            *api.job_routes("GET", "/events", "events", list_events),
        ]


SPEC = OpenAISpec()
