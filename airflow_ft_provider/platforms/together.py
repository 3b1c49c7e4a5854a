"""Together AI fine-tunes (``/v1/fine-tunes``).

Together lists every job in one answer (no pagination) and cancels asynchronously: the
cancel answer is the truncated job, usually in ``cancel_requested``. ``compressing`` and
``uploading`` come after training but the job is still active, so they count as RUNNING.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Self

from airflow_ft_provider.connection_fields import ConnectionForm
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import JobUsage, TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import JOB_RECORD
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.fields import count, parse_time, text
from airflow_ft_provider.platforms.http_errors import openai_style_error
from airflow_ft_provider.platforms.paging import Unpaged
from airflow_ft_provider.platforms.record import ApiKeyAuth, PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

#: The server of Together's OpenAPI spec and the SDK's default (togethercomputer/together-py);
#: ``api.together.xyz`` is the older name of the same API.
DEFAULT_BASE_URL = "https://api.together.ai/v1"

STATES = StateTable(
    {
        "pending": TuningJobState.PENDING,
        "queued": TuningJobState.QUEUED,
        "running": TuningJobState.RUNNING,
        "compressing": TuningJobState.RUNNING,
        "uploading": TuningJobState.RUNNING,
        "cancel_requested": TuningJobState.CANCELLING,
        "cancelled": TuningJobState.CANCELLED,
        "error": TuningJobState.FAILED,
        "user_error": TuningJobState.FAILED,
        "completed": TuningJobState.SUCCEEDED,
    },
    timeline={
        Phase.QUEUED: "queued",
        Phase.PENDING: "pending",
        Phase.RUNNING: "running",
        Phase.CANCELLING: "cancel_requested",
        Phase.SUCCEEDED: "completed",
        Phase.FAILED: "error",
        Phase.CANCELLED: "cancelled",
    },
)


class TogetherDialect(Dialect):
    platform = "together"
    id_pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
    id_example = "ft-01234567-89ab-cdef-0123-456789abcdef"
    states = STATES
    #: The job's record (truncated: status usually ``cancel_requested``).
    cancel_ack = JOB_RECORD
    #: One answer holds every job: ``{"data": [...]}``.
    paging = Unpaged("data")

    def __init__(self, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        return cls(base_url or DEFAULT_BASE_URL)

    def get_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.GET, "GET", self.url("fine-tunes", job_id), job_id=job_id)

    def list_url(self) -> str:
        return self.url("fine-tunes")

    def cancel_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.CANCEL, "POST", self.url("fine-tunes", job_id, "cancel"), job_id=job_id)

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Job record is not a JSON object", response)
        native = item.get("status")
        state = self.map_state(native)
        job_id = text(item.get("id"))
        return self.job(
            response,
            job_id=job_id,
            state=state,
            native_state=str(native),
            display_name=text(item.get("suffix")),
            base_model=text(item.get("model")),
            tuned_model=text(item.get("model_output_name")),
            created_at=parse_time(item.get("created_at")),
            started_at=parse_time(item.get("started_at")),
            updated_at=parse_time(item.get("updated_at")),
            error_message=_failure_reason(item) if state is TuningJobState.FAILED else None,
            console_url=self.console_url(job_id) if job_id else None,
            usage=price_and_tokens(item),
        )

    def console_url(self, job_id: str) -> str | None:
        """Best effort: the job page of Together's web app, which is not a documented URL."""
        if self.base_url == DEFAULT_BASE_URL:
            return f"https://api.together.ai/jobs/{job_id}"
        return None

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        return openai_style_error(response, request, self.platform, "Together AI")


#: Together states ``total_price`` in nano-dollars (its SDK's ``finetune_price_to_dollars``).
NANODOLLARS = Decimal(1_000_000_000)


def price_and_tokens(item: dict[str, Any]) -> JobUsage | None:
    """``total_price`` (USD) and ``token_count``, known once the training data is tokenized (both
    0 before). The price is the whole job's, quoted then: a cancel refunds the steps not run, so it
    is an estimate of what is billed."""
    price, tokens = count(item.get("total_price")), count(item.get("token_count"))
    if not price and not tokens:
        return None
    cost = None if price is None else (Decimal(price) / NANODOLLARS).normalize()
    if cost is not None and cost == cost.to_integral_value():
        cost = cost.quantize(Decimal(1))  # 412, not 4.12E+2
    return JobUsage(cost=cost, currency="USD" if cost is not None else None, estimated=True, billable_tokens=tokens)


def _failure_reason(item: dict[str, Any]) -> str | None:
    """Why a job failed: Together puts it in the job's events (the last error-level one), not a field."""
    events = item.get("events")
    if isinstance(events, list):
        for event in reversed(events):
            if isinstance(event, dict) and event.get("level") == "error" and text(event.get("message")):
                return str(event["message"])
    return text(item.get("error")) or text(item.get("message"))


RECORD = PlatformRecord(
    name="together",
    title="Together AI",
    conn_type="ft_together",
    dialect=TogetherDialect,
    form=ConnectionForm(host_placeholder=DEFAULT_BASE_URL),
    hook_class_name="TogetherTuningHook",
    api_key=ApiKeyAuth("Together AI API key"),
)
