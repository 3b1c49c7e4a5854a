"""Azure OpenAI fine-tuning jobs, in both path styles, at the emulator's root as the endpoint.

``/openai/v1/fine_tuning/jobs...`` is the v1 API (no version); ``/openai/fine_tuning/jobs...``
the legacy data plane, which refuses a request without a dated ``api-version`` as Azure does.
Jobs, paging, pause/resume and events are OpenAI's (this spec is OpenAI's with Azure's
addressing, auth and error body). The credential is the platform's one emulator key, taken as
the resource key (``api-key``) or as an Entra ID token (``Authorization: Bearer``).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import bearer_token, json_response, random_id, retry_headers
from airflow_ft_provider.testing.platforms.openai import OpenAISpec
from airflow_ft_provider.testing.store import JobView

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

LEGACY = "/openai/fine_tuning/jobs"
V1 = "/openai/v1/fine_tuning/jobs"
#: The dated versions the legacy data plane answers to (a shape, not Azure's exact list).
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: (
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
        "key for an active subscription and use a correct regional API endpoint for your resource.",
    ),
    403: ("PermissionDenied", "The principal does not have access to this resource."),
    404: ("404", "Resource not found"),
    429: ("429", "Requests to the fine-tuning API have exceeded the rate limit of your current tier. Please retry."),
    500: ("InternalServerError", "The server had an error while processing your request."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry."),
}


class AzureOpenAISpec(OpenAISpec):
    platform = Platform("azure_openai")
    conn_type = "ft_azure_openai"
    prefixes = (LEGACY.removesuffix("jobs"), V1.removesuffix("jobs"))
    #: The emulator's root is the resource endpoint; the dialect and the SDK add ``/openai/...``.
    base_path = ""
    auth_note = "api-key: <key>, or Authorization: Bearer <key> (the key standing in for an Entra ID token)"
    collections = (LEGACY, V1)

    def new_id(self, display_name: str, created: float) -> str:
        return "ftjob-" + random_id(32, "0123456789abcdef")

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        default_code, default_message = _ERRORS.get(status, ("InternalServerError", "Error."))
        body = {"error": {"code": code or default_code, "message": message or default_message}}
        request_id = secrets.token_hex(16)
        headers = {"apim-request-id": request_id, "x-request-id": request_id, **retry_headers(retry_after)}
        return json_response(body, status, headers)

    def respond(self, data: Any, status: int = 200) -> Response:
        return json_response(data, status, {"apim-request-id": secrets.token_hex(16)})

    def credential(self, request: Request) -> str | None:
        return request.headers.get("api-key") or bearer_token(request)

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        if request.url.path.startswith(LEGACY):
            version = request.query_params.get("api-version")
            if not version:
                return self.error(
                    404, "Resource not found: the legacy data plane needs an api-version query parameter."
                )
            if not _API_VERSION.fullmatch(version):
                return self.error(400, f"API version {version[:40]!r} is not supported.", code="BadRequest")
        if self.credential(request) != core.api_key(self.platform):
            return self.error(401)
        return None

    def quota_project(self, core: EmulatorCore, request: Request) -> str | None:
        return None

    def not_found(self, request: Request) -> Response:
        return self.error(404, f"The specified fine-tuning job '{request.path_params['job_id']}' was not found.")

    def cancel_refused(self, view: JobView) -> Response:
        state = self.native_state(view)
        return self.error(400, f"The fine-tuning job is {state} and cannot be cancelled.", code="invalid_request")


SPEC = AzureOpenAISpec()
