"""Large projects: bulk seeding, ordered listings of many jobs, and jobs that end on a timeline."""

from __future__ import annotations

import re
import time

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.platforms import seed_field_names
from tests.emulators import large_project


@pytest.mark.parametrize("platform", list(large_project.WALKERS))
def test_every_job_of_a_large_project_is_listed_once_newest_first(emu, platform):
    """``python -m tests.emulators.large_project`` at a tenth of its size: it prints figures."""
    seeded, _ = large_project.seed_project(emu, platform, running=300, ended=700)
    listing = large_project.walk(emu, platform)
    assert listing.ids == seeded[::-1]
    assert len(listing.seconds) == 10


def test_filtered_pages_of_a_large_project(emu):
    seeded, _ = large_project.seed_project(emu, Platform.VERTEX_AI, running=250, ended=500)
    running = large_project.walk(emu, Platform.VERTEX_AI, filter='state="JOB_STATE_RUNNING"')
    assert running.ids == seeded[500:][::-1] and len(running.seconds) == 3
    ended = large_project.walk(emu, Platform.VERTEX_AI, filter='state="JOB_STATE_SUCCEEDED"')
    assert ended.ids == seeded[:500][::-1]


def test_created_over_spreads_creation_times_oldest_first(emu):
    ids = emu.seed_many("openai", 5, created_ago_s=100, created_over_s=400)
    created = [emu.find("openai", i).created_wall for i in ids]
    now = time.time()
    assert [round(now - c) for c in created] == [500, 400, 300, 200, 100]


def test_jobs_end_on_a_timeline_spread_over_a_window(emu):
    before = time.time()
    ids = emu.seed_many(
        "vertex_ai",
        5,
        script=JobScript(queued_s=0.5, running_s=None, end_state="failed"),
        created_ago_s=30,
        end_in_s=60,
        end_spread_s=40,
    )
    ends = []
    for job_id in ids:
        job = emu.find("vertex_ai", job_id)
        view = emu.store.view(job)
        assert view.phase.value == "running"
        # Ends = creation + queued_s + running_s: the scripted moment, 60 s from now and on.
        ends.append(job.created_wall + job.script.queued_s + job.script.running_s - before)
        assert job.script.end_state == "failed"
    assert [round(e) for e in ends] == [60, 70, 80, 90, 100]


def test_a_timeline_that_ends_before_the_job_runs_is_refused(emu):
    with pytest.raises(ValueError, match="end_in_s"):
        emu.seed_many("openai", 2, script=JobScript(queued_s=10), end_in_s=1)


def test_jobs_end_when_their_time_comes(emu, api):
    ids = emu.seed_many("together", 3, end_in_s=0.1, end_spread_s=0.2)
    assert [emu.job_state("together", i) for i in ids] == ["running"] * 3
    time.sleep(0.35)
    assert [emu.job_state("together", i) for i in ids] == ["completed"] * 3
    assert {j["status"] for j in api[Platform.TOGETHER].get("/fine-tunes").json()["data"]} == {"completed"}


def test_bulk_seeding_over_the_admin_api(emu, client):
    body = {
        "platform": "vertex_ai",
        "n": 1000,
        "project": "big",
        "script": {"running_s": None},
        "created_over_s": 3600,
        "end_in_s": 600,
        "end_spread_s": 600,
    }
    ids = client.post("/_emulator/seed", json=body).json()["job_ids"]
    assert len(set(ids)) == 1000 and all(i.startswith("projects/123456789012/locations/us-central1/") for i in ids)
    one = {"platform": "openai", "end_in_s": 5}
    refused = client.post("/_emulator/seed", json=one)
    assert refused.status_code == 400 and "end_in_s" in refused.json()["error"]  # a timeline needs n


def test_seed_fields_are_the_platforms_own(emu):
    known = re.escape(", ".join(sorted(seed_field_names())))  # every platform's: location, project, ...
    with pytest.raises(TypeError, match=r"unknown seed fields \['projekt'\].*" + known):
        emu.seed("vertex_ai", projekt="p")
    assert emu.find("openai", emu.seed("openai", project="ignored")).scope == {}  # another platform's field
    assert emu.find("dashscope", emu.seed("dashscope", workspace="ws")).scope == {"workspace": "ws"}
    with pytest.raises(ValueError, match="no emulator for platform 'bogus'; emulated: " + ", ".join(Platform)):
        emu.seed("bogus")
