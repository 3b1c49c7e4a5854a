"""Vertex AI tuning jobs (``projects/{p}/locations/{l}/tuningJobs``, REST v1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState
from airflow_ft_provider.platforms.base import (
    ApiRequest,
    ApiResponse,
    Dialect,
    Operation,
    Page,
    check_id_text,
    invalid_id,
    parse_time,
    text,
)
from airflow_ft_provider.platforms.google_errors import google_error, load_json

DEFAULT_LOCATION = "us-central1"

STATES = {
    "JOB_STATE_UNSPECIFIED": TuningJobState.UNKNOWN,
    "JOB_STATE_QUEUED": TuningJobState.QUEUED,
    "JOB_STATE_PENDING": TuningJobState.PENDING,
    "JOB_STATE_RUNNING": TuningJobState.RUNNING,
    # An update of a running job (its labels, say): still running and billed.
    "JOB_STATE_UPDATING": TuningJobState.RUNNING,
    "JOB_STATE_CANCELLING": TuningJobState.CANCELLING,
    "JOB_STATE_PAUSED": TuningJobState.PAUSED,
    "JOB_STATE_SUCCEEDED": TuningJobState.SUCCEEDED,
    # Terminal with a usable (if incomplete) result: for a cancel it is "the job won the
    # race", like SUCCEEDED. native_state keeps the difference for whoever needs it.
    "JOB_STATE_PARTIALLY_SUCCEEDED": TuningJobState.SUCCEEDED,
    "JOB_STATE_FAILED": TuningJobState.FAILED,
    "JOB_STATE_CANCELLED": TuningJobState.CANCELLED,
    "JOB_STATE_EXPIRED": TuningJobState.EXPIRED,
}

# Project ids are 6-30 characters, but the server names jobs by project *number*, and
# legacy domain-scoped ids ("example.com:my-project") exist, so accept those shapes.
_PROJECT = r"(?:[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?:)?[a-z0-9][a-z0-9-]{0,62}"
_LOCATION = r"[a-z][a-z0-9-]{0,62}"
_JOB = r"[0-9]{1,20}"
_FULL_NAME = re.compile(rf"projects/({_PROJECT})/locations/({_LOCATION})/tuningJobs/({_JOB})")
_SHORT_NAME = re.compile(rf"tuningJobs/({_JOB})")
_BARE_ID = re.compile(_JOB)
_API_VERSION = re.compile(r"v[0-9]+(?:(?:alpha|beta)[0-9]*)?")
# Google's own hosts, regional or global: a job in another region must go to its region's host.
_GOOGLE_HOST = re.compile(r"https://(?:[a-z0-9-]+-)?aiplatform\.googleapis\.com")

CONSOLE_URL = (
    "https://console.cloud.google.com/vertex-ai/generative/language/locations/{location}"
    "/tuning/tuningJob/{job}?project={project}"
)


def default_base_url(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


@dataclass(frozen=True)
class JobName:
    """A tuning job's resource name, split into its parts."""

    project: str
    location: str
    job: str

    def __str__(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/tuningJobs/{self.job}"

    @classmethod
    def parse(cls, name: str) -> JobName | None:
        match = _FULL_NAME.fullmatch(name)
        return cls(*match.groups()) if match and ".." not in name else None


class VertexAIDialect(Dialect):
    platform = Platform.VERTEX_AI
    id_pattern = _BARE_ID
    id_example = "projects/my-project/locations/us-central1/tuningJobs/1234567890123456789"
    states = STATES

    def __init__(
        self,
        base_url: str | None,
        project: str,
        location: str = DEFAULT_LOCATION,
        api_version: str = "v1",
        quota_project: str | None = None,
    ) -> None:
        """Raises ``ValueError`` naming the bad setting; the hook words it for the connection."""
        _check_setting("project", project, _PROJECT, "my-project")
        _check_setting("location", location, _LOCATION, DEFAULT_LOCATION)
        _check_setting("API version", api_version, _API_VERSION.pattern, "v1")
        if quota_project is not None:
            _check_setting("quota project", quota_project, _PROJECT, "my-billing-project")
        super().__init__(base_url or default_base_url(location))
        self.project, self.location, self.api_version = project, location, api_version
        self.headers = {"x-goog-user-project": quota_project} if quota_project else {}

    # -- ids and URLs -------------------------------------------------------------------
    def job_name(self, job_id: object) -> JobName:
        """The full resource name for any accepted id form, or :class:`InvalidJobIdError`.

        Accepted: ``projects/{p}/locations/{l}/tuningJobs/{id}``, ``tuningJobs/{id}`` and a
        bare numeric ``{id}``; the short forms are in the connection's project and location.
        """
        check_id_text(job_id, self.platform, self.id_example)
        assert isinstance(job_id, str)
        if full := JobName.parse(job_id):
            return full
        if short := _SHORT_NAME.fullmatch(job_id):
            return JobName(self.project, self.location, short.group(1))
        if _BARE_ID.fullmatch(job_id):
            return JobName(self.project, self.location, job_id)
        raise invalid_id(job_id, self.platform, self.id_example)

    def check_job_id(self, job_id: object) -> str:
        return str(self.job_name(job_id))

    def _host(self, location: str) -> str:
        """The base URL serving ``location``: its regional host when talking to Google itself."""
        if location != self.location and _GOOGLE_HOST.fullmatch(self.base_url):
            return default_base_url(location)
        return self.base_url

    def _url(self, location: str, *segments: str, suffix: str = "") -> str:
        escaped = (quote(s, safe="") for s in segments)
        return "/".join([self._host(location), self.api_version, *escaped]) + suffix

    def _job_url(self, name: JobName, suffix: str = "") -> str:
        return self._url(
            name.location,
            "projects",
            name.project,
            "locations",
            name.location,
            "tuningJobs",
            name.job,
            suffix=suffix,
        )

    # -- requests -----------------------------------------------------------------------
    def get_request(self, job_id: str) -> ApiRequest:
        name = self.job_name(job_id)
        return ApiRequest(Operation.GET, "GET", self._job_url(name), headers=self.headers, job_id=str(name))

    def list_request(self, page_token: str | None, page_size: int | None, list_filter: str | None = None) -> ApiRequest:
        """One page of the connection's jobs; ``list_filter`` is Vertex AI's list filter syntax."""
        params = {"pageSize": str(max(1, page_size or 100))}
        if page_token:
            params["pageToken"] = page_token
        if list_filter:
            params["filter"] = list_filter
        url = self._url(self.location, "projects", self.project, "locations", self.location, "tuningJobs")
        return ApiRequest(Operation.LIST, "GET", url, params=params, headers=self.headers)

    def cancel_request(self, job_id: str) -> ApiRequest:
        name = self.job_name(job_id)
        return ApiRequest(
            Operation.CANCEL,
            "POST",
            self._job_url(name, suffix=":cancel"),
            json={},
            headers=self.headers,
            job_id=str(name),
        )

    # -- responses ----------------------------------------------------------------------
    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(load_json(response, self.platform), response)

    def parse_page(self, response: ApiResponse, request: ApiRequest) -> Page:
        body = load_json(response, self.platform)
        items = body.get("tuningJobs", [])  # proto3 JSON leaves an empty list out
        if not isinstance(items, list):
            raise self.malformed("List answer's 'tuningJobs' is not an array", response)
        return Page([self.job_from_json(item, response) for item in items], text(body.get("nextPageToken")))

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        return google_error(response, request, self.platform)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        name = text(item.get("name")) if isinstance(item, dict) else None
        if name is None:
            raise self.malformed("Tuning job without a 'name'", response)
        # proto3 JSON omits enum fields at their zero value, JOB_STATE_UNSPECIFIED.
        native = item.get("state", "JOB_STATE_UNSPECIFIED")
        error = item.get("error") if isinstance(item.get("error"), dict) else {}
        tuned = item.get("tunedModel") if isinstance(item.get("tunedModel"), dict) else {}
        return TuningJob(
            platform=self.platform,
            job_id=name,
            state=self.map_state(native),
            native_state=str(native),
            display_name=text(item.get("tunedModelDisplayName")),
            base_model=text(item.get("baseModel")),
            tuned_model=text(tuned.get("model")),
            created_at=parse_time(item.get("createTime")),
            started_at=parse_time(item.get("startTime")),
            updated_at=parse_time(item.get("updateTime")),
            ended_at=parse_time(item.get("endTime")),
            error_message=text(error.get("message")),
            console_url=console_url(name),
            labels=_labels(item.get("labels")),
        )


def _check_setting(what: str, value: object, pattern: str, example: str) -> None:
    if not isinstance(value, str) or ".." in value or not re.fullmatch(pattern, value):
        raise ValueError(f"Vertex AI {what} {value!r:.80} is not valid; expected something like {example!r}.")


def console_url(name: str) -> str | None:
    """The job's Cloud Console page. Built from the name alone: behind a proxy or a Private
    Service Connect host the job is still a Google job, and an emulator's link is harmless."""
    parsed = JobName.parse(name)
    if parsed is None:
        return None
    return CONSOLE_URL.format(
        location=quote(parsed.location, safe=""),
        job=parsed.job,
        project=quote(parsed.project, safe=""),
    )


def _labels(labels: Any) -> dict[str, str]:
    if not isinstance(labels, dict):
        return {}
    return {str(k): v for k, v in labels.items() if isinstance(v, str)}
