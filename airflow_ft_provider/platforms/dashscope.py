"""Alibaba Cloud Model Studio (DashScope) fine-tunes (``/api/v1/fine-tunes``).

DashScope wraps every answer in ``{"request_id", "output": {...}}`` and writes times as
``YYYY-MM-DD HH:MM:SS`` without a zone. Both regions are read as UTC+8: Beijing (``cn``)
is China Standard Time and the international endpoint is served from Singapore, also
UTC+8, so one default fits both; ``naive_tz`` exists for hosts that differ.

A job object may carry its own ``code``/``message`` (a cancelled job shows
``"code": "1"``); only the HTTP status marks a failed request, and the job's message is
read as its error only when the job FAILED.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timezone
from typing import Any, Self

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import JobUsage, TuningJob, TuningJobState
from airflow_ft_provider.platforms.acks import Ack, AckKind
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.fields import CHINA_STANDARD_TIME, count, parse_time, text
from airflow_ft_provider.platforms.http_errors import error_by_status
from airflow_ft_provider.platforms.paging import NumberedPages, PageSize
from airflow_ft_provider.platforms.record import ApiKeyAuth, PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

#: Region name (the connection's ``region`` extra) -> API base URL.
BASE_URLS = {
    "cn": "https://dashscope.aliyuncs.com/api/v1",
    "intl": "https://dashscope-intl.aliyuncs.com/api/v1",
}
#: The default region, stated because Alibaba's pages disagree: one says the fine-tuning API is served
#: only in China (Beijing), others show ``dashscope-intl`` examples. Keys and jobs belong to one
#: region, so the default cannot be right for everyone; ``intl`` stays the default (changing it would
#: send every connection without a ``region`` extra to another region's endpoint, which refuses its
#: key), and the form and docs say to pick ``cn`` for jobs created in Beijing.
DEFAULT_REGION = "intl"

STATES = StateTable(
    {
        "PENDING": TuningJobState.PENDING,
        # QUEUING and CANCELING are undocumented but plausible; CANCELLED/CANCELLING (two L)
        # are tolerated in case the spelling is ever aligned with the rest of the world.
        "QUEUING": TuningJobState.QUEUED,
        "RUNNING": TuningJobState.RUNNING,
        "CANCELING": TuningJobState.CANCELLING,
        "CANCELLING": TuningJobState.CANCELLING,
        "SUSPENDED": TuningJobState.PAUSED,
        "SUCCEEDED": TuningJobState.SUCCEEDED,
        "FAILED": TuningJobState.FAILED,
        "CANCELED": TuningJobState.CANCELLED,
        "CANCELLED": TuningJobState.CANCELLED,
        "UNKNOWN": TuningJobState.UNKNOWN,
    },
    timeline={
        Phase.QUEUED: "PENDING",
        Phase.PENDING: "PENDING",
        Phase.RUNNING: "RUNNING",
        Phase.CANCELLING: "CANCELING",
        Phase.SUCCEEDED: "SUCCEEDED",
        Phase.FAILED: "FAILED",
        Phase.CANCELLED: "CANCELED",
    },
)

#: What to check when DashScope refuses; keys and jobs belong to one region and workspace.
_HINTS = {
    401: "Check the API key in the connection's Password and its region: cn and intl keys differ.",
    404: "Check the job id and the connection's region, workspace and host.",
}


class DashScopeDialect(Dialect):
    platform = "dashscope"
    id_pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
    id_example = "ft-202410291653-1c7f"
    states = STATES
    #: ``{"request_id": ..., "output": {"status": "success"}}``: no job to report.
    cancel_ack = Ack(AckKind.FIELD, path=("output", "status"), value="success")
    #: ``page_no`` / ``page_size`` (1-100, default 10) -> ``output: {page_no, page_size, total, jobs}``;
    #: the first page names the others, up to 100 pages (10,000 jobs).
    paging = NumberedPages(PageSize("page_size", 100, default=10, oversize_capped=False))

    def __init__(
        self,
        base_url: str = BASE_URLS[DEFAULT_REGION],
        workspace: str | None = None,
        naive_tz: timezone = CHINA_STANDARD_TIME,
    ) -> None:
        super().__init__(base_url)
        self.naive_tz = naive_tz
        self.headers = {"X-DashScope-WorkSpace": workspace} if workspace else {}

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        # The region is checked even when host overrides the URL: a wrong value is a mistake either way.
        region = extras.choice("region", BASE_URLS, DEFAULT_REGION)
        return cls(base_url or BASE_URLS[region], workspace=extras.text("workspace"))

    def get_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(Operation.GET, "GET", self.url("fine-tunes", job_id), headers=self.headers, job_id=job_id)

    def list_url(self) -> str:
        return self.url("fine-tunes")

    def cancel_request(self, job_id: str) -> ApiRequest:
        job_id = self.canonical_id(job_id)
        return ApiRequest(
            Operation.CANCEL,
            "POST",
            self.url("fine-tunes", job_id, "cancel"),
            headers=self.headers,
            job_id=job_id,
        )

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(self._output(response), response)

    def list_body(self, response: ApiResponse) -> Mapping[str, Any]:
        return self._output(response)

    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Job record is not a JSON object", response)
        native = item.get("status")
        state = self.map_state(native)
        return self.job(
            response,
            job_id=text(item.get("job_id")),
            state=state,
            native_state=str(native),
            display_name=text(item.get("job_name")),
            # 'model' is what the job was tuned from (possibly an earlier tuned model);
            # 'base_model' is the foundation model under it, used when 'model' is absent.
            base_model=text(item.get("model")) or text(item.get("base_model")),
            tuned_model=text(item.get("finetuned_output")),
            created_at=parse_time(item.get("create_time"), self.naive_tz),
            ended_at=parse_time(item.get("end_time"), self.naive_tz),
            error_message=text(item.get("message")) if state is TuningJobState.FAILED else None,
            # ``usage``: the tokens the job trained on, which are what a fine-tune is billed by.
            usage=None if (tokens := count(item.get("usage"))) is None else JobUsage(billable_tokens=tokens),
        )

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        status = response.status_code
        try:
            body = response.json_object(self.platform)
        except TuningJobError:
            body = {}
        code = text(body.get("code"))
        message = text(body.get("message")) or f"HTTP {status} from DashScope"
        if status in _HINTS:
            message = f"{message.rstrip('.! ')}. {_HINTS[status]}"
        return error_by_status(
            response,
            message,
            cancel_refused=request.operation is Operation.CANCEL and (status == 409 or code == "UnsupportedOperation"),
            platform=self.platform,
            native_code=code,
            request_id=text(body.get("request_id")),
            job_id=request.job_id,
        )

    def _output(self, response: ApiResponse) -> dict[str, Any]:
        output = response.json_object(self.platform).get("output")
        if not isinstance(output, dict):
            raise self.malformed("Answer has no 'output' object", response)
        return output


RECORD = PlatformRecord(
    name="dashscope",
    title="DashScope",
    conn_type="ft_dashscope",
    hook_name_note="Model Studio",
    dialect=DashScopeDialect,
    form=ConnectionForm(
        fields=(
            ConnField(
                "region",
                "Region",
                "The region your key and jobs belong to: cn = China (Beijing), dashscope.aliyuncs.com; intl = "
                "Singapore, dashscope-intl.aliyuncs.com (the default). Alibaba's pages disagree on where "
                "fine-tuning is served (one says Beijing only): choose cn if your jobs were created in Beijing.",
                default=DEFAULT_REGION,
                choices=tuple(BASE_URLS),
            ),
            ConnField("workspace", "Workspace ID", "Sent as X-DashScope-WorkSpace when set."),
            *COMMON_FIELDS,
        ),
        host_placeholder=BASE_URLS[DEFAULT_REGION],
    ),
    hook_class_name="DashScopeTuningHook",
    api_key=ApiKeyAuth("DashScope API key"),
)
