"""The "open this job in the platform's console" button on task instances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey

#: XCom key under which operators and sensors push the job's console URL.
CONSOLE_URL_XCOM_KEY = "tuning_job_console_url"


class TuningJobConsoleLink(BaseOperatorLink):
    """Links to the job in its platform's web console, when the platform has one."""

    name = "Tuning job console"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:  # type: ignore[override]
        url = XCom.get_value(key=CONSOLE_URL_XCOM_KEY, ti_key=ti_key)
        return url if isinstance(url, str) and url.startswith("https://") else ""
