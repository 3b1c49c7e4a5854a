"""IBM watsonx.ai fine-tunings (``/ml/v1/fine_tunings``), as ibm-watsonx-ai 1.8 speaks them.

Every call carries the API's ``version`` date and exactly one of ``project_id`` / ``space_id``.
A cancel is a ``DELETE`` of the fine-tuning, answered ``204`` with no body; the same ``DELETE``
with ``hard_delete=true`` erases a finished job's record instead, so it is never sent. Listings
name the next page's whole URL (``{"resources", "next": {"href"}}``), followed on the API's own
origin only. The connection's password is an IBM Cloud API key, exchanged for an IAM bearer token
by the hook (:mod:`airflow_ft_provider.hooks.ibm_iam`), never by the dialect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Self
from urllib.parse import urlsplit

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import EMPTY_OBJECT_OR_NO_BODY
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.fields import mapping, parse_time, text
from airflow_ft_provider.platforms.http_errors import error_by_status
from airflow_ft_provider.platforms.paging import NextUrls, PageSize
from airflow_ft_provider.platforms.record import PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

DEFAULT_REGION = "us-south"
#: The ``version`` date ibm-watsonx-ai 1.8.1 sends (its ``utils/API_VERSION_PARAM``).
DEFAULT_VERSION = "2026-10-14"
#: IBM Cloud IAM's token endpoint (an API key in, a bearer token out).
DEFAULT_IAM_URL = "https://iam.cloud.ibm.com/identity/token"
#: The grant that exchanges an IBM Cloud API key for a token at :data:`DEFAULT_IAM_URL`.
GRANT_TYPE_APIKEY = "urn:ibm:params:oauth:grant-type:apikey"
JOBS_PATH = ("ml", "v1", "fine_tunings")

#: The fine-tuning states of the watsonx.ai API (TrainingStatus.state). ``storing`` is the model
#: being written after training: still active. No cancelling state: a cancel reads ``canceled``.
STATES = StateTable(
    {
        "queued": TuningJobState.QUEUED,
        "pending": TuningJobState.PENDING,
        "running": TuningJobState.RUNNING,
        "storing": TuningJobState.RUNNING,
        "completed": TuningJobState.SUCCEEDED,
        "failed": TuningJobState.FAILED,
        "canceled": TuningJobState.CANCELLED,
    },
    timeline={
        Phase.QUEUED: "queued",
        Phase.PENDING: "pending",
        Phase.RUNNING: "running",
        Phase.SUCCEEDED: "completed",
        Phase.FAILED: "failed",
        Phase.CANCELLED: "canceled",
    },
)

_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+){1,3}")
_SCOPE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")


class WatsonxDialect(Dialect):
    platform = "watsonx"
    #: Fine-tuning ids are UUIDs; the characters of ids only, nothing that changes a URL.
    id_pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
    id_example = "8c3a2f1e-5b7d-4e0a-9f6c-2d1b0a9e8c7f"
    states = STATES
    #: ``204 No Content`` (what ibm-watsonx-ai's ``training.cancel`` expects).
    cancel_ack = EMPTY_OBJECT_OR_NO_BODY
    success_statuses = {
        Operation.GET: frozenset({200}),
        Operation.LIST: frozenset({200}),
        Operation.CANCEL: frozenset({204}),
    }
    #: ``limit`` 1-200 (100 when not given) -> ``{"resources", "next": {"href"}}``; the href's ``start``
    #: is the service's cursor, its query repeats the version and scope.
    paging = NextUrls(
        "resources", next_member="href", cursor_param="start", size=PageSize("limit", largest=200, default=100)
    )

    def __init__(
        self,
        base_url: str,
        *,
        project_id: str | None = None,
        space_id: str | None = None,
        version: str = DEFAULT_VERSION,
    ) -> None:
        super().__init__(base_url)
        if (project_id is None) == (space_id is None):
            raise ExtraError(
                "watsonx.ai needs exactly one of the extras project_id and space_id "
                f"({'both are set' if project_id else 'neither is set'}). Set project_id to the project's id "
                "(Project > Manage > General) or space_id to the deployment space's id, not both."
            )
        scope = {"project_id": project_id} if project_id else {"space_id": str(space_id)}
        #: The query every request carries.
        self.query: Mapping[str, str] = {"version": version, **scope}

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        return cls(
            base_url or service_url(extras),
            project_id=_scope_id(extras, "project_id"),
            space_id=_scope_id(extras, "space_id"),
            version=_version(extras),
        )

    def get_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.GET, "GET", self.url(*JOBS_PATH, job_id), params=self.query, job_id=job_id)

    def list_url(self) -> str:
        return self.url(*JOBS_PATH)

    def list_params(self) -> Mapping[str, str]:
        return self.query

    def cancel_request(self, job_id: str) -> ApiRequest:
        """The ``DELETE`` that cancels: its query is the version and scope, never ``hard_delete``."""
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.CANCEL, "DELETE", self.url(*JOBS_PATH, job_id), params=self.query, job_id=job_id)

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Fine-tuning record is not a JSON object", response)
        metadata, entity = mapping(item.get("metadata")), mapping(item.get("entity"))
        status = mapping(entity.get("status"))
        native = status.get("state")
        state = self.map_state(native)
        base_model = mapping(mapping(entity.get("parameters")).get("base_model")).get("model_id")
        return self.job(
            response,
            job_id=text(metadata.get("id")),
            state=state,
            native_state=str(native),
            display_name=text(metadata.get("name")),
            base_model=text(base_model),
            tuned_model=text(entity.get("model_id")),
            created_at=parse_time(metadata.get("created_at")),
            updated_at=parse_time(metadata.get("modified_at")),
            started_at=parse_time(status.get("running_at")),
            ended_at=parse_time(status.get("completed_at")),
            error_message=failure_message(status) if state is TuningJobState.FAILED else None,
        )

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        """``{"errors": [{"code", "message", "more_info"}], "trace", "status_code"}``; a ``DELETE`` of
        a job that has ended answers 400 "Job already completed with state ...": not cancellable."""
        try:
            body = response.json_object(self.platform)
        except TuningJobError:
            body = {}
        errors = body.get("errors")
        first = mapping(errors[0]) if isinstance(errors, list) and errors else {}
        status = response.status_code
        return error_by_status(
            response,
            text(first.get("message")) or f"HTTP {status} from watsonx.ai",
            cancel_refused=request.operation is Operation.CANCEL and status in (400, 409),
            platform=self.platform,
            native_code=text(first.get("code")),
            request_id=text(body.get("trace")) or response.headers.get("x-global-transaction-id"),
            job_id=request.job_id,
        )


def failure_message(status: Mapping[str, Any]) -> str | None:
    """Why a fine-tuning failed: ``status.failure.errors[0].message``, else ``status.message.text``."""
    errors = mapping(status.get("failure")).get("errors")
    if isinstance(errors, list):
        for error in errors:
            if message := text(mapping(error).get("message")):
                return message
    return text(mapping(status.get("message")).get("text"))


def service_url(extras: Extras) -> str:
    """The ``url`` extra (https, or http on this machine), else ``https://{region}.ml.cloud.ibm.com``."""
    url = extras.text("url")
    if url is None:
        region = extras.text("region", DEFAULT_REGION) or DEFAULT_REGION
        if not _REGION.fullmatch(region):
            raise ExtraError(
                f"the extra region={region[:40]!r} is not a watsonx.ai region such as us-south, eu-de, eu-gb, "
                "jp-tok, au-syd or ca-tor. Set region, or the service's whole URL in the extra url."
            )
        return f"https://{region}.ml.cloud.ibm.com"
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not (parts.scheme == "https" or local) or not parts.hostname or "@" in parts.netloc:
        raise ExtraError(
            f"the extra url={url[:80]!r} is not an https URL without a user name. Use e.g. "
            "https://eu-de.ml.cloud.ibm.com (or leave it empty and set region)."
        )
    return url.rstrip("/")


def _scope_id(extras: Extras, name: str) -> str | None:
    value = extras.text(name)
    if value is not None and not _SCOPE_ID.fullmatch(value):
        raise ExtraError(f"the extra {name}={value[:40]!r} is not a watsonx.ai id (a GUID). Copy the id again.")
    return value


def _version(extras: Extras) -> str:
    value = extras.text("version", DEFAULT_VERSION) or DEFAULT_VERSION
    try:
        valid = bool(_VERSION.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        valid = False
    if not valid:
        raise ExtraError(
            f"the extra version={value[:40]!r} is not a date YYYY-MM-DD (the API version). "
            f"Remove it for the default, {DEFAULT_VERSION}."
        )
    return value


RECORD = PlatformRecord(
    name="watsonx",
    title="IBM watsonx.ai",
    conn_type="ft_watsonx",
    dialect=WatsonxDialect,
    form=ConnectionForm(
        fields=(
            ConnField("project_id", "Project ID", "The project whose fine-tunings are read. Set this or space_id."),
            ConnField(
                "space_id", "Space ID", "The deployment space whose fine-tunings are read, instead of a project."
            ),
            ConnField(
                "region",
                "Region",
                "Where the service runs: us-south (the default), eu-de, eu-gb, jp-tok, au-syd, ca-tor.",
            ),
            ConnField(
                "url", "Service URL", "The service's whole URL instead of region, e.g. https://eu-de.ml.cloud.ibm.com."
            ),
            ConnField(
                "version",
                "API version",
                f"The version date every call carries (default {DEFAULT_VERSION}).",
                default=None,
            ),
            ConnField(
                "iam_url", "IAM token URL", f"Where the API key is exchanged for a token (default {DEFAULT_IAM_URL})."
            ),
            ConnField(
                "access_token",
                "IAM access token",
                "A bearer token minted elsewhere, used as given instead of an API key (it expires after about an "
                "hour: an API key in Password is refreshed, this is not).",
                secret=True,
            ),
            *COMMON_FIELDS,
        ),
        key_field_label="IBM Cloud API key",
        host_placeholder="https://us-south.ml.cloud.ibm.com",
    ),
    hook_class_name="WatsonxTuningHook",
    hook_module="airflow_ft_provider.hooks.watsonx",
)
