"""Fireworks AI fine-tuning jobs under ``/v1/accounts/{account}``: supervised, DPO and reinforcement.

Faithful points: one collection per kind of job, each listed on its own with AIP-158 page tokens
(``{<collection>: [...], "nextPageToken", "totalSize"}``, an empty array left out); a job is named
``accounts/{a}/{collection}/{id}`` and is found only in its own collection; ``:cancel`` answers
``{}`` and the job shows ``JOB_STATE_CANCELLING`` before ``JOB_STATE_CANCELLED``; errors are
``google.rpc.Status`` bodies; supervised jobs carry ``baseModel``, ``outputModel`` and
``estimatedCost`` at the top, DPO and reinforcement jobs their models in ``trainingConfig``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_ft_provider.platforms.fireworks import COLLECTIONS, FireworksDialect
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import (
    EmulatorLike,
    PlatformSpec,
    bearer_token,
    random_id,
    rfc3339,
    vendor_path,
)
from airflow_ft_provider.testing.platforms._google import aip160_filter, google_error
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

SUPERVISED = COLLECTIONS[0]
DEFAULT_ACCOUNT = "emulator-account"
#: What every emulated job is estimated to cost: USD 12.40 as ``google.type.Money``.
ESTIMATED_COST = {"currencyCode": "USD", "units": "12", "nanos": 400000000}
_STATUS = {
    Phase.FAILED: ("INTERNAL", "Training failed."),
    Phase.CANCELLED: ("CANCELLED", "Job was cancelled."),
}


class FireworksSpec(PlatformSpec):
    platform = Platform.FIREWORKS
    conn_type = "ft_fireworks"
    default_base_model = "accounts/fireworks/models/llama-v3p1-8b-instruct"
    #: ``kind``: the job's collection, one of :data:`~airflow_ft_provider.platforms.fireworks.COLLECTIONS`.
    seed_fields = {"account": DEFAULT_ACCOUNT, "kind": SUPERVISED}
    collections = tuple(f"/v1/accounts/{{account}}/{c}" for c in COLLECTIONS)
    cancel_suffix = ":cancel"
    paging = FireworksDialect.paging

    def new_id(self, display_name: str, created: float) -> str:
        return random_id(12)

    def client_id(self, core: EmulatorCore, job: Job) -> str:
        return resource_name(job)

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        return google_error(status, message, retry_after, code)

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        if bearer_token(request) == core.api_key(self.platform):
            return None
        return self.error(401, "unauthenticated: invalid API key", code="UNAUTHENTICATED")

    def scope(self, core: EmulatorCore, fields: Mapping[str, str | None]) -> tuple[dict[str, str], Hashable]:
        """A job lives in an account and, by its kind, in one of the account's collections."""
        account, kind = str(fields["account"]), str(fields["kind"])
        if kind not in COLLECTIONS:
            raise ValueError(f"a Fireworks job's kind is one of {', '.join(COLLECTIONS)}, not {kind!r}")
        return {"account": account, "kind": kind}, (account, kind)

    def partitions(self, core: EmulatorCore, request: Request) -> tuple[Hashable, ...]:
        """The path's account and collection: ``/v1/accounts/{a}/{collection}[/...]``."""
        parts = vendor_path(request.scope).split("/")
        return ((request.path_params["account"], parts[4]),)

    def quota_project(self, core: EmulatorCore, request: Request) -> str | None:
        """Quotas count per account, whichever of its collections a request reads."""
        parts = vendor_path(request.scope).split("/")
        return parts[3] if parts[1:3] == ["v1", "accounts"] and len(parts) > 3 else None

    def not_found(self, request: Request) -> Response:
        job = request.path_params["job_id"].removesuffix(":cancel")
        return self.error(404, f"job not found: {job}")

    def list_filter(self, request: Request) -> Callable[[JobView], bool] | None:
        return aip160_filter(self, request)

    def cancel_refused(self, view: JobView) -> Response:
        state = self.native_state(view)
        return self.error(
            400,
            f"job {resource_name(view.job)} is in state {state} and cannot be cancelled",
            code="FAILED_PRECONDITION",
        )

    def create_fields(self, request: Request, body: dict[str, Any]) -> dict[str, Any] | Response:
        if not body.get("dataset"):
            return self.error(400, "dataset is required")
        config = body.get("trainingConfig")
        config = config if isinstance(config, dict) else {}
        return {
            "display_name": str(body.get("displayName") or "fine-tuning-job"),
            "base_model": str(body.get("baseModel") or config.get("baseModel") or self.default_base_model),
            "account": request.path_params["account"],
            "kind": vendor_path(request.scope).split("/")[4],
        }

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return render(view, self.native_state(view))

    def connection(
        self, emu: EmulatorLike, *, key: str | None, project: str, location: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """The API key and the ``account`` extra (the seeded jobs' default account)."""
        conn = super().connection(emu, key=key, project=project, location=location, extra=extra)
        conn["extra"] = {"account": DEFAULT_ACCOUNT, **extra}
        return conn


def resource_name(job: Job) -> str:
    return f"accounts/{job.scope['account']}/{job.scope['kind']}/{job.native_id}"


def render(view: JobView, state: str) -> dict[str, Any]:
    job = view.job
    account, kind = job.scope["account"], job.scope["kind"]
    models = {"baseModel": job.base_model, "outputModel": f"accounts/{account}/models/{job.native_id}"}
    out: dict[str, Any] = {
        "name": resource_name(job),
        "displayName": job.display_name,
        "createTime": rfc3339(view.created_at),
        "updateTime": rfc3339(view.updated_at),
        "state": state,
        "dataset": f"accounts/{account}/datasets/emulator-train",
        "createdBy": "emulator@example.com",
    }
    if view.ended_at is not None:
        out["completedTime"] = rfc3339(view.ended_at)
    if view.phase in _STATUS:
        code, message = _STATUS[view.phase]
        out["status"] = {"code": code, "message": job.error_message or message}
    else:
        out["status"] = {"code": "OK", "message": ""}
    if kind == SUPERVISED:
        out.update(models, estimatedCost=ESTIMATED_COST, epochs=1, loraRank=8)
    else:
        out["trainingConfig"] = {**models, "epochs": 1, "loraRank": 8}
    if kind == "reinforcementFineTuningJobs":
        out["evaluator"] = f"accounts/{account}/evaluators/emulator-evaluator"
    out.update(job.extra)
    return out


SPEC = FireworksSpec()
