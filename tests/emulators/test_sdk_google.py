"""google-genai as the client: the documentation's own cancel loops, run unchanged."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from airflow_ft_provider.testing import JobScript
from tests.emulators.conftest import on_emulator

pytestmark = pytest.mark.sdk
genai = pytest.importorskip("google.genai")
types = pytest.importorskip("google.genai.types")
errors = pytest.importorskip("google.genai.errors")
oauth2_credentials = pytest.importorskip("google.oauth2.credentials")
service_account = pytest.importorskip("google.oauth2.service_account")

PROJECT, LOCATION = "my-proj", "us-central1"
ACTIVE = ("JOB_STATE_RUNNING", "JOB_STATE_PENDING", "JOB_STATE_QUEUED")


def vertex_client(emu, credentials=None, project=PROJECT, api_version="v1"):
    credentials = credentials or oauth2_credentials.Credentials(token=emu.api_key("vertex_ai"))
    return genai.Client(
        vertexai=True,
        project=project,
        location=LOCATION,
        credentials=credentials,
        http_options=types.HttpOptions(
            base_url=on_emulator(emu, "vertex_ai", f"https://{LOCATION}-aiplatform.googleapis.com"),
            api_version=api_version,
        ),
    )


@pytest.fixture(scope="module")
def shared_client(emulator):
    """One client for the static-token tests: building a google-genai client costs ~0.3 s."""
    return vertex_client(emulator)


@pytest.fixture
def client(emu, shared_client):
    return shared_client


def test_cancel_one_and_poll_until_cancelled(emu, client):
    name = emu.seed("vertex_ai", project=PROJECT, script=JobScript(running_s=None, cancel_s=0.5))
    listed = [job.name for job in client.tunings.list()]
    assert listed == [name]
    client.tunings.cancel(name=name)
    states = []
    for _ in range(50):
        job = client.tunings.get(name=name)
        states.append(job.state)
        if job.state == types.JobState.JOB_STATE_CANCELLED:
            break
        time.sleep(0.1)
    assert states[0] == types.JobState.JOB_STATE_CANCELLING
    assert states[-1] == types.JobState.JOB_STATE_CANCELLED
    assert job.has_ended and job.error.code == 1 and job.end_time is not None


def test_cancel_with_error_handling(emu, client):
    """Get first; cancel only in RUNNING, PENDING or QUEUED; else "cannot be cancelled"."""
    running = emu.seed("vertex_ai", project=PROJECT)
    done = emu.seed("vertex_ai", project=PROJECT, script=JobScript(running_s=0))
    outcome = {}
    for name in (running, done):
        job = client.tunings.get(name=name)
        if job.state.value in ACTIVE:
            client.tunings.cancel(name=name)
            outcome[name] = "cancelled"
        else:
            outcome[name] = f"cannot be cancelled: {job.state.value}"
    assert outcome == {running: "cancelled", done: "cannot be cancelled: JOB_STATE_SUCCEEDED"}
    with pytest.raises(errors.ClientError) as info:
        client.tunings.cancel(name=done)
    assert info.value.code == 400 and info.value.status == "FAILED_PRECONDITION"


def test_cancel_all_running_jobs_across_pages(emu, client):
    active = set(emu.seed_many("vertex_ai", 12, project=PROJECT))
    active.add(emu.seed("vertex_ai", project=PROJECT, script=JobScript(queued_s=600)))
    emu.seed_many("vertex_ai", 3, project=PROJECT, script=JobScript(running_s=0))
    cancelled, failed = [], []
    for job in client.tunings.list(config={"page_size": 5}):
        if job.state.value in ACTIVE:
            try:
                client.tunings.cancel(name=job.name)
                cancelled.append(job.name)
            except errors.APIError:
                failed.append(job.name)
    assert set(cancelled) == active and failed == []
    pages = [r for r in emu.requests("vertex_ai") if r.method == "GET" and r.path.endswith("/tuningJobs")]
    assert len(pages) == 4


def test_conditional_cancel_of_jobs_running_for_two_hours(emu, client):
    old = emu.seed("vertex_ai", project=PROJECT, created_ago_s=3 * 3600)
    emu.seed("vertex_ai", project=PROJECT, created_ago_s=600)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    for job in client.tunings.list():
        if job.state == types.JobState.JOB_STATE_RUNNING and job.start_time < cutoff:
            client.tunings.cancel(name=job.name)
    assert [r.path for r in emu.requests("vertex_ai") if r.method == "POST"] == [f"/v1/{old}:cancel"]


def test_missing_job_is_a_404_client_error(emu, client):
    with pytest.raises(errors.ClientError) as info:
        client.tunings.get(name=f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/404")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"


def test_service_account_key_goes_through_the_token_endpoint(emu):
    name = emu.seed("vertex_ai", project=PROJECT)
    info = emu.service_account_info(PROJECT)
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    client = vertex_client(emu, credentials, api_version="v1beta1")
    assert client.tunings.get(name=name).state == types.JobState.JOB_STATE_RUNNING
    paths = [r.path for r in emu.requests("vertex_ai")]
    assert paths[0] == "/token" and paths[1].startswith("/v1beta1/projects/123456789012/")
    elsewhere = vertex_client(emu, credentials, project="someone-elses")  # keep a reference: its __del__ closes it
    with pytest.raises(errors.ClientError) as info_403:
        list(elsewhere.tunings.list())
    assert info_403.value.code == 403


def test_wrong_token_is_a_401(emu):
    client = vertex_client(emu, oauth2_credentials.Credentials(token="ya29.forged"))
    with pytest.raises(errors.ClientError) as info:
        list(client.tunings.list())
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"


async def test_async_client(emu, client):
    name = emu.seed("vertex_ai", project=PROJECT, script=JobScript(cancel_s=5))
    await client.aio.tunings.cancel(name=name)
    job = await client.aio.tunings.get(name=name)
    assert job.state == types.JobState.JOB_STATE_CANCELLING


def test_gemini_api_reads_but_cannot_cancel(emu):
    name = emu.seed("gemini", display_name="number generator", script=JobScript(running_s=0))
    gemini = types.HttpOptions(base_url=on_emulator(emu, "gemini", "https://generativelanguage.googleapis.com"))
    client = genai.Client(api_key=emu.api_key("gemini"), http_options=gemini)
    job = client.tunings.get(name=name)
    assert job.name == name and job.has_ended and job.state == types.JobState.JOB_STATE_SUCCEEDED
    with pytest.raises(errors.ClientError) as info:
        client.tunings.cancel(name=name)
    assert info.value.code == 404 and info.value.message == "Method not found."
    bad = genai.Client(api_key="wrong", http_options=gemini)
    with pytest.raises(errors.ClientError) as info:
        bad.tunings.get(name=name)
    assert info.value.code == 400 and "API key not valid" in info.value.message
