"""Vertex AI tuning jobs (``projects/{p}/locations/{l}/tuningJobs``, REST v1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.errors import InvalidJobIdError
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Operation
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.fields import mapping, parse_time, string_labels, text
from airflow_ft_provider.platforms.ids import check_id_text, invalid_id
from airflow_ft_provider.platforms.labels import LabelRules
from airflow_ft_provider.platforms.paging import google_page_tokens
from airflow_ft_provider.platforms.record import PlatformRecord
from airflow_ft_provider.platforms.resource_names import ResourceNameDialect, job_state
from airflow_ft_provider.platforms.states import Phase, StateTable

DEFAULT_LOCATION = "us-central1"

STATES = StateTable(
    {
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
    },
    timeline={
        Phase.QUEUED: "JOB_STATE_QUEUED",
        Phase.PENDING: "JOB_STATE_PENDING",
        Phase.RUNNING: "JOB_STATE_RUNNING",
        Phase.CANCELLING: "JOB_STATE_CANCELLING",
        Phase.SUCCEEDED: "JOB_STATE_SUCCEEDED",
        Phase.FAILED: "JOB_STATE_FAILED",
        Phase.CANCELLED: "JOB_STATE_CANCELLED",
    },
)

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


class VertexAIDialect(ResourceNameDialect):
    platform = "vertex_ai"
    id_pattern = _BARE_ID
    id_example = "projects/my-project/locations/us-central1/tuningJobs/1234567890123456789"
    states = STATES
    #: ``pageSize`` 1-1,000 / ``pageToken`` -> ``{"tuningJobs", "nextPageToken"}``.
    paging = google_page_tokens("tuningJobs", default=100)

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

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras, default_project: str | None = None) -> Self:
        """``default_project``: the one the credentials name, used when the extras name none."""
        project = extras.text("project") or default_project
        if not project:
            raise ExtraError(
                "it names no Google Cloud project. Set the 'project' extra (Project ID) to the project "
                "that owns the tuning jobs."
            )
        location = extras.text("location", DEFAULT_LOCATION) or DEFAULT_LOCATION
        try:
            return cls(base_url, project=project, location=location, quota_project=extras.text("quota_project"))
        except ValueError as exc:
            raise ExtraError(f"{exc} Fix it in the extras.") from None

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

    def canonical_id(self, job_id: object) -> str:
        return str(self.job_name(job_id))

    def job_key(self, job_id: str) -> str:
        """Location and job number: Vertex AI names a job by project *number* where the request may
        use the project id, and the short forms name the connection's project and location."""
        try:
            name = self.job_name(job_id)
        except InvalidJobIdError:
            return job_id
        return f"{name.location}/{name.job}"

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

    def list_url(self) -> str:
        """The connection's project and location's jobs, on that location's host."""
        return self._url(self.location, "projects", self.project, "locations", self.location, "tuningJobs")

    def cancel_request(self, job_id: str) -> ApiRequest:
        name = self.job_name(job_id)
        return self.cancel_method(self._job_url(name), str(name))

    # -- responses ----------------------------------------------------------------------
    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Tuning job record is not a JSON object", response)
        name = text(item.get("name"))
        native = job_state(item)
        error = mapping(item.get("error"))
        tuned = mapping(item.get("tunedModel"))
        return self.job(
            response,
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
            console_url=console_url(name) if name else None,
            labels=string_labels(item.get("labels"), scalars=False),  # always strings on Vertex AI
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


RECORD = PlatformRecord(
    name="vertex_ai",
    title="Vertex AI",
    conn_type="ft_vertex_ai",
    dialect=VertexAIDialect,
    form=ConnectionForm(
        fields=(
            ConnField("project", "Project ID", "Google Cloud project that owns the tuning jobs."),
            ConnField(
                "location", "Location", "Region of the jobs, e.g. us-central1 or global.", default=DEFAULT_LOCATION
            ),
            ConnField(
                "keyfile_dict",
                "Key JSON as in Google's provider (keyfile_dict)",
                'The same key as "Service account key (JSON)", in the extra where Google\'s provider keeps '
                "it; fill one of the two.",
                secret=True,
            ),
            ConnField("key_path", "Key file path", "Path to a service-account JSON key on the workers."),
            ConnField(
                "access_token",
                "Access token",
                "An OAuth2 access token to use as is (short-lived; for tests and special setups).",
                secret=True,
            ),
            ConnField("quota_project", "Quota project", "Sent as x-goog-user-project for billing and quota."),
            *COMMON_FIELDS,
        ),
        key_field_label="Service account key (JSON)",
        host_placeholder=default_base_url(DEFAULT_LOCATION),
    ),
    hook_class_name="VertexAITuningHook",
    hook_module="airflow_ft_provider.hooks.vertex_ai",
    # A user's existing Google Cloud connection works for Vertex AI as well.
    also_conn_types=("google_cloud_platform",),
    has_labels=True,
    # Keys and values: at most 63 lower-case letters, digits, "_" and "-" (keys start with a letter).
    labels=LabelRules("labels", max_key_length=63, max_value_length=63, charset="a-z0-9_-", lowercase=True),
    requests_per_minute=540,
    quota_source="Vertex AI allows 600 resource-management requests per minute per project and region; "
    "90 % of it, leaving room for the console and other clients",
)
