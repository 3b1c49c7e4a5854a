"""IBM's own client, ibm-watsonx-ai, against the watsonx.ai emulator: its start (the IAM exchange and
the project lookup), get, the list over several pages, cancel; then the provider's hook and trigger
on the same jobs.

ibm-watsonx-ai pins httpx below the release the provider is tested with, so this file runs only in
its own environment (``scripts/test``'s ``sdk_watsonx`` lane):
``PYTHONPATH=$PWD .venvs/sdk-watsonx/bin/python -m pytest -m sdk_watsonx``.

The SDK accepts only ``https://`` URLs and recognizes IBM Cloud by its hosts, so it is given IBM
Cloud's real URL and an httpx client whose transport stands in for DNS and TLS: IBM Cloud's hosts
(the service, IAM, the Watson Data API) are reached at the emulator's ``/watsonx`` prefix. Nothing
else changes: the SDK's requests, paths and queries reach the emulator as it sends them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import JobScript, airflow_connection
from airflow_ft_provider.testing.platforms.watsonx import DEFAULT_PROJECT_ID, SPEC

pytestmark = pytest.mark.sdk_watsonx
ibm_watsonx_ai = pytest.importorskip("ibm_watsonx_ai")

PLATFORM = "watsonx"
SERVICE_URL = "https://us-south.ml.cloud.ibm.com"
#: Where the SDK goes on IBM Cloud: the service, IAM's token endpoint, the project lookup.
IBM_CLOUD_HOSTS = frozenset({"us-south.ml.cloud.ibm.com", "iam.cloud.ibm.com", "api.dataplatform.cloud.ibm.com"})
NEVER_ENDS = JobScript(running_s=None)
CONN_ID = "watsonx_sdk_case"


class IbmCloudAtTheEmulator(httpx.BaseTransport):
    """IBM Cloud's hosts resolved to the emulator's watsonx.ai prefix (and its plain http), as a
    hosts file and a TLS-terminating proxy would; every other URL (a next page's) as it is."""

    def __init__(self, platform_url: str) -> None:
        self._to = httpx.URL(platform_url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in IBM_CLOUD_HOSTS:
            request.url = request.url.copy_with(
                scheme=self._to.scheme,
                host=self._to.host,
                port=self._to.port,
                raw_path=self._to.raw_path.rstrip(b"/") + request.url.raw_path,
            )
            request.headers["host"] = self._to.netloc.decode()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def client(emu: Any) -> Iterator[Any]:
    http = httpx.Client(transport=IbmCloudAtTheEmulator(emu.platform_url(PLATFORM)), timeout=10)
    credentials = ibm_watsonx_ai.Credentials(url=SERVICE_URL, api_key=emu.api_key(PLATFORM))
    yield ibm_watsonx_ai.APIClient(credentials, project_id=DEFAULT_PROJECT_ID, httpx_client=http)
    http.close()


def api_requests(emu: Any) -> list[Any]:
    return [r for r in emu.requests(PLATFORM) if r.path.startswith("/ml/v1/")]


def test_the_sdk_starts_with_an_iam_token_and_the_project(emu, client):
    paths = [(r.method, r.path, r.status) for r in emu.requests(PLATFORM)]
    assert ("POST", "/identity/token", 200) in paths
    assert ("GET", f"/v2/projects/{DEFAULT_PROJECT_ID}", 200) in paths


def test_get_list_over_pages_and_cancel(emu, client):
    ids = emu.seed_many(PLATFORM, 5, display_name="sdk-ft", script=NEVER_ENDS)
    training = client.training
    details = training.get_details(ids[0], _is_fine_tuning=True)
    assert details["metadata"]["id"] == ids[0] and details["metadata"]["name"] == "sdk-ft-0"
    assert training.get_status(ids[0], _is_fine_tuning=True)["state"] == "running"

    emu.clear_requests()
    listed = training.get_details(limit=2, get_all=True, _is_fine_tuning=True)["resources"]
    assert [r["metadata"]["id"] for r in listed] == ids[::-1]
    pages = [r for r in api_requests(emu) if r.method == "GET"]
    assert len(pages) == math.ceil(5 / 2)
    assert all("version=" in r.query and f"project_id={DEFAULT_PROJECT_ID}" in r.query for r in pages)
    assert "start=" not in pages[0].query and all("start=" in r.query for r in pages[1:])

    emu.clear_requests()
    assert training.cancel(ids[0], _is_fine_tuning=True) == "SUCCESS"
    (delete,) = [r for r in api_requests(emu) if r.method == "DELETE"]
    assert delete.status == 204 and "hard_delete" not in delete.query
    assert training.get_status(ids[0], _is_fine_tuning=True)["state"] == "canceled"
    # A second cancel meets IBM's "Job already completed with state ...", which the SDK takes as done.
    assert training.cancel(ids[0], _is_fine_tuning=True) == "SUCCESS"
    assert [r.status for r in api_requests(emu) if r.method == "DELETE"] == [204, 400]


def test_a_missing_fine_tuning_is_the_sdks_error(emu, client):
    with pytest.raises(ibm_watsonx_ai.wml_client_error.WMLClientError, match=r"404|not found"):
        client.training.get_details("8c3a2f1e-0000-4000-8000-000000000000", _is_fine_tuning=True)


def test_a_wrong_api_key_is_refused_by_iam(emu):
    http = httpx.Client(transport=IbmCloudAtTheEmulator(emu.platform_url(PLATFORM)), timeout=10)
    credentials = ibm_watsonx_ai.Credentials(url=SERVICE_URL, api_key="not-the-key")
    with http, pytest.raises(ibm_watsonx_ai.wml_client_error.WMLClientError, match="BXNIM0415E"):
        ibm_watsonx_ai.APIClient(credentials, project_id=DEFAULT_PROJECT_ID, httpx_client=http)


# -- the provider, on the same emulator ----------------------------------------------------------------
def test_the_provider_reads_lists_and_cancels_the_same_jobs_sync_and_deferred(emu, client, set_connection):
    from airflow_ft_provider.hooks.watsonx import WatsonxTuningHook
    from airflow_ft_provider.triggers.job_state import JobStateEvent, TuningJobStateTrigger

    set_connection(CONN_ID, airflow_connection(emu, PLATFORM, max_retries=0))
    ids = emu.seed_many(PLATFORM, 5, script=NEVER_ENDS)
    hook = WatsonxTuningHook(conn_id=CONN_ID)
    sdk_view = {
        r["metadata"]["id"]: r["entity"]["status"]["state"]
        for r in client.training.get_details(limit=2, get_all=True, _is_fine_tuning=True)["resources"]
    }

    emu.clear_requests()
    listed = list(hook.list_jobs(page_size=2))
    assert {job.job_id: job.native_state for job in listed} == sdk_view
    assert len([r for r in api_requests(emu) if r.method == "GET"]) == math.ceil(5 / 2)
    assert hook.get_job(ids[0]).state is TuningJobState.RUNNING
    assert hook.cancel_job(ids[0]) is None  # 204: the acknowledgement carries no job
    assert client.training.get_status(ids[0], _is_fine_tuning=True)["state"] == "canceled"

    async def deferred() -> tuple[list[Any], Any, list[Any]]:
        try:
            jobs = [job async for job in WatsonxTuningHook(conn_id=CONN_ID).alist_jobs(page_size=2)]
            await WatsonxTuningHook(conn_id=CONN_ID).acancel_job(ids[1])
            trigger = TuningJobStateTrigger(conn_id=CONN_ID, platform=PLATFORM, job_id=ids[1], min_poll_interval=0.1)
            events = [event.payload async for event in trigger.run()]
            await trigger.cleanup()
            return jobs, trigger, events
        finally:
            await process_cache.aclose()

    jobs, _, events = asyncio.run(deferred())
    assert sorted(job.job_id for job in jobs) == sorted(ids)
    event = JobStateEvent.parse(events[0])
    assert event.status == "reached" and event.job is not None and event.job.state is TuningJobState.CANCELLED
    assert client.training.get_status(ids[1], _is_fine_tuning=True)["state"] == "canceled"
    deletes = [r for r in emu.requests(PLATFORM) if r.method == "DELETE"]
    assert len(deletes) == 2 and not any("hard_delete" in r.query for r in deletes)
    assert SPEC.issued >= 2  # the SDK's token and the provider's own, each from the API key
