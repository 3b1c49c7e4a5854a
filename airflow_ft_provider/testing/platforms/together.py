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
from starlette.routing import BaseRoute

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.platforms.together import TogetherDialect
from airflow_ft_provider.testing.platforms._base import (
    PlatformSpec,
    iso8601,
    json_response,
    openai_style_error,
    retry_headers,
)
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

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
#: What a job reports once it started (its data tokenized): tokens, and the quoted price in nano-dollars.
TOKEN_COUNT = 850_000
TOTAL_PRICE = 2_125_000_000


def events(view: JobView) -> list[dict[str, Any]]:
    out = []
    for phase, t in view.history:
        if phase in _EVENTS:
            kind, level, message = _EVENTS[phase]
            if phase is Phase.FAILED and view.job.error_message:
                message = f"{message}: {view.job.error_message}"
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


class TogetherSpec(PlatformSpec):
    platform = Platform("together")
    conn_type = "ft_together"
    base_path = "/v1"
    default_base_model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    collections = ("/v1/fine-tunes",)
    paging = TogetherDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        return f"ft-{uuid.uuid4()}"

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        type_, default = _ERRORS.get(status, ("server_error", "Error."))
        return json_response(openai_style_error(message or default, type_, code), status, retry_headers(retry_after))

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        if self.credential(request) == core.api_key(self.platform):
            return None
        return self.error(
            401,
            "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.",
            code="invalid_api_key",
        )

    def not_found(self, request: Request) -> Response:
        return self.error(404, f"Fine-tune job {request.path_params['job_id']} not found.")

    def cancel_answer(self, core: EmulatorCore, view: JobView) -> Any:
        return self.render_listed(core, view)

    def cancel_refused(self, view: JobView) -> Response:
        state = self.native_state(view)
        return self.error(400, f"Fine-tune job {view.job.native_id} is already {state} and cannot be cancelled.")

    def create_fields(self, request: Request, body: dict[str, Any]) -> dict[str, Any] | Response:
        if not body.get("model") or not body.get("training_file"):
            return self.error(400, "model and training_file are required.")
        return {"display_name": str(body.get("suffix") or "ft"), "base_model": str(body["model"])}

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        out = self.render_listed(core, view)
        out["events"] = events(view)
        out["queue_depth"] = 0
        if view.phase is Phase.RUNNING:
            out["progress"] = {"estimate_available": False, "seconds_remaining": 0}
        out.update(view.job.extra)
        return out

    def render_listed(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        """The truncated job lists and cancels answer: no events, no progress."""
        job = view.job
        model = job.base_model.rsplit("/", 1)[-1]
        out: dict[str, Any] = {
            "id": job.native_id,
            "status": self.native_state(view),
            "created_at": iso8601(view.created_at),
            "updated_at": iso8601(view.updated_at),
            "model": job.base_model,
            "model_output_name": f"{USER_ID}/{model}-{job.display_name}-{job.native_id[3:11]}",
            "suffix": job.display_name,
            "user_id": USER_ID,
            "n_epochs": 1,
            "n_checkpoints": 1,
            "n_evals": 0,
            "batch_size": 16,
            "learning_rate": 1e-05,
            "training_file": "file-emulator-train",
            # Both 0 until the training data is tokenized, which happens before the job starts.
            "total_price": TOTAL_PRICE if view.started_at is not None else 0,
            "token_count": TOKEN_COUNT if view.started_at is not None else 0,
            "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
            "training_method": {"method": "sft", "train_on_inputs": "auto"},
        }
        if view.started_at is not None:
            out["started_at"] = iso8601(view.started_at)
        out.update(job.extra)
        return out

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        async def list_events(_request: Request, job: Job) -> Response:
            return self.respond({"data": events(api.view(job))})

        return api.job_routes("GET", "/events", "events", list_events)


SPEC = TogetherSpec()
