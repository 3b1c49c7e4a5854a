"""The replicate SDK as the client (get, every page of the listing, cancel, errors, Retry-After), and
the provider's hook and trigger doing the same against the same emulator, sync and deferred."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_ft_provider.errors import MalformedResponseError
from airflow_ft_provider.flows import CancelAction, run_flow
from airflow_ft_provider.flows.cancel import cancel_flow
from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.triggers.job_state import JobStateEvent
from tests.conftest import conn_id_for
from tests.triggers.test_job_state_trigger import events_of, run, trigger_for

pytestmark = pytest.mark.sdk
replicate = pytest.importorskip("replicate")
from pydantic import v1 as pydantic_v1  # noqa: E402  (the SDK's models are pydantic v1's)
from replicate.exceptions import ReplicateError  # noqa: E402

NEVER_ENDS = JobScript(running_s=None)
#: More than two of Replicate's pages (100 trainings each, a size no request can change).
MANY = 230


@pytest.fixture
def client(emu):
    """The SDK pointed at the emulator's Replicate prefix: its base URL, as ``REPLICATE_BASE_URL`` would."""
    return replicate.Client(api_token=emu.api_key("replicate"), base_url=emu.platform_url("replicate"))


def test_get_every_page_and_cancel(emu, client):
    ids = emu.seed_many("replicate", MANY, display_name="sdk", script=NEVER_ENDS)
    training = client.trainings.get(ids[0])
    assert (training.id, training.status, training.model) == (ids[0], "processing", "stability-ai/sdxl")
    assert training.urls["get"] == f"{emu.platform_url('replicate')}/v1/trainings/{ids[0]}"

    pages = list(replicate.paginate(client.trainings.list))
    assert [len(page) for page in pages] == [100, 100, MANY - 200]
    assert [t.id for page in pages for t in page] == ids[::-1]
    assert pages[0].next is not None and pages[0].next.startswith(emu.platform_url("replicate") + "/v1/trainings?")
    assert pages[-1].next is None

    cancelled = client.trainings.cancel(ids[0])
    assert cancelled.status == "canceled" and cancelled.completed_at is not None
    assert client.trainings.get(ids[0]).status == "canceled"


def test_the_async_client_walks_the_same_pages(emu, client):
    ids = emu.seed_many("replicate", MANY, script=NEVER_ENDS)

    async def walk_and_cancel() -> tuple[list[str], str]:  # one loop: the SDK keeps its async client
        listed = [t.id async for page in replicate.async_paginate(client.trainings.async_list) for t in page]
        return listed, (await client.trainings.async_cancel(ids[5])).status

    assert asyncio.run(walk_and_cancel()) == (ids[::-1], "canceled")


def test_a_succeeded_training_names_its_destination(emu, client):
    training = client.trainings.get(emu.seed("replicate", display_name="my-model", script=JobScript(running_s=0)))
    assert training.status == "succeeded" and training.destination == "emulator/my-model"
    # Replicate answers a cancel of an ended training with the training as it is; the SDK passes it on.
    assert client.trainings.cancel(training.id).status == "succeeded"


def test_errors_are_the_sdks_problem_details(emu, client):
    with pytest.raises(ReplicateError) as missing:
        client.trainings.get("zz4ibbonubfz7carwiefibzgga")
    assert (missing.value.status, missing.value.detail) == (404, "Not found.")
    bad = replicate.Client(api_token="wrong", base_url=emu.platform_url("replicate"))
    with pytest.raises(ReplicateError) as refused:
        bad.trainings.list()
    assert (refused.value.status, refused.value.title) == (401, "Unauthenticated")


def test_the_sdk_waits_the_retry_after(emu, client):
    training_id = emu.seed("replicate", script=NEVER_ENDS)
    emu.inject("replicate", Fault.status(429, retry_after=1, count=1))
    start = time.monotonic()
    assert client.trainings.get(training_id).status == "processing"
    assert time.monotonic() - start >= 1.0  # the SDK's RetryTransport honoured Retry-After
    assert [r.status for r in emu.requests("replicate")][-2:] == [429, 200]


def test_the_sdk_1_0_cannot_read_aborted_which_the_provider_can(emu, connections, client):
    """``aborted`` is in the API's status enum but not in the SDK 1.0 model's (replicate-python #449)."""
    training_id = emu.seed("replicate", native_state="aborted")
    with pytest.raises(pydantic_v1.ValidationError):
        client.trainings.get(training_id)
    job = hook().get_job(training_id)
    assert (job.native_state, job.state) == ("aborted", TuningJobState.CANCELLED)


# -- the provider against the same emulator --------------------------------------------------------
def hook():
    return hook_class_for_platform(Platform.REPLICATE)(conn_id=conn_id_for(Platform.REPLICATE))


@pytest.mark.parametrize("native", ["starting", "processing", "succeeded", "failed", "canceled", "aborted"])
def test_the_provider_reads_every_state(emu, connections, native):
    job = hook().get_job(emu.seed("replicate", native_state=native))
    assert job.native_state == native and job.state is hook().get_conn().dialect.states[native]


def test_the_provider_sync_get_list_cancel(emu, connections, client):
    ids = emu.seed_many("replicate", MANY, script=NEVER_ENDS)
    provider = hook()
    assert provider.get_job(ids[0]).state is TuningJobState.RUNNING
    assert [j.job_id for j in provider.list_jobs()] == ids[::-1]
    lists = [r for r in emu.requests("replicate") if r.path.startswith("/v1/trainings") and r.method == "GET"]
    assert len([r for r in lists if "/v1/trainings/" not in r.path]) == 3  # three pages, each its next URL
    result = run_flow(provider, cancel_flow(ids[0]))
    assert result.action is CancelAction.SENT and result.after.state is TuningJobState.CANCELLED
    assert client.trainings.get(ids[0]).status == "canceled"  # what the SDK sees too
    ended = emu.seed("replicate", script=JobScript(running_s=0))
    assert run_flow(provider, cancel_flow(ended)).action is CancelAction.ALREADY_ENDED


def test_the_provider_deferred_get_list_cancel_and_wait(emu, connections, client):
    ids = emu.seed_many("replicate", MANY, script=JobScript(running_s=None, cancel_s=0.3))
    provider = hook()

    async def deferred() -> tuple[list[str], list[dict]]:
        listed = [job.job_id async for job in provider.alist_jobs()]
        assert (await provider.aget_job(ids[1])).state is TuningJobState.RUNNING
        answered = await provider.acancel_job(ids[1])
        assert answered is not None and answered.native_state == "canceled"
        return listed, await events_of(trigger_for(Platform.REPLICATE, ids[1]))

    listed, events = run(deferred())
    assert listed == ids[::-1]
    (event,) = events
    parsed = JobStateEvent.parse(event)
    assert parsed.status == "reached" and parsed.job is not None and parsed.job.state == "CANCELLED"
    assert client.trainings.get(ids[1]).status == "canceled"


def test_a_next_url_on_another_host_is_refused_and_gets_no_token(emu, set_connection):
    """A server (here a stand-in on its own port) whose ``next`` names another origin: the listing
    stops with a typed error and the token goes nowhere else (the emulator, the "other host", sees nothing)."""
    elsewhere = f"{emu.platform_url('replicate')}/v1/trainings?cursor=abc"
    body = json.dumps({"results": [], "next": elsewhere, "previous": None}).encode()

    class Stub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Stub) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        key = emu.api_key("replicate")
        conn = {"conn_type": "ft_replicate", "host": f"http://127.0.0.1:{server.server_port}", "password": key}
        set_connection(conn_id_for(Platform.REPLICATE), {**conn, "extra": {"max_retries": 0}})
        emu.clear_requests()
        with pytest.raises(MalformedResponseError, match="origin") as refused:
            list(hook().list_jobs())
        server.shutdown()
    assert key not in str(refused.value) and emu.requests("replicate") == []
