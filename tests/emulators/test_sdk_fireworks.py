"""fireworks-ai as the client of the Fireworks emulator, then the provider's hook and trigger doing the same.

The SDK is pointed at ``emu.platform_url("fireworks")`` unchanged (it appends ``/v1/accounts/...``
itself): get, its auto-paginating list over several pages, and cancel, for supervised and DPO jobs.
"""

from __future__ import annotations

import asyncio
import time
import typing
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import JobUsage, Platform, TuningJobState
from airflow_ft_provider.platforms.fireworks import COLLECTIONS, STATES
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.triggers.job_state import JobStateEvent, TuningJobStateTrigger
from tests.conftest import conn_id_for

pytestmark = pytest.mark.sdk
fireworks = pytest.importorskip("fireworks")

ACCOUNT = "emulator-account"
NEVER_ENDS = JobScript(running_s=None, cancel_s=0.4)  # Cancelling lasts long enough to be read


@pytest.fixture
def client(emu):
    with fireworks.Fireworks(
        api_key=emu.api_key("fireworks"), account_id=ACCOUNT, base_url=emu.platform_url("fireworks"), max_retries=2
    ) as sdk:
        yield sdk


def list_pages(emu, collection: str) -> list[dict[str, list[str]]]:
    """The query of every list request the emulator saw for ``collection``."""
    return [
        parse_qs(r.query)
        for r in emu.requests("fireworks")
        if r.method == "GET" and r.path == f"/v1/accounts/{ACCOUNT}/{collection}"
    ]


def job_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    ("collection", "resource"),
    [("supervisedFineTuningJobs", "supervised_fine_tuning_jobs"), ("dpoJobs", "dpo_jobs")],
)
def test_get_list_across_pages_and_cancel(emu, client, collection, resource):
    jobs = getattr(client, resource)
    names = emu.seed_many("fireworks", 5, display_name="sdk", kind=collection, script=NEVER_ENDS)
    job = jobs.get(job_id(names[0]))
    assert (job.name, job.display_name, job.state) == (names[0], "sdk-0", "JOB_STATE_RUNNING")
    assert job.create_time is not None and job.create_time.tzinfo is not None  # the SDK parsed RFC 3339

    listed = [j.name for j in jobs.list(page_size=2)]  # the SDK follows nextPageToken itself
    assert listed == names[::-1]
    pages = list_pages(emu, collection)
    assert len(pages) == 3 and [p.get("pageToken") is None for p in pages] == [True, False, False]
    assert all(p["pageSize"] == ["2"] for p in pages)

    assert jobs.cancel(job_id(names[0]), body={}) == {}
    assert jobs.get(job_id(names[0])).state == "JOB_STATE_CANCELLING"
    time.sleep(0.45)
    assert jobs.get(job_id(names[0])).state == "JOB_STATE_CANCELLED"
    with pytest.raises(fireworks.BadRequestError) as refused:
        jobs.cancel(job_id(names[0]), body={})
    assert refused.value.body["error"]["status"] == "FAILED_PRECONDITION"  # the SDK keeps the body as sent


def test_reinforcement_jobs_and_the_estimated_cost(emu, client):
    rft = emu.seed("fireworks", kind="reinforcementFineTuningJobs", script=JobScript(running_s=0))
    job = client.reinforcement_fine_tuning_jobs.get(job_id(rft))
    assert job.state == "JOB_STATE_COMPLETED" and job.training_config.output_model.endswith(job_id(rft))
    sft = client.supervised_fine_tuning_jobs.get(job_id(emu.seed("fireworks")))
    cost = sft.estimated_cost
    assert (cost.currency_code, cost.units, cost.nanos) == ("USD", "12", 400000000)


def test_sdk_errors(emu, client):
    with pytest.raises(fireworks.NotFoundError):
        client.dpo_jobs.get("no-such-job")
    wrong = fireworks.Fireworks(
        api_key="fw-wrong", account_id=ACCOUNT, base_url=emu.platform_url("fireworks"), max_retries=0
    )
    with pytest.raises(fireworks.AuthenticationError):
        wrong.supervised_fine_tuning_jobs.list().next_page_info()
    wrong.close()
    name = emu.seed("fireworks", script=NEVER_ENDS)
    emu.inject("fireworks", Fault.status(429, count=1))
    assert client.supervised_fine_tuning_jobs.get(job_id(name)).state == "JOB_STATE_RUNNING"  # retried


def test_the_state_table_holds_every_state_the_sdk_declares():
    declared = {
        state
        for model in (
            fireworks.types.SupervisedFineTuningJob,
            fireworks.types.DpoJob,
            fireworks.types.ReinforcementFineTuningJob,
        )
        for state in typing.get_args(typing.get_args(model.model_fields["state"].annotation)[0])
    }
    assert len(declared) == 18 and declared == set(STATES)


# -- the provider against the same emulator -------------------------------------------------------------
def test_the_hook_reads_lists_every_kind_and_cancels(emu, connections):
    seeded = {kind: emu.seed_many("fireworks", 3, kind=kind, script=NEVER_ENDS) for kind in COLLECTIONS}
    hook = hook_class_for_platform(Platform.FIREWORKS)(conn_id=conn_id_for(Platform.FIREWORKS))
    sft = seeded["supervisedFineTuningJobs"][0]
    job = hook.get_job(sft)
    assert (job.job_id, job.state) == (sft, TuningJobState.RUNNING)
    assert job.usage == JobUsage(cost=Decimal("12.4"), currency="USD", estimated=True)
    assert hook.get_job("dpoJobs/" + job_id(seeded["dpoJobs"][1])).job_id == seeded["dpoJobs"][1]

    emu.clear_requests()
    listed = [j.job_id for j in hook.list_all_jobs(2)]
    assert sorted(listed) == sorted(n for names in seeded.values() for n in names)
    assert [len(list_pages(emu, kind)) for kind in COLLECTIONS] == [2, 2, 2]  # 3 jobs, 2 a page, in each

    dpo = seeded["dpoJobs"][0]
    assert hook.cancel_job(dpo) is None  # the acknowledgement is {}: no job in it
    assert hook.get_job(dpo).state == TuningJobState.CANCELLING
    assert [r.path for r in emu.requests("fireworks") if r.method == "POST"] == [f"/v1/{dpo}:cancel"]


def test_the_hook_async_and_the_trigger(emu, connections):
    rft = emu.seed("fireworks", kind="reinforcementFineTuningJobs", script=NEVER_ENDS)
    others = emu.seed_many("fireworks", 3, script=NEVER_ENDS)
    hook = hook_class_for_platform(Platform.FIREWORKS)(conn_id=conn_id_for(Platform.FIREWORKS))

    async def scenario() -> tuple[list[str], TuningJobState, list[dict]]:
        try:
            listed = [job.job_id async for job in hook.alist_jobs(2)]
            await hook.acancel_job(rft)
            state = (await hook.aget_job(rft)).state
            trigger = TuningJobStateTrigger(
                conn_id=conn_id_for(Platform.FIREWORKS), platform=Platform.FIREWORKS, job_id=rft, min_poll_interval=0.1
            )
            events = [event.payload async for event in trigger.run()]
            await trigger.cleanup()
            return listed, state, events
        finally:
            await process_cache.aclose()

    listed, state, events = asyncio.run(scenario())
    assert sorted(listed) == sorted([rft, *others])
    assert state is TuningJobState.CANCELLING
    (event,) = events
    parsed = JobStateEvent.parse(event)
    assert parsed.status == "reached" and parsed.job is not None and parsed.job.state == "CANCELLED"
    assert parsed.job.native_state == "JOB_STATE_CANCELLED"
