"""The openai SDK as the client: auto-pagination, cancel, retries on 429, auth errors."""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.testing import Fault, JobScript
from tests.emulators.conftest import on_emulator

pytestmark = pytest.mark.sdk
openai = pytest.importorskip("openai")


@pytest.fixture
def base_url(emu) -> str:
    """The SDK's own default base URL, on the emulator."""
    url = on_emulator(emu, "openai", "https://api.openai.com/v1")
    assert url == emu.base_url("openai")
    return url


@pytest.fixture
def client(emu, base_url):
    with openai.OpenAI(api_key=emu.api_key("openai"), base_url=base_url, max_retries=0) as c:
        yield c


def test_list_auto_paginates(emu, client):
    ids = emu.seed_many("openai", 45, script=JobScript(running_s=None))
    assert [j.id for j in client.fine_tuning.jobs.list()] == ids[::-1]
    pages = [r.query for r in emu.requests("openai")]
    assert pages[0] == "" and pages[1] == f"after={ids[-20]}" and len(pages) == 3


def test_cancel_retrieve_and_errors(emu, client):
    job_id = emu.seed("openai", script=JobScript(running_s=None, cancel_s=1))
    job = client.fine_tuning.jobs.cancel(job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert client.fine_tuning.jobs.retrieve(job_id).status == "cancelled"
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.cancel(job_id)
    assert info.value.status_code == 400
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")
    assert client.fine_tuning.jobs.list_events(job_id).data[0].message == "Fine-tuning job cancelled"


def test_rate_limits(emu, client):
    job_id = emu.seed("openai")
    emu.inject("openai", Fault.status(429, error_code="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as info:
        client.fine_tuning.jobs.retrieve(job_id)
    assert info.value.code == "insufficient_quota"
    emu.inject("openai", Fault.status(429, retry_after=0.2))
    start = time.monotonic()
    assert client.with_options(max_retries=1).fine_tuning.jobs.retrieve(job_id).id == job_id
    assert time.monotonic() - start >= 0.2


def test_wrong_key(emu, base_url):
    bad = openai.OpenAI(api_key="sk-wrong", base_url=base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.fine_tuning.jobs.list()
    bad.close()
