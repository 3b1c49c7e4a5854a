"""The together 3.x SDK as the client: list, retrieve, cancel, errors, retry hints."""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.testing import Fault, JobScript
from tests.emulators.conftest import on_emulator

pytestmark = pytest.mark.sdk
together = pytest.importorskip("together")


@pytest.fixture
def base_url(emu) -> str:
    """The SDK's default base URL on the emulator: no /v1, the SDK's own paths carry it."""
    return on_emulator(emu, "together", "https://api.together.ai")


@pytest.fixture
def client(emu, base_url):
    with together.Together(api_key=emu.api_key("together"), base_url=base_url, max_retries=2) as c:
        yield c


def test_list_retrieve_cancel(emu, client):
    ids = emu.seed_many("together", 3, script=JobScript(running_s=None, cancel_s=0.2))
    assert [j.id for j in client.fine_tuning.list().data] == ids[::-1]
    assert client.fine_tuning.cancel(ids[0]).status == "cancel_requested"
    time.sleep(0.25)
    job = client.fine_tuning.retrieve(ids[0])
    assert job.status == "cancelled" and job.events[-1].type == "job_stopped"
    assert [e.type for e in client.fine_tuning.list_events(ids[0]).data][-1] == "job_stopped"
    with pytest.raises(together.BadRequestError):
        client.fine_tuning.cancel(ids[0])


def test_errors_and_honoured_retry_hint(emu, client, base_url):
    with pytest.raises(together.NotFoundError):
        client.fine_tuning.retrieve("ft-00000000-0000-0000-0000-000000000000")
    job_id = emu.seed("together")
    emu.inject("together", Fault.status(429, retry_after=0.2, count=2))
    start = time.monotonic()
    assert client.fine_tuning.retrieve(job_id).status == "running"
    assert time.monotonic() - start >= 0.4  # the SDK waited retry-after-ms twice
    assert [r.status for r in emu.requests("together")][-3:] == [429, 429, 200]
    with (
        together.Together(api_key="wrong", base_url=base_url, max_retries=0) as bad,
        pytest.raises(together.AuthenticationError),
    ):
        bad.fine_tuning.list()
