"""OpenAI fine-tuning jobs (``/v1/fine_tuning/jobs``), also spoken by OpenAI-compatible hosts."""

from __future__ import annotations

import re
from typing import Any, Self

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import JobUsage, TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import JOB_RECORD
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.fields import count, mapping, parse_time, string_labels, text
from airflow_ft_provider.platforms.http_errors import openai_style_error
from airflow_ft_provider.platforms.labels import LabelRules
from airflow_ft_provider.platforms.paging import AfterIds, PageSize
from airflow_ft_provider.platforms.record import ApiKeyAuth, PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: The statuses of OpenAI's fine-tuning job reference (November 2026), ``pausing`` included: it
#: came with ``POST .../pause`` and ``/resume``. No cancelling state: a cancel reads ``cancelled``.
STATES = StateTable(
    {
        "validating_files": TuningJobState.PENDING,
        "queued": TuningJobState.QUEUED,
        "running": TuningJobState.RUNNING,
        # On its way to paused: still training (and billed) until it gets there.
        "pausing": TuningJobState.RUNNING,
        "paused": TuningJobState.PAUSED,
        "succeeded": TuningJobState.SUCCEEDED,
        "failed": TuningJobState.FAILED,
        "cancelled": TuningJobState.CANCELLED,
    },
    timeline={
        Phase.QUEUED: "queued",
        Phase.PENDING: "validating_files",
        Phase.RUNNING: "running",
        Phase.SUCCEEDED: "succeeded",
        Phase.FAILED: "failed",
        Phase.CANCELLED: "cancelled",
    },
)


class OpenAIDialect(Dialect):
    platform = "openai"
    # OpenAI ids are ``ftjob-<alnum>``; compatible hosts use other shapes, so allow the
    # characters ids are made of, but nothing that changes a URL's path or query.
    id_pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
    id_example = "ftjob-abc123"
    states = STATES
    #: The job's record (Azure OpenAI's too).
    cancel_ack = JOB_RECORD
    #: ``after`` the last id seen, ``limit`` 1-100 (20 when not given) -> ``{"data", "has_more"}``.
    paging = AfterIds(PageSize("limit", largest=100, default=20))
    #: Under the ``/v1`` of the base URL (Azure OpenAI's v1 API puts ``/openai/v1`` before it).
    jobs_path: tuple[str, ...] = ("fine_tuning", "jobs")

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, organization: str | None = None, project: str | None = None
    ) -> None:
        super().__init__(base_url)
        self.headers = {
            name: value for name, value in (("OpenAI-Organization", organization), ("OpenAI-Project", project)) if value
        }

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        return cls(base_url or DEFAULT_BASE_URL, extras.text("organization"), extras.text("project"))

    def get_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.GET, "GET", self.url(*self.jobs_path, job_id), headers=self.headers, job_id=job_id)

    def list_url(self) -> str:
        return self.url(*self.jobs_path)

    def cancel_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        url = self.url(*self.jobs_path, job_id, "cancel")
        return ApiRequest(Operation.CANCEL, "POST", url, headers=self.headers, job_id=job_id)

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Job record is not a JSON object", response)
        native = item.get("status")
        error = mapping(item.get("error"))
        labels = string_labels(item.get("metadata"))
        job_id = text(item.get("id"))
        return self.job(
            response,
            job_id=job_id,
            state=self.map_state(native),
            native_state=str(native),
            display_name=text(item.get("user_provided_suffix")) or text(item.get("suffix")) or labels.get("name"),
            base_model=text(item.get("model")),
            tuned_model=text(item.get("fine_tuned_model")),
            created_at=parse_time(item.get("created_at")),
            ended_at=parse_time(item.get("finished_at")),
            error_message=text(error.get("message")),
            console_url=self.console_url(job_id) if job_id else None,
            labels=labels,
            usage=trained_tokens(item),
        )

    def console_url(self, job_id: str) -> str | None:
        if self.base_url == DEFAULT_BASE_URL:
            return f"https://platform.openai.com/finetune/{job_id}"
        return None

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        return openai_style_error(response, request, self.platform, "OpenAI")


def trained_tokens(item: dict[str, Any]) -> JobUsage | None:
    """``trained_tokens``: the billable tokens the job processed (null until it ends, also on Azure)."""
    tokens = count(item.get("trained_tokens"))
    return None if tokens is None else JobUsage(billable_tokens=tokens)


RECORD = PlatformRecord(
    name="openai",
    title="OpenAI",
    conn_type="ft_openai",
    dialect=OpenAIDialect,
    form=ConnectionForm(
        fields=(
            ConnField("organization", "Organization ID", "Sent as OpenAI-Organization when set."),
            ConnField("project", "Project ID", "Sent as OpenAI-Project when set."),
            *COMMON_FIELDS,
        ),
        host_placeholder=DEFAULT_BASE_URL,
    ),
    hook_class_name="OpenAITuningHook",
    api_key=ApiKeyAuth("OpenAI API key"),
    has_labels=True,
    # Up to 16 pairs; keys at most 64 characters, values at most 512, any characters.
    labels=LabelRules("metadata", max_key_length=64, max_value_length=512),
)
