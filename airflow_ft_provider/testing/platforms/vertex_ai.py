"""Vertex AI tuning jobs (REST v1 and v1beta1) and a Google OAuth token endpoint.

Faithful points clients trip on: names come back with the project *number*; auth is
an OAuth access token, minted by :data:`OAUTH_ENDPOINT` from a service-account key the emulator
issued (or a configured static token); cancel is asynchronous (``{}``, then
``JOB_STATE_CANCELLING``) and may still end ``JOB_STATE_SUCCEEDED``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.platforms.vertex_ai import VertexAIDialect
from airflow_ft_provider.testing.auth import OAuthError
from airflow_ft_provider.testing.platforms._base import (
    EmulatorLike,
    PlatformSpec,
    bearer_token,
    json_response,
    rfc3339,
    vendor_path,
)
from airflow_ft_provider.testing.platforms._google import aip160_filter, google_error
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_WWW_AUTH = {"www-authenticate": 'Bearer realm="https://accounts.google.com/"'}
#: Google's OAuth token endpoint (``oauth2.googleapis.com/token``), under this platform's prefix: a
#: service-account key names it in full as its ``token_uri``, so it needs no host of its own.
OAUTH_ENDPOINT = "/token"
_PARENT = re.compile(r"^/v1(?:beta1)?/projects/([^/]+)/locations/([^/]+)(?:/|$)")


class VertexAISpec(PlatformSpec):
    platform = Platform("vertex_ai")
    conn_type = "ft_vertex_ai"
    auxiliary_paths = (OAUTH_ENDPOINT,)
    auth_note = (
        "Authorization: Bearer <key> (a static OAuth token), or a token from POST /vertex_ai/token for a key "
        "from GET /_emulator/service-account?project_id=..."
    )
    default_base_model = "gemini-2.5-flash"
    seed_fields = {"project": "emulator-project", "location": "us-central1"}
    collections = tuple(f"/{v}/projects/{{project}}/locations/{{location}}/tuningJobs" for v in ("v1", "v1beta1"))
    cancel_suffix = ":cancel"
    paging = VertexAIDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        return str(secrets.randbelow(9 * 10**18) + 10**18)

    def client_id(self, core: EmulatorCore, job: Job) -> str:
        return resource_name(job)

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        return google_error(status, message, retry_after, code, headers=_WWW_AUTH if status == 401 else None)

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return render(view, self.native_state(view))

    def scope(self, core: EmulatorCore, fields: Mapping[str, str | None]) -> tuple[dict[str, str], Hashable]:
        """Jobs live in a project and a region; names and partitions carry the project number."""
        project, location = str(fields["project"]), str(fields["location"])
        number = core.project_number(project)
        return {"project": project, "project_number": number, "location": location}, (number, location)

    def partitions(self, core: EmulatorCore, request: Request) -> tuple[Hashable, ...]:
        p = request.path_params
        return ((core.project_number(p["project"]), p["location"]),)

    def quota_project(self, core: EmulatorCore, request: Request) -> str | None:
        """Vertex AI's quotas count per project and region (``600 per minute``)."""
        m = _PARENT.match(vendor_path(request.scope))
        return f"{core.project_number(m.group(1))}/{m.group(2)}" if m else None

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        token = bearer_token(request)
        if token is None:
            return self.error(401, _MISSING_CREDENTIAL)
        if token == core.api_key(self.platform):
            allowed = core.config.vertex_allowed_projects
        else:
            grant = core.google_auth.check_bearer(token)
            if grant is None:
                return self.error(401)
            allowed = grant.projects
            if core.config.vertex_allowed_projects is not None and allowed is not None:
                allowed = allowed | core.config.vertex_allowed_projects
        p = request.path_params
        number = core.project_number(p["project"])
        if allowed is None or any(a == p["project"] or core.project_number(a) == number for a in allowed):
            return None
        return permission_denied(
            f"aiplatform.tuningJobs.{action}", f"projects/{p['project']}/locations/{p['location']}"
        )

    def not_found(self, request: Request) -> Response:
        p = request.path_params
        name = f"projects/{p['project']}/locations/{p['location']}/tuningJobs/{p['job_id']}"
        return self.error(404, f"The TuningJob {name} does not exist.")

    def list_filter(self, request: Request) -> Callable[[JobView], bool] | None:
        return aip160_filter(self, request)

    def cancel_refused(self, view: JobView) -> Response:
        return self.error(
            400,
            f"The TuningJob {resource_name(view.job)} is in state {self.native_state(view)} and cannot be cancelled.",
            code="FAILED_PRECONDITION",
        )

    def create_fields(self, request: Request, body: dict[str, Any]) -> dict[str, Any] | Response:
        if not body.get("baseModel") and not body.get("preTunedModel"):
            return self.error(400, "baseModel is required.")
        return {
            "display_name": str(body.get("tunedModelDisplayName") or "tuned-model"),
            "base_model": str(body.get("baseModel") or "pre-tuned"),
            "labels": {str(k): str(v) for k, v in (body.get("labels") or {}).items()},
            "project": request.path_params["project"],
            "location": request.path_params["location"],
            "extra": {k: v for k, v in body.items() if k in ("description", "supervisedTuningSpec")},
        }

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        """Google's OAuth token endpoint: a signed service-account assertion in, a token out."""
        core = api.core

        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))
            try:
                grant = core.google_auth.grant_token(form)
            except OAuthError as exc:
                return json_response({"error": exc.error, "error_description": exc.description}, 400)
            return json_response(grant)

        return [Route(OAUTH_ENDPOINT, token, methods=["POST"])]

    def connection(
        self, emu: EmulatorLike, *, key: str | None, project: str, location: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """A real service-account key whose ``token_uri`` is the emulator, so google-auth's whole
        token exchange runs; ``key`` is sent as a bearer token the emulator may not have issued."""
        extra = {"project": project, "location": location, **extra}
        conn: dict[str, Any] = {"conn_type": self.conn_type, "host": emu.base_url(self.platform)}
        if key is not None:
            extra["access_token"] = key
        else:
            conn["password"] = json.dumps(emu.service_account_info(project))
        conn["extra"] = extra
        return conn


def resource_name(job: Job) -> str:
    s = job.scope
    return f"projects/{s['project_number']}/locations/{s['location']}/tuningJobs/{job.native_id}"


def permission_denied(permission: str, resource: str) -> Response:
    return google_error(
        403,
        f"Permission '{permission}' denied on resource '//aiplatform.googleapis.com/{resource}' (or it may not exist).",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "aiplatform.googleapis.com",
                "metadata": {"permission": permission, "resource": resource},
            }
        ],
    )


def render(view: JobView, state: str) -> dict[str, Any]:
    job = view.job
    name = resource_name(job)
    parent = name.rsplit("/tuningJobs/", 1)[0]
    out: dict[str, Any] = {
        "name": name,
        "tunedModelDisplayName": job.display_name,
        "baseModel": job.base_model,
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://emulator-bucket/train.jsonl",
            "hyperParameters": {"epochCount": "3", "adapterSize": "ADAPTER_SIZE_FOUR"},
        },
        "state": state,
        "createTime": rfc3339(view.created_at),
        "updateTime": rfc3339(view.updated_at),
    }
    if view.started_at is not None:
        out["startTime"] = rfc3339(view.started_at)
    if view.ended_at is not None:
        out["endTime"] = rfc3339(view.ended_at)
    if job.labels:
        out["labels"] = dict(job.labels)
    if view.phase is Phase.FAILED:
        out["error"] = {"code": 13, "message": job.error_message or "Internal error occurred during tuning."}
    elif view.phase is Phase.CANCELLED:
        out["error"] = {"code": 1, "message": "CANCELLED"}
    elif view.phase is Phase.SUCCEEDED:
        out["tunedModel"] = {
            "model": f"{parent}/models/{job.native_id}@1",
            "endpoint": f"{parent}/endpoints/{job.native_id}",
        }
    out.update(job.extra)
    return out


SPEC = VertexAISpec()
