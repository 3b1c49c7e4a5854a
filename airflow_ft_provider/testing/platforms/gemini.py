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
from starlette.routing import BaseRoute

from airflow_ft_provider.platforms.gemini import GeminiDialect
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import PlatformSpec, random_id, rfc3339
from airflow_ft_provider.testing.platforms._google import google_error
from airflow_ft_provider.testing.store import Job, JobView

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

_UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}


class GeminiSpec(PlatformSpec):
    platform = Platform("gemini")
    conn_type = "ft_gemini"
    auth_note = "x-goog-api-key: <key> (or ?key=<key>)"
    default_base_model = "models/gemini-1.5-flash-001-tuning"
    collections = ("/v1beta/tunedModels", "/v1/tunedModels")
    operations = frozenset({"list", "get", "cancel"})
    cancel_suffix = ":cancel"
    paging = GeminiDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")[:40] or "tuned-model"
        return f"{slug}-{random_id(6)}"

    def client_id(self, core: EmulatorCore, job: Job) -> str:
        return f"tunedModels/{job.native_id}"

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        return google_error(status, message, retry_after, code)

    def credential(self, request: Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query_params.get("key")

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        key = self.credential(request)
        if not key:
            return self.error(403, _UNREGISTERED)
        if key != core.api_key(self.platform):
            return google_error(400, "API key not valid. Please pass a valid API key.", details=[_KEY_INVALID])
        return None

    def not_found(self, request: Request) -> Response:
        return self.error(404, f"Tuned model tunedModels/{request.path_params['job_id']} is not found.")

    def cancel_unavailable(self, core: EmulatorCore) -> Response | None:
        return None if core.config.gemini_cancel_supported else self.error(404, "Method not found.")

    def cancel_refused(self, view: JobView) -> Response:
        return self.error(
            400,
            f"Tuned model tunedModels/{view.job.native_id} is {self.native_state(view)} and cannot be cancelled.",
            code="FAILED_PRECONDITION",
        )

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
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
            "state": self.native_state(view),
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

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        async def delete(_request: Request, job: Job) -> Response:
            api.core.store.delete(self.platform, job.native_id)
            return self.respond({})

        return api.job_routes("DELETE", "", "delete", delete)


SPEC = GeminiSpec()
