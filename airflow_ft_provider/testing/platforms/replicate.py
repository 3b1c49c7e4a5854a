"""Replicate trainings under ``/v1/trainings``.

Faithful points (Replicate's OpenAPI document and the replicate SDK's recorded answers): ids of 26
lowercase letters and digits, ``starting`` then ``processing``, a cancel answered 200 with the
training already ``canceled`` (an ended training's cancel answered the same way, with the training
as it is), ``metrics`` once a training ended, ``output.version`` once it succeeded, listings of 100
a page whose ``next`` is the full URL of the next page on this same host, and errors as problem
details (``application/problem+json``: ``{"title", "detail", "status"}``) with ``Retry-After`` on 429.
The token is accepted as ``Bearer`` or, as Replicate's older examples send it, ``Token``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.platforms.replicate import WEB_URL, ReplicateDialect
from airflow_ft_provider.testing.platforms._base import PlatformSpec, random_id, rfc3339
from airflow_ft_provider.testing.store import JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

#: The base model of the API reference's training examples (``owner/name:version``).
BASE_MODEL = "stability-ai/sdxl:da77bc59ee60423279fd632efb4795ab731d9e3ca9705ef3341091fb989b7eaf"
#: Where a trained version is pushed: ``<owner>/<display name>``.
OWNER = "emulator"
#: Titles where Replicate's answers carry one (a 401's, as the SDK's recordings show).
_TITLES = {401: "Unauthenticated", 403: "Forbidden"}
_DETAILS = {
    400: "Bad request.",
    401: "You did not pass a valid authentication token",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: "Internal server error.",
    503: "Service unavailable.",
}


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"title": _TITLES[status]} if status in _TITLES else {}
    body.update(detail=detail, status=status)
    return Response(json.dumps(body), status, headers, media_type="application/problem+json")


def _completed_at(view: JobView) -> float | None:
    """When the training ended: a cancel that takes ends it when asked (no cancelling state)."""
    if view.phase is Phase.CANCELLING and view.job.script.cancel_outcome == "cancelled":
        return view.cancel_requested_at
    return view.ended_at


class ReplicateSpec(PlatformSpec):
    platform = Platform("replicate")
    conn_type = "ft_replicate"
    auth_note = "Authorization: Bearer <token> (or Token <token>)"
    default_base_model = BASE_MODEL
    collections = ("/v1/trainings",)
    # Trainings are created under the model version trained (``/v1/models/.../trainings``): not served.
    operations = frozenset({"list", "get", "cancel"})
    paging = ReplicateDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        return random_id(26)

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        if status == 429:
            wait = None if retry_after is None else max(0, math.ceil(retry_after))
            detail = "Request was throttled." + (f" Your rate limit resets in ~{wait}s." if wait is not None else "")
            return _problem(429, message or detail, {"retry-after": str(wait)} if wait is not None else None)
        return _problem(status, message or _DETAILS.get(status, "Error."))

    def credential(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() in ("bearer", "token") and token.strip() else None

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        return None if self.credential(request) == core.api_key(self.platform) else self.error(401)

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        job = view.job
        state = self.native_state(view)
        model, _, version = job.base_model.partition(":")
        ended = _completed_at(view) if state in self.terminal else None
        api = f"{core.platform_url(self.platform)}/v1/trainings/{job.native_id}"
        out: dict[str, Any] = {
            "id": job.native_id,
            "model": model,
            "version": version,
            "input": {"train_data": "https://example.com/emulator/train.zip"},
            "logs": "",
            "output": _trained(job.native_id, job.display_name) if state == "succeeded" else None,
            "error": (job.error_message or "Training failed.") if state == "failed" else None,
            "status": state,
            "source": "api",
            "created_at": rfc3339(view.created_at),
            "started_at": rfc3339(view.started_at) if view.started_at is not None else None,
            "completed_at": rfc3339(ended) if ended is not None else None,
            "urls": {"web": f"{WEB_URL}/p/{job.native_id}", "get": api, "cancel": f"{api}/cancel"},
            "metrics": _metrics(view, ended),
        }
        out.update(job.extra)
        return out

    def cancel_answer(self, core: EmulatorCore, view: JobView) -> Any:
        return self.render(core, view)


def _trained(native_id: str, display_name: str) -> dict[str, str]:
    """The new version a succeeded training pushed, named ``owner/name:version`` as the SDK parses it."""
    name = re.sub(r"[^a-z0-9-]+", "-", display_name.lower()).strip("-") or "trained"
    version = hashlib.sha256(native_id.encode()).hexdigest()
    return {"version": f"{OWNER}/{name}:{version}", "weights": f"https://replicate.delivery/emulator/{native_id}.tar"}


def _metrics(view: JobView, ended: float | None) -> dict[str, float]:
    """Terminated trainings report the seconds they ran and the seconds they took; others none."""
    if ended is None:
        return {}
    ran = ended - view.started_at if view.started_at is not None else 0.0
    return {"predict_time": round(max(ran, 0.0), 6), "total_time": round(max(ended - view.created_at, 0.0), 6)}


SPEC = ReplicateSpec()
