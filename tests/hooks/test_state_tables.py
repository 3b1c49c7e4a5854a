"""Every native state of every platform's table, shown by its emulator and read back by its hook.

The platforms come from the registry and the states from each dialect's table, so a platform or a
state added tomorrow is covered without touching this file; a state the table lacks is refused by
the emulator (unless a test asks for an undocumented one) and read as UNKNOWN with its native value.
"""

from __future__ import annotations

import httpx
import pytest

from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.platforms.registry import RECORDS
from airflow_ft_provider.platforms.states import Phase
from airflow_ft_provider.testing import JobScript
from tests.conftest import conn_id_for

NEVER_ENDS = JobScript(running_s=None)


@pytest.mark.parametrize("platform", list(RECORDS))
def test_every_native_state_reads_back_normalized(emu, connections, platform):
    table = RECORDS[platform].dialect.states
    hook = hook_class_for_platform(platform)(conn_id=conn_id_for(platform))
    job_id = emu.seed(platform, script=NEVER_ENDS)
    read = {}
    for native in table:
        emu.set_native_state(platform, job_id, native)
        job = hook.get_job(job_id)
        read[native] = (job.state, job.native_state)
    assert read == {native: (state, native) for native, state in table.items()}


@pytest.mark.parametrize("platform", list(RECORDS))
def test_timeline_shows_table_states(emu, connections, platform):
    """A job walking queued, pending, running and ending reads as the table's timeline says."""
    table = RECORDS[platform].dialect.states
    hook = hook_class_for_platform(platform)(conn_id=conn_id_for(platform))
    job_id = emu.seed(platform, script=JobScript(queued_s=3600), created_ago_s=0)
    assert emu.job_state(platform, job_id) == table.timeline[Phase.QUEUED]
    assert hook.get_job(job_id).state is table[table.timeline[Phase.QUEUED]]


@pytest.mark.parametrize("platform", list(RECORDS))
def test_a_state_the_table_lacks_is_refused_unless_asked_for(emu, connections, platform):
    job_id = emu.seed(platform, script=NEVER_ENDS)
    with pytest.raises(ValueError, match="known: ") as info:
        emu.set_native_state(platform, job_id, "HIBERNATING")
    assert all(native in str(info.value) for native in RECORDS[platform].dialect.states)
    with pytest.raises(ValueError, match="HIBERNATING"):
        emu.seed(platform, native_state="HIBERNATING")

    emu.set_native_state(platform, job_id, "HIBERNATING", undocumented=True)
    job = hook_class_for_platform(platform)(conn_id=conn_id_for(platform)).get_job(job_id)
    assert (job.state, job.native_state) == (TuningJobState.UNKNOWN, "HIBERNATING")


def test_admin_api_refuses_an_unknown_state_by_name(emu, connections):
    """Over HTTP too: the refusal is a 400 naming the known states."""
    job_id = emu.seed("azure_openai", script=NEVER_ENDS)
    url = f"{emu.url}/_emulator/job-state"
    refused = httpx.post(url, json={"platform": "azure_openai", "job_id": job_id, "native_state": "HIBERNATING"})
    assert refused.status_code == 400 and "pending" in refused.json()["error"]
    body = {"platform": "azure_openai", "job_id": job_id, "native_state": "pending"}
    assert httpx.post(url, json=body).status_code == 200
    assert emu.job_state("azure_openai", job_id) == "pending"
