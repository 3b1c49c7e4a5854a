"""IBM watsonx.ai fine-tunings under ``/ml/v1``, IBM Cloud IAM's token endpoint, and the project
lookup ibm-watsonx-ai makes when a client starts.

Faithful points: every call needs ``version`` and one of ``project_id`` / ``space_id``, and sees
only that project's or space's jobs; a cancel is ``DELETE`` (``204``, no body; ``400 Job already
completed with state ...`` once the job has ended; ``hard_delete=true`` erases an ended job's
record); listings hand out the next page's whole URL (``next.href``, cursor ``start``). Auth: an
API key (``/watsonx/identity/token``, IAM's path) is exchanged for a JWT bearer token that lives
:attr:`WatsonxSpec.token_lifetime_s` (set it to seconds to test refreshing); the API refuses an
expired token with IBM's 401 ``authentication_token_expired`` body, any other with
``authorization_rejected``; the key itself is never a bearer credential.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.platforms.watsonx import GRANT_TYPE_APIKEY, WatsonxDialect
from airflow_ft_provider.testing.platforms._base import (
    EmulatorLike,
    PlatformSpec,
    bearer_token,
    iso8601,
    json_response,
    retry_headers,
)
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

#: IAM's token endpoint, at its own path under this platform's prefix (``iam_url`` points here).
IAM_TOKEN_PATH = "/identity/token"  # noqa: S105 - a path, not a secret
COLLECTION = "/ml/v1/fine_tunings"
#: The project jobs are seeded in unless a test names another (``seed(..., project_id=...)``).
DEFAULT_PROJECT_ID = "0f3c6a52-6e0b-4d8e-9a51-2c7b9d4e1a07"
MORE_INFO = "https://cloud.ibm.com/apidocs/watsonx-ai"
_MESSAGES = {
    400: ("invalid_request", "Invalid request."),
    401: ("authorization_rejected", "Failed to authenticate the request due to invalid token"),
    403: ("authorization_rejected", "Not authorized to access the project or space."),
    404: ("not_found", "Resource not found."),
    429: ("too_many_requests", "Too many requests, please retry later."),
    500: ("internal_error", "Internal server error."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
}


def ibm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """watsonx.ai's error body: ``{"errors": [{code, message, more_info}], "trace", "status_code"}``."""
    body = {
        "errors": [{"code": code, "message": message, "more_info": MORE_INFO}],
        "trace": uuid.uuid4().hex,
        "status_code": status,
    }
    return json_response(body, status, headers)


def iam_error(status: int, code: str, message: str) -> Response:
    """IAM's error body: ``errorCode`` (``BXNIM...``), ``errorMessage`` and a ``context``."""
    context = {"requestId": uuid.uuid4().hex, "requestType": "incoming.Identity_Token", "locale": "en_US"}
    return json_response({"errorCode": code, "errorMessage": message, "context": context}, status)


def _jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token (header.claims.signature), as IAM's: clients read ``exp`` from it."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = part(json.dumps({"kid": "emulator", "alg": "RS256"}).encode())
    return f"{header}.{part(json.dumps(claims).encode())}.{part(secrets.token_bytes(32))}"


class WatsonxSpec(PlatformSpec):
    platform = Platform("watsonx")
    conn_type = "ft_watsonx"
    auxiliary_paths = (IAM_TOKEN_PATH,)
    auth_note = "Authorization: Bearer <token from POST /watsonx/identity/token (grant_type apikey, apikey=<key>)>"
    default_base_model = "ibm/granite-3-1-8b-base"
    seed_fields = {"project_id": DEFAULT_PROJECT_ID, "space_id": None}
    collections = (COLLECTION,)
    # Get and list are the standard routes; the DELETE that cancels is served by :meth:`extra_routes`.
    operations = frozenset({"list", "get"})
    paging = WatsonxDialect.paging

    def __init__(self) -> None:
        #: How long an issued token lives; tests lower it to see tokens refreshed.
        self.token_lifetime_s = 3600.0
        #: Issued tokens -> expiry (epoch seconds), across this process's emulators (as IAM's are global).
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        #: Tokens issued so far, for tests counting exchanges.
        self.issued = 0

    # -- IAM ------------------------------------------------------------------------------------
    def issue_token(self) -> dict[str, Any]:
        """IAM's answer to a valid API key: a bearer token and when it expires."""
        now = int(time.time())
        lifetime = self.token_lifetime_s
        claims = {
            "iam_id": "IBMid-emulator",
            "sub": "emulator@example.com",
            "grant_type": GRANT_TYPE_APIKEY,
            "iss": "https://iam.cloud.ibm.com/identity",
            "iat": now,
            "exp": now + max(1, int(lifetime)),
            "jti": uuid.uuid4().hex,
        }
        token = _jwt(claims)
        with self._lock:
            self._tokens[token] = time.time() + lifetime
            self.issued += 1
        return {
            "access_token": token,
            "refresh_token": "not_supported",
            "token_type": "Bearer",
            "expires_in": max(1, int(lifetime)),
            "expiration": claims["exp"],
            "scope": "ibm openid",
        }

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def bearer(self, core: EmulatorCore) -> str:
        """A token minted from the valid API key (the key itself is refused as a bearer)."""
        return str(self.issue_token()["access_token"])

    async def token_endpoint(self, core: EmulatorCore, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))
        if form.get("grant_type") != GRANT_TYPE_APIKEY:
            return iam_error(400, "BXNIM0103E", "Unsupported grant type.")
        key = form.get("apikey", "")
        if not key:
            return iam_error(400, "BXNIM0109E", "Property missing or empty. apikey")
        if not secrets.compare_digest(key.encode(), core.api_key(self.platform).encode()):
            return iam_error(400, "BXNIM0415E", "Provided API key could not be found.")
        return json_response(self.issue_token())

    # -- the API --------------------------------------------------------------------------------
    def new_id(self, display_name: str, created: float) -> str:
        return str(uuid.uuid4())

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        default_code, default_message = _MESSAGES.get(status, ("internal_error", "Error."))
        # A whole-second Retry-After, as HTTP writes it (IBM documents no finer hint).
        hint = {} if retry_after is None else {"retry-after": retry_headers(retry_after)["retry-after"]}
        return ibm_error(status, code or default_code, message or default_message, hint)

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        return self.token_refusal(request) or self._scope_refusal(request)

    def token_refusal(self, request: Request) -> Response | None:
        """IBM's 401 unless the request carries a token IAM issued that has not expired."""
        token = bearer_token(request)
        with self._lock:
            expires = self._tokens.get(token or "")
        if expires is None:
            return self.error(
                401, "Failed to authenticate the request due to invalid token: Failed to parse and verify token"
            )
        if expires <= time.time():
            return self.error(
                401, "Failed to authenticate the request due to an expired token", code="authentication_token_expired"
            )
        return None

    def _scope_refusal(self, request: Request) -> Response | None:
        """The 400 of a request without its version, or with neither or both of project and space."""
        query = request.query_params
        if not query.get("version"):
            return self.error(400, "Missing query parameter 'version'.", code="missing_version")
        if bool(query.get("project_id")) == bool(query.get("space_id")):
            return self.error(400, "Either space_id or project_id has to be provided, not both.", code="invalid_scope")
        return None

    def scope(self, core: EmulatorCore, fields: Mapping[str, str | None]) -> tuple[dict[str, str], Hashable]:
        space = fields.get("space_id")
        if space:
            return {"space_id": space}, ("space", space)
        project = fields.get("project_id") or DEFAULT_PROJECT_ID
        return {"project_id": project}, ("project", project)

    def partitions(self, core: EmulatorCore, request: Request) -> tuple[Hashable, ...]:
        query = request.query_params
        if query.get("space_id"):
            return (("space", query["space_id"]),)
        return (("project", query.get("project_id", "")),)

    def not_found(self, request: Request) -> Response:
        job_id = request.path_params.get("job_id", "")[:200]
        return self.error(404, f"Fine tuning with id '{job_id}' not found.", code="fine_tuning_not_found")

    def cancel_refused(self, view: JobView) -> Response:
        return self.error(400, f"Job already completed with state {self.native_state(view)}.", code="invalid_state")

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        job = view.job
        status: dict[str, Any] = {"state": self.native_state(view)}
        if view.started_at is not None:
            status["running_at"] = iso8601(view.started_at)
        if view.ended_at is not None:
            status["completed_at"] = iso8601(view.ended_at)
        if view.phase is Phase.FAILED:
            reason = job.error_message or "Training failed."
            status["failure"] = {"trace": uuid.uuid4().hex, "errors": [{"code": "training_failed", "message": reason}]}
            status["message"] = {"level": "error", "text": reason}
        entity: dict[str, Any] = {
            "parameters": {"base_model": {"model_id": job.base_model}, "task_id": "generation", "num_epochs": 5},
            "auto_update_model": True,
            "training_data_references": [{"type": "container", "location": {"path": "train.jsonl"}}],
            "results_reference": {"type": "container", "location": {"path": "fine_tuning_results"}},
            "status": status,
        }
        if view.phase is Phase.SUCCEEDED:
            entity["model_id"] = f"{job.native_id[:8]}-tuned-model"
        metadata = {
            "id": job.native_id,
            "name": job.display_name,
            **job.scope,
            "created_at": iso8601(view.created_at),
            "modified_at": iso8601(view.updated_at),
        }
        out = {"metadata": metadata, "entity": entity}
        out.update(job.extra)
        return out

    def connection(
        self, emu: EmulatorLike, *, key: str | None, project: str, location: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """The API key in Password, exchanged at this emulator's IAM endpoint (``iam_url``)."""
        return {
            "conn_type": self.conn_type,
            "host": emu.base_url(self.platform),
            "password": key if key is not None else emu.api_key(self.platform),
            "extra": {
                "project_id": DEFAULT_PROJECT_ID,
                "iam_url": emu.platform_url(self.platform) + IAM_TOKEN_PATH,
                **extra,
            },
        }

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        """IAM's token endpoint, the cancel (``DELETE``), and the project lookup the SDK starts with."""
        core = api.core

        async def token(request: Request) -> Response:
            return await self.token_endpoint(core, request)

        async def cancel(request: Request, job: Job) -> Response:
            view = api.view(job)
            if request.query_params.get("hard_delete") == "true":
                if self.native_state(view) not in self.terminal:
                    return self.error(400, "Only a completed, failed or canceled job can be deleted.")
                core.store.delete(self.platform, job.native_id)
                return Response(status_code=204)
            result, view = core.store.cancel(job, self.native_state, self.terminal)
            return self.cancel_refused(view) if result == "rejected" else Response(status_code=204)

        async def project(request: Request) -> Response:
            return self.token_refusal(request) or json_response(_project(request.path_params["project_id"]))

        return [
            Route(IAM_TOKEN_PATH, token, methods=["POST"]),
            *api.job_routes("DELETE", "", "cancel", cancel),
            Route("/v2/projects/{project_id}", project, methods=["GET"]),
        ]


def _project(project_id: str) -> dict[str, Any]:
    """A project as the Watson Data API shows it: what ibm-watsonx-ai reads is its storage type and
    its machine-learning instance."""
    return {
        "metadata": {"guid": project_id, "url": f"/v2/projects/{project_id}", "created_at": "2026-01-05T10:00:00.000Z"},
        "entity": {
            "name": "emulator project",
            "description": "",
            "generator": "watsonx-saas",
            "public": False,
            "type": "wx",
            "storage": {"type": "bmcos_object_storage", "guid": "5c0e4f6a-0000-4000-8000-00000000c05"},
            "compute": [
                {
                    "type": "machine_learning",
                    "guid": "7a1d2c3b-0000-4000-8000-0000000000a1",
                    "name": "watsonx.ai Runtime",
                    "crn": "crn:v1:bluemix:public:pm-20:us-south:a/emulator:7a1d2c3b-0000-4000-8000-0000000000a1::",
                }
            ],
        },
    }


SPEC = WatsonxSpec()
