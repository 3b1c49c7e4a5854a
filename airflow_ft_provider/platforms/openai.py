"""OpenAI fine-tuning jobs (``/v1/fine_tuning/jobs``), also spoken by OpenAI-compatible hosts."""

from __future__ import annotations

import re
from typing import Any

from airflow_ft_provider.errors import (
    TuningJobError,
)
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState
from airflow_ft_provider.platforms.base import (
    ApiRequest,
    ApiResponse,
    Dialect,
    Operation,
    Page,
    error_by_status,
    parse_time,
    text,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

STATES = {
    "validating_files": TuningJobState.PENDING,
    "queued": TuningJobState.QUEUED,
    "running": TuningJobState.RUNNING,
    "paused": TuningJobState.PAUSED,
    "succeeded": TuningJobState.SUCCEEDED,
    "failed": TuningJobState.FAILED,
    "cancelled": TuningJobState.CANCELLED,
}


class OpenAIDialect(Dialect):
    platform = Platform.OPENAI
    # OpenAI ids are ``ftjob-<alnum>``; compatible hosts use other shapes, so allow the
    # characters ids are made of, but nothing that changes a URL's path or query.
    id_pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
    id_example = "ftjob-abc123"
    states = STATES

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, organization: str | None = None, project: str | None = None
    ) -> None:
        super().__init__(base_url)
        self.headers = {
            name: value for name, value in (("OpenAI-Organization", organization), ("OpenAI-Project", project)) if value
        }

    def get_request(self, job_id: str) -> ApiRequest:
        job_id = self.check_job_id(job_id)
        return ApiRequest(
            Operation.GET, "GET", self.url("fine_tuning", "jobs", job_id), headers=self.headers, job_id=job_id
        )

    def list_request(self, page_token: str | None, page_size: int | None) -> ApiRequest:
        params = {"limit": str(page_size or 100)}
        if page_token:
            params["after"] = page_token
        return ApiRequest(Operation.LIST, "GET", self.url("fine_tuning", "jobs"), params=params, headers=self.headers)

    def cancel_request(self, job_id: str) -> ApiRequest:
        job_id = self.check_job_id(job_id)
        return ApiRequest(
            Operation.CANCEL,
            "POST",
            self.url("fine_tuning", "jobs", job_id, "cancel"),
            headers=self.headers,
            job_id=job_id,
        )

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def parse_cancel(self, response: ApiResponse, request: ApiRequest) -> TuningJob | None:
        return self.parse_job(response)

    def parse_page(self, response: ApiResponse, request: ApiRequest) -> Page:
        body = response.json_object(self.platform)
        data = body.get("data")
        if not isinstance(data, list):
            raise self.malformed("List answer has no 'data' array", response)
        jobs = [self.job_from_json(item, response) for item in data]
        more = body.get("has_more") is True
        return Page(jobs, jobs[-1].job_id if more and jobs else None)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict) or not text(item.get("id")):
            raise self.malformed("Job object without an 'id'", response)
        native = item.get("status")
        error = item.get("error") if isinstance(item.get("error"), dict) else {}
        labels = _labels(item.get("metadata"))
        return TuningJob(
            platform=self.platform,
            job_id=item["id"],
            state=self.map_state(native),
            native_state=str(native),
            display_name=text(item.get("user_provided_suffix")) or text(item.get("suffix")) or labels.get("name"),
            base_model=text(item.get("model")),
            tuned_model=text(item.get("fine_tuned_model")),
            created_at=parse_time(item.get("created_at")),
            ended_at=parse_time(item.get("finished_at")),
            error_message=text(error.get("message")) if error else None,
            console_url=self.console_url(item["id"]),
            labels=labels,
        )

    def console_url(self, job_id: str) -> str | None:
        if self.base_url == DEFAULT_BASE_URL:
            return f"https://platform.openai.com/finetune/{job_id}"
        return None

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        return openai_style_error(response, request, self.platform, "OpenAI")


def openai_style_error(response: ApiResponse, request: ApiRequest, platform: Platform, vendor: str) -> TuningJobError:
    """The error of an OpenAI-shaped API (OpenAI, Together AI, compatible hosts).

    Documented body: ``{"error": {"message", "type", "param", "code"}}``; a flat body with the
    same keys is tolerated (Together answers some errors that way).
    """
    status = response.status_code
    try:
        body = response.json_object(platform)
    except TuningJobError:
        body = {}
    nested = body.get("error")
    error = nested if isinstance(nested, dict) else body
    message = text(error.get("message")) or text(nested) or f"HTTP {status} from {vendor}"
    code = text(error.get("code")) or text(error.get("type"))
    return error_by_status(
        response,
        message,
        # A cancel carries no body or parameters and the id is checked before sending, so a
        # 400/409 to it can only be about the job's state (already ended or cancelling).
        cancel_refused=request.operation is Operation.CANCEL and status in (400, 409),
        quota_exhausted=code == "insufficient_quota",
        platform=platform,
        native_code=code,
        request_id=response.headers.get("x-request-id"),
        job_id=request.job_id,
    )


def _labels(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict):
        return {}
    return {str(k): str(v) for k, v in metadata.items() if isinstance(v, str | int | float | bool)}
