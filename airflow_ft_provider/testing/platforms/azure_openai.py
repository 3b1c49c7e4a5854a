"""Azure OpenAI fine-tuning jobs, in both path styles, under ``/azure_openai`` as the resource endpoint.

``/openai/v1/fine_tuning/jobs...`` is the v1 API (no version); ``/openai/fine_tuning/jobs...``
the legacy data plane, which refuses a request without a dated ``api-version`` as Azure does.
Jobs, paging, pause/resume and events are OpenAI's (this spec is OpenAI's with Azure's
addressing, auth and error body); the states are Azure's table (a new job shows ``pending``).
The credential is the platform's one emulator key, taken as the resource key (``api-key``) or
as an Entra ID token (``Authorization: Bearer``), or a token the emulated Entra ID issued
(:mod:`airflow_ft_provider.testing.entra`, at Entra ID's own paths at the emulator's root),
refused with 401 once it has expired.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.azure_openai import AzureOpenAIDialect
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.entra import EntraError
from airflow_ft_provider.testing.platforms._base import (
    bearer_token,
    json_response,
    random_id,
    retry_headers,
    vendor_path,
)
from airflow_ft_provider.testing.platforms.openai import OpenAISpec
from airflow_ft_provider.testing.store import JobView

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

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
    #: The platform's URL is the resource endpoint; the dialect and the SDK add ``/openai/...``.
    base_path = ""
    auth_note = "api-key: <key>, or Authorization: Bearer <key> (the key standing in for an Entra ID token)"
    collections = (LEGACY, V1)
    paging = AzureOpenAIDialect.paging

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

    def root_routes(self, api: JobApi) -> list[BaseRoute]:
        """Microsoft Entra ID: discovery, the token endpoint, and IMDS for managed identity.

        At the emulator's root, not under ``/azure_openai``: MSAL reads the tenant from the first
        path segment of its authority, so the authority (``authority_host``) must be a bare host.
        IMDS sits beside it, as azure-identity's ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` names a host.
        """
        entra = api.core.entra

        def origin(request: Request) -> str:
            # Entra ID's authorities are https only (MSAL refuses others): the documents name https,
            # which the provider maps back to this loopback http server.
            return "https://" + request.headers.get("host", "127.0.0.1")

        def oauth_error(exc: EntraError) -> Response:
            return json_response(exc.body(), exc.status)

        async def instance(request: Request) -> Response:
            authorize = request.query_params.get("authorization_endpoint", "")
            return json_response(entra.instance_discovery(origin(request), authorize))

        async def openid(request: Request) -> Response:
            return json_response(entra.openid_configuration(origin(request), request.path_params["tenant"]))

        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))
            try:
                return json_response(entra.grant(request.url.path, form))
            except EntraError as exc:
                return oauth_error(exc)

        async def imds(request: Request) -> Response:
            try:
                return json_response(entra.imds(dict(request.query_params), request.headers.get("metadata")))
            except EntraError as exc:
                return json_response({"error": exc.error, "error_description": exc.description}, exc.status)

        return [
            Route("/common/discovery/instance", instance, methods=["GET"]),
            Route("/metadata/identity/oauth2/token", imds, methods=["GET"]),
            Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        ]

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        if vendor_path(request.scope).startswith(LEGACY):
            version = request.query_params.get("api-version")
            if not version:
                return self.error(
                    404, "Resource not found: the legacy data plane needs an api-version query parameter."
                )
            if not _API_VERSION.fullmatch(version):
                return self.error(400, f"API version {version[:40]!r} is not supported.", code="BadRequest")
        given = self.credential(request)
        if given == core.api_key(self.platform):
            return None
        token = bearer_token(request)
        if token is not None and core.entra.check(token):
            return None
        if token is not None and token.count(".") == 2:  # a JWT: Entra ID's, expired or foreign
            return self.error(
                401, "Unauthorized. Access token is missing, invalid, audience is incorrect, or have expired."
            )
        return self.error(401)

    def quota_project(self, core: EmulatorCore, request: Request) -> str | None:
        return None

    def not_found(self, request: Request) -> Response:
        return self.error(404, f"The specified fine-tuning job '{request.path_params['job_id']}' was not found.")

    def cancel_refused(self, view: JobView) -> Response:
        state = self.native_state(view)
        return self.error(400, f"The fine-tuning job is {state} and cannot be cancelled.", code="invalid_request")


SPEC = AzureOpenAISpec()
