"""The openai SDK, unchanged, against the Azure OpenAI emulator: ``AzureOpenAI`` on the legacy data
plane (with ``api_version``; key or Entra ID token) and ``OpenAI`` on the v1 API's base URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_ft_provider.testing import Fault, JobScript
from tests.emulators.conftest import on_emulator

pytestmark = pytest.mark.sdk
openai = pytest.importorskip("openai")

PLATFORM = "azure_openai"
API_VERSION = "2024-10-21"
#: A resource's endpoint, as Azure shows it.
ENDPOINT = "https://my-resource.openai.azure.com"


def endpoint(emu: Any) -> str:
    return on_emulator(emu, PLATFORM, ENDPOINT)


def legacy_with_key(emu: Any, key: str) -> Any:
    return openai.AzureOpenAI(azure_endpoint=endpoint(emu), api_key=key, api_version=API_VERSION, max_retries=0)


def legacy_with_token(emu: Any, key: str) -> Any:
    return openai.AzureOpenAI(azure_endpoint=endpoint(emu), azure_ad_token=key, api_version=API_VERSION, max_retries=0)


def v1(emu: Any, key: str) -> Any:
    """The plain OpenAI client on the v1 API's base URL, as Azure documents it."""
    return openai.OpenAI(base_url=on_emulator(emu, PLATFORM, f"{ENDPOINT}/openai/v1/"), api_key=key, max_retries=0)


CLIENTS = [legacy_with_key, legacy_with_token, v1]


@pytest.fixture(params=CLIENTS, ids=lambda make: make.__name__)
def client(request: pytest.FixtureRequest, emu: Any) -> Iterator[Any]:
    with request.param(emu, emu.api_key(PLATFORM)) as c:
        yield c


def test_retrieve_list_with_auto_paging_and_cancel(emu, client):
    ids = emu.seed_many(PLATFORM, 45, script=JobScript(running_s=None, cancel_s=1))
    assert client.fine_tuning.jobs.retrieve(ids[3]).status == "running"
    assert [j.id for j in client.fine_tuning.jobs.list()] == ids[::-1]
    listings = [r for r in emu.requests(PLATFORM) if r.path.endswith("/fine_tuning/jobs")]
    assert len(listings) == 3 and f"after={ids[-20]}" in listings[1].query
    legacy = isinstance(client, openai.AzureOpenAI)
    assert all((f"api-version={API_VERSION}" in r.query) is legacy for r in listings)
    assert all(r.path.startswith("/openai/fine_tuning/" if legacy else "/openai/v1/fine_tuning/") for r in listings)
    job = client.fine_tuning.jobs.cancel(ids[3])
    assert job.status == "cancelled" and job.finished_at is not None
    assert client.fine_tuning.jobs.retrieve(ids[3]).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(ids[3])
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")


def test_a_paused_job_reads_back_paused(emu, client):
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert client.fine_tuning.jobs.pause(job_id).status == "paused"
    assert client.fine_tuning.jobs.retrieve(job_id).status == "paused"
    assert client.fine_tuning.jobs.resume(job_id).status == "running"


def test_the_sdk_honours_the_emulators_retry_hint(emu, client):
    job_id = emu.seed(PLATFORM)
    emu.inject(PLATFORM, Fault.status(429, retry_after=0.2, count=1))
    assert client.with_options(max_retries=1).fine_tuning.jobs.retrieve(job_id).id == job_id
    statuses = [r.status for r in emu.requests(PLATFORM)]
    assert statuses == [429, 200]


@pytest.mark.parametrize("make", CLIENTS, ids=lambda make: make.__name__)
def test_a_wrong_credential_is_an_authentication_error(emu, make):
    with make(emu, "wrong-key") as bad, pytest.raises(openai.AuthenticationError):
        bad.fine_tuning.jobs.list()


def test_the_legacy_client_without_a_version_is_refused(emu):
    unversioned = openai.AzureOpenAI(azure_endpoint=endpoint(emu), api_key=emu.api_key(PLATFORM), api_version="")
    with unversioned as c, pytest.raises(openai.NotFoundError, match="api-version"):
        c.fine_tuning.jobs.list()
