"""Replicate trainings (``/v1/trainings``).

Facts from Replicate's OpenAPI document (``https://api.replicate.com/openapi.json``) and the
replicate SDK 1.0 (``training.py``, its recorded API answers): a training's ``status``, its times in
RFC 3339, its ``error`` as a string and its ``output.version`` (the new model version) once it
succeeded; listings of 100 trainings a page, newest first, whose ``next`` is the next page's full
URL; errors as RFC 7807 problem details (``{"title", "detail", "status"}``); a cancel answered 200
with the training, ``canceled`` at once. That one answer is also what a cancel of an ended
training gets (the document gives no other), so a training that shows itself ended otherwise is
the refusal it is (``JOB_RECORD_UNLESS_ENDED``).
"""

from __future__ import annotations

import re
from typing import Any, Self

from airflow_ft_provider.connection_fields import ConnectionForm
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import JOB_RECORD_UNLESS_ENDED
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.fields import mapping, parse_time, text
from airflow_ft_provider.platforms.http_errors import error_by_status
from airflow_ft_provider.platforms.paging import NextUrls, same_origin
from airflow_ft_provider.platforms.record import ApiKeyAuth, PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

#: The SDK's default base URL (``REPLICATE_BASE_URL``); the API's paths start with ``/v1``.
DEFAULT_BASE_URL = "https://api.replicate.com"
#: Replicate's web site: a training's page is ``/p/<id>`` (the ``urls.web`` of the API's examples).
WEB_URL = "https://replicate.com"

#: The ``status`` enum of ``schemas_training_response``. No cancelling state: a cancel reads
#: ``canceled`` at once (or, losing a race, the training ends as it would have).
STATES = StateTable(
    {
        # "Starting up ... typically because a new worker is being started": not yet training.
        "starting": TuningJobState.PENDING,
        "processing": TuningJobState.RUNNING,
        "succeeded": TuningJobState.SUCCEEDED,
        "failed": TuningJobState.FAILED,
        # By its creator, or at its deadline while running.
        "canceled": TuningJobState.CANCELLED,
        # Ended before it started running (a deadline reached while starting, say): nothing ran,
        # nothing more runs; Replicate counts deadline stops while running as ``canceled`` too.
        "aborted": TuningJobState.CANCELLED,
    },
    timeline={
        Phase.QUEUED: "starting",
        Phase.PENDING: "starting",
        Phase.RUNNING: "processing",
        Phase.SUCCEEDED: "succeeded",
        Phase.FAILED: "failed",
        Phase.CANCELLED: "canceled",
    },
)


class ReplicateDialect(Dialect):
    platform = "replicate"
    # 26 lowercase letters and digits in every id the API shows (``zz4ibbonubfz7carwiefibzgga``);
    # a little room either way, nothing that can change a URL.
    id_pattern = re.compile(r"[a-z0-9]{16,64}")
    id_example = "zz4ibbonubfz7carwiefibzgga"
    states = STATES
    cancel_ack = JOB_RECORD_UNLESS_ENDED
    #: ``{"results", "next", "previous"}``, 100 a page; ``next`` is followed only on the API's origin.
    paging = NextUrls()

    def __init__(self, base_url: str = DEFAULT_BASE_URL) -> None:
        # The OpenAPI document's server URL names ``/v1`` too; the paths below carry it.
        super().__init__(base_url.rstrip("/").removesuffix("/v1"))

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        return cls(base_url or DEFAULT_BASE_URL)

    def get_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.GET, "GET", self.url("v1", "trainings", job_id), job_id=job_id)

    def list_url(self) -> str:
        return self.url("v1", "trainings")

    def cancel_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.CANCEL, "POST", self.url("v1", "trainings", job_id, "cancel"), job_id=job_id)

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Training record is not a JSON object", response)
        native = item.get("status")
        job_id = text(item.get("id"))
        model, version = text(item.get("model")), text(item.get("version"))
        return self.job(
            response,
            job_id=job_id,
            state=self.map_state(native),
            native_state=str(native),
            # The base model as Replicate names a version: ``owner/name:version``.
            base_model=f"{model}:{version}" if model and version else model or version,
            tuned_model=text(mapping(item.get("output")).get("version")),
            created_at=parse_time(item.get("created_at")),
            started_at=parse_time(item.get("started_at")),
            ended_at=parse_time(item.get("completed_at")),
            error_message=text(item.get("error")),
            console_url=self.console_url(job_id, mapping(item.get("urls")).get("web")) if job_id else None,
        )

    def console_url(self, job_id: str, web: object) -> str | None:
        """The training's page: its ``urls.web`` where that is on Replicate's site, else the page
        Replicate's examples show, for the real API only."""
        if isinstance(web, str) and same_origin(web, WEB_URL):
            return web
        return f"{WEB_URL}/p/{job_id}" if self.base_url == DEFAULT_BASE_URL else None

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        """A problem details body (``application/problem+json``): ``detail``, and ``title`` on some."""
        status = response.status_code
        try:
            body = response.json_object(self.platform)
        except TuningJobError:
            body = {}
        title = text(body.get("title"))
        message = text(body.get("detail")) or title or f"HTTP {status} from Replicate"
        return error_by_status(
            response,
            message,
            # A cancel carries no body and its id is checked before sending: a 400, 409 or 422 to
            # it can only be about the training's state.
            cancel_refused=request.operation is Operation.CANCEL and status in (400, 409, 422),
            platform=self.platform,
            native_code=title,
            job_id=request.job_id,
        )


RECORD = PlatformRecord(
    name="replicate",
    title="Replicate",
    conn_type="ft_replicate",
    hook_name_note="trainings",
    dialect=ReplicateDialect,
    form=ConnectionForm(key_field_label="API token", host_placeholder=DEFAULT_BASE_URL),
    hook_class_name="ReplicateTuningHook",
    api_key=ApiKeyAuth("Replicate API token"),
    requests_per_minute=2700,
    quota_source="Replicate allows 3,000 requests per minute for every endpoint but creating predictions; "
    "90 % of it, leaving room for the web site and other clients",
)
