"""Alibaba Cloud Model Studio (DashScope) fine-tunes under ``/api/v1``.

Faithful points: an envelope with ``request_id`` on every body, errors as
``{"code","message","request_id"}``, times in China Standard Time with no zone,
``CANCELED`` with one L, ``CANCELING`` (undocumented) while a cancel is in progress,
and a second cancel refused like a cancel of an ended job. A job seeded into a
workspace is seen only with that workspace's ``X-DashScope-WorkSpace`` header.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from airflow_ft_provider.platforms.dashscope import DashScopeDialect
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import PlatformSpec, china_time, int_param, json_response
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

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
_WORKSPACE = "x-dashscope-workspace"


def _request_id() -> str:
    return str(uuid.uuid4())


class DashScopeSpec(PlatformSpec):
    platform = Platform("dashscope")
    conn_type = "ft_dashscope"
    base_path = "/api/v1"
    default_base_model = "qwen3-14b"
    seed_fields = {"workspace": None}
    collections = ("/api/v1/fine-tunes",)
    repeat_cancel_refused = True
    paging = DashScopeDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        """Like ``ft-202410291653-1c7f``: creation minute (CST) and four hex digits."""
        stamp = "".join(ch for ch in china_time(created) if ch.isdigit())[:12]
        return f"ft-{stamp}-{secrets.token_hex(2)}"

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        """DashScope documents no retry hint on 429, so ``retry_after`` is ignored."""
        default_code, default_message = _CODES.get(status, ("InternalError", "Error."))
        body = {"request_id": _request_id(), "code": code or default_code, "message": message or default_message}
        return json_response(body, status)

    def respond(self, data: Any, status: int = 200) -> Response:
        return json_response({"request_id": _request_id(), "output": data}, status)

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        key = self.credential(request)
        if key is None:
            return self.error(401, "No API-key provided.")
        return None if key == core.api_key(self.platform) else self.error(401)

    def scope(self, core: EmulatorCore, fields: Mapping[str, str | None]) -> tuple[dict[str, str], Hashable]:
        workspace = fields.get("workspace")
        return ({"workspace": workspace} if workspace else {}), workspace or None

    def partitions(self, core: EmulatorCore, request: Request) -> tuple[Hashable, ...]:
        """Jobs outside any workspace are seen from everywhere, a workspace's only with its header."""
        workspace = request.headers.get(_WORKSPACE)
        return (None, workspace) if workspace else (None,)

    def quota_project(self, core: EmulatorCore, request: Request) -> str | None:
        return request.headers.get(_WORKSPACE)

    def cancel_answer(self, core: EmulatorCore, view: JobView) -> Any:
        return {"status": "success"}

    def cancel_refused(self, view: JobView) -> Response:
        return self.error(
            400,
            f"Job {view.job.native_id} is in status {self.native_state(view)} and cannot be canceled.",
            code="UnsupportedOperation",
        )

    def create_fields(self, request: Request, body: dict[str, Any]) -> dict[str, Any] | Response:
        if not body.get("model"):
            return self.error(400, "Missing required parameter: model.")
        return {
            "display_name": str(body.get("job_name") or body["model"]),
            "base_model": str(body["model"]),
            "workspace": request.headers.get(_WORKSPACE),
        }

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        job = view.job
        out: dict[str, Any] = {
            "job_id": job.native_id,
            "job_name": job.display_name,
            "status": self.native_state(view),
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
        if "workspace" in job.scope:
            out["workspace_id"] = job.scope["workspace"]
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

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        async def delete(_request: Request, job: Job) -> Response:
            api.core.store.delete(self.platform, job.native_id)
            return self.respond({"status": "success"})

        async def logs(request: Request, job: Job) -> Response:
            offset = int_param(request, "offset", 0)
            line = int_param(request, "line", 100)
            if offset is None or line is None or offset < 0 or line < 1:
                return self.error(400, "offset and line must be non-negative integers.")
            lines = [f"{china_time(t)} job {job.native_id} {self.states.timeline[p]}" for p, t in api.view(job).history]
            return self.respond({"total": len(lines), "logs": lines[offset : offset + line]})

        return [*api.job_routes("DELETE", "", "delete", delete), *api.job_routes("GET", "/logs", "logs", logs)]


SPEC = DashScopeSpec()
