"""What Google-shaped REST APIs share, inside Google (Vertex AI) and outside it (Fireworks AI).

Jobs named by resource names (AIP-122), cancelled by a custom ``:cancel`` method (AIP-136) that
answers ``google.protobuf.Empty``, errors as ``google.rpc.Status`` bodies with their ``RetryInfo``
(:mod:`.google_errors`), records in proto3 JSON (an enum at its zero value is left out). A
dialect of such an API subclasses :class:`ResourceNameDialect` and writes only its names and fields.
"""

from __future__ import annotations

from typing import Any

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import TuningJob
from airflow_ft_provider.platforms.acks import EMPTY_OBJECT
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.google_errors import google_error, google_retry_hint

#: ``JobState``'s zero value, which proto3 JSON leaves out of a record.
UNSPECIFIED_JOB_STATE = "JOB_STATE_UNSPECIFIED"


class ResourceNameDialect(Dialect):
    """A Google-shaped API's dialect: the cancel method, the answers and the errors it shares."""

    #: ``google.protobuf.Empty``: the JSON object ``{}``.
    cancel_ack = EMPTY_OBJECT

    def cancel_method(self, job_url: str, name: str) -> ApiRequest:
        """``POST {job_url}:cancel`` with ``{}``, about the job named ``name``."""
        return ApiRequest(Operation.CANCEL, "POST", job_url + ":cancel", json={}, headers=self.headers, job_id=name)

    def parse_job(self, response: ApiResponse) -> TuningJob:
        return self.job_from_json(response.json_object(self.platform), response)

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        return google_error(response, request, self.platform)

    def retry_hint(self, response: ApiResponse) -> float | None:
        return google_retry_hint(response)


def job_state(record: dict[str, Any]) -> object:
    """A record's native ``state``: proto3 JSON omits it at its zero value, ``JOB_STATE_UNSPECIFIED``."""
    return record.get("state", UNSPECIFIED_JOB_STATE)
