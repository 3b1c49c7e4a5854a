"""Gemini API tuned models (``generativelanguage.googleapis.com/v1beta/tunedModels``).

No model can be tuned on the Gemini API since May 2025 and no cancel method was ever
published; existing tuned models can still be read and listed. Cancel is sent the way
google-genai sends it (``POST tunedModels/{id}:cancel``) so that a platform which does
answer it works, and a "no such method" answer becomes a clear
:class:`OperationNotSupportedError` instead of a misleading "job not found".
"""

from __future__ import annotations

import re
from typing import Any, Self

from airflow_ft_provider.connection_fields import ConnectionForm
from airflow_ft_provider.errors import OperationNotSupportedError, TuningJobError
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import EMPTY_OBJECT
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.fields import mapping, parse_time, text
from airflow_ft_provider.platforms.google_errors import google_error, google_retry_hint, read_status
from airflow_ft_provider.platforms.ids import check_id_text, invalid_id
from airflow_ft_provider.platforms.paging import google_page_tokens
from airflow_ft_provider.platforms.record import ApiKeyAuth, PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

STATES = StateTable(
    {
        "STATE_UNSPECIFIED": TuningJobState.UNKNOWN,
        "CREATING": TuningJobState.RUNNING,
        "ACTIVE": TuningJobState.SUCCEEDED,
        "FAILED": TuningJobState.FAILED,
    },
    timeline={
        Phase.QUEUED: "CREATING",
        Phase.PENDING: "CREATING",
        Phase.RUNNING: "CREATING",
        Phase.CANCELLING: "CREATING",
        Phase.SUCCEEDED: "ACTIVE",
        Phase.FAILED: "FAILED",
        Phase.CANCELLED: "FAILED",
    },
)

CANCEL_UNSUPPORTED = (
    "Cancelling tuning is not supported on the Gemini API (it has no cancel method; no model can be "
    "tuned there since May 2025). Delete the tuned model instead, or run tuning on Vertex AI and use "
    "an ft_vertex_ai connection."
)

_ID = r"[a-z0-9][a-z0-9-]{0,62}"
_NAME = re.compile(rf"(?:tunedModels/)?({_ID})")
_API_VERSION = re.compile(r"v[0-9]+(?:(?:alpha|beta)[0-9]*)?")


class GeminiDialect(Dialect):
    platform = "gemini"
    id_pattern = re.compile(_ID)
    id_example = "tunedModels/my-model-abc123"
    states = STATES
    #: Google's ``Empty``, should a Gemini API ever answer the cancel google-genai sends.
    cancel_ack = EMPTY_OBJECT
    #: ``pageSize`` 1-1,000 (default 10) / ``pageToken`` -> ``{"tunedModels", "nextPageToken"}``.
    paging = google_page_tokens("tunedModels", default=10)

    def __init__(self, base_url: str = DEFAULT_BASE_URL, api_version: str = "v1beta") -> None:
        if not _API_VERSION.fullmatch(api_version):
            raise ValueError(f"Gemini API version {api_version!r:.80} is not valid; expected e.g. 'v1beta'.")
        super().__init__(base_url)
        self.api_version = api_version

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        return cls(base_url or DEFAULT_BASE_URL)

    def model_id(self, job_id: object) -> str:
        """The bare tuned-model id of ``tunedModels/{id}`` or ``{id}``, or :class:`InvalidJobIdError`."""
        check_id_text(job_id, self.platform, self.id_example)
        assert isinstance(job_id, str)
        match = _NAME.fullmatch(job_id)
        if not match:
            raise invalid_id(job_id, self.platform, self.id_example)
        return match.group(1)

    def canonical_id(self, job_id: object) -> str:
        return f"tunedModels/{self.model_id(job_id)}"

    def get_request(self, job_id: str) -> ApiRequest:
        model = self.model_id(job_id)
        url = self.url(self.api_version, "tunedModels", model)
        return ApiRequest(Operation.GET, "GET", url, job_id=f"tunedModels/{model}")

    def list_url(self) -> str:
        return self.url(self.api_version, "tunedModels")

    def cancel_request(self, job_id: str) -> ApiRequest:
        model = self.model_id(job_id)
        url = self.url(self.api_version, "tunedModels", model, suffix=":cancel")
        return ApiRequest(Operation.CANCEL, "POST", url, json={}, job_id=f"tunedModels/{model}")

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        status = read_status(response)
        if request.operation is Operation.CANCEL and _no_cancel_method(response.status_code, status.message, request):
            return OperationNotSupportedError(
                CANCEL_UNSUPPORTED,
                platform=self.platform,
                status_code=response.status_code,
                native_code=status.status,
                job_id=request.job_id,
            )
        return google_error(response, request, self.platform, status=status)

    def retry_hint(self, response: ApiResponse) -> float | None:
        return google_retry_hint(response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Tuned model record is not a JSON object", response)
        name = text(item.get("name"))
        native = item.get("state", "STATE_UNSPECIFIED")  # proto3 JSON omits the zero enum value
        state = self.map_state(native)
        task = mapping(item.get("tuningTask"))
        return self.job(
            response,
            job_id=name,
            state=state,
            native_state=str(native),
            display_name=text(item.get("displayName")),
            base_model=text(item.get("baseModel")),
            # The tuned model is the resource itself, usable once ACTIVE.
            tuned_model=name if state is TuningJobState.SUCCEEDED else None,
            created_at=parse_time(item.get("createTime")),
            started_at=parse_time(task.get("startTime")),
            updated_at=parse_time(item.get("updateTime")),
            ended_at=parse_time(task.get("completeTime")),
            # AI Studio has no page per tuned model since tuning was withdrawn.
            console_url=None,
        )


def _no_cancel_method(status_code: int, message: str | None, request: ApiRequest) -> bool:
    """A 405/501, or a 404 that is about the method rather than the tuned model.

    Google answers an unknown method with a 404 ("Method not found.", or an HTML page); a
    404 for a missing model names it. Which one the Gemini API sends is not documented.
    """
    if status_code in (405, 501):
        return True
    if status_code != 404:
        return False
    return not (message and request.job_id and _names_model(message, request.job_id))


def _names_model(message: str, name: str) -> bool:
    """Whether the message mentions the model's id as a whole word (bare or in its name)."""
    model = name.removeprefix("tunedModels/")
    return re.search(rf"(?<![a-z0-9-]){re.escape(model)}(?![a-z0-9-])", message) is not None


RECORD = PlatformRecord(
    name="gemini",
    title="Gemini API",
    conn_type="ft_gemini",
    hook_name_note="tuned models",
    dialect=GeminiDialect,
    form=ConnectionForm(host_placeholder=DEFAULT_BASE_URL),
    hook_class_name="GeminiTuningHook",
    # A header, never ?key=: URLs are logged, headers are not.
    api_key=ApiKeyAuth("Gemini API key", header="x-goog-api-key", scheme=None),
    can_cancel=False,
)
