"""The shared job watcher: many triggers of one connection, few requests, each trigger on its own."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.triggers.job_state import JobStateEvent
from airflow_ft_provider.triggers.watcher import JobWatcher
from tests.triggers.test_job_state_trigger import events_of, trigger_for


def run(main):
    async def wrapped():
        try:
            return await main()
        finally:
            await process_cache.aclose()

    return asyncio.run(wrapped())


def watcher_of(platform: Platform) -> JobWatcher:
    entries = process_cache.on_loop()
    return next(v for k, v in entries.items() if k[0] == "watcher" and k[2].startswith(f"ft_{platform.value}"))


def reads(emu, platform, job_ids):
    return [
        r for r in emu.requests(platform) if r.method == "GET" and any(j.rsplit("/", 1)[-1] in r.path for j in job_ids)
    ]


def listings(emu, platform):
    return [
        r for r in emu.requests(platform) if r.method == "GET" and r.path.rstrip("/").endswith(("tuningJobs", "jobs"))
    ]


def test_many_waits_of_one_connection_are_read_by_listing(emu, connections):
    platform = Platform.VERTEX_AI
    job_ids = emu.seed_many(platform, 150, script=JobScript(running_s=1.5))

    async def main():
        triggers = [trigger_for(platform, j, min_poll_interval=0.3, poll_interval=0.5) for j in job_ids]
        results = await asyncio.gather(*(events_of(t) for t in triggers))
        return results, watcher_of(platform).stats

    results, stats = run(main)
    assert all(len(events) == 1 and events[0]["status"] == "reached" for events in results)
    assert all(JobStateEvent.parse(events[0]).job.state.value == "SUCCEEDED" for events in results)
    # Without the watcher: 150 triggers x ~5 polls each. With it: a handful of listings of one page.
    requests = [r for r in emu.requests(platform) if r.path != "/token"]
    assert stats.listings >= 1
    assert len(requests) < 150, f"{len(requests)} requests for 150 waits"
    assert len(reads(emu, platform, job_ids)) <= 5  # only the first, before a listing was worth it


def test_a_listing_stops_once_every_job_asked_for_was_seen(emu, connections):
    platform = Platform.OPENAI  # pages of at most 100, newest first
    emu.seed_many(platform, 450, script=JobScript(running_s=None))  # older jobs nobody waits for
    watched = emu.seed_many(platform, 20, script=JobScript(running_s=1.0))  # the newest

    async def main():
        triggers = [trigger_for(platform, j, min_poll_interval=0.3, poll_interval=0.5) for j in watched]
        return await asyncio.gather(*(events_of(t) for t in triggers))

    results = run(main)
    assert all(events[0]["status"] == "reached" for events in results)
    pages = listings(emu, platform)
    after = [r for r in pages if "after=" in r.query]
    assert pages and not after, "the listing went past the page holding every watched job"


def test_a_job_the_listing_does_not_show_is_read_on_its_own(emu, connections):
    platform = Platform.TOGETHER  # one unpaged listing
    job_ids = emu.seed_many(platform, 5, script=JobScript(running_s=0.8))
    gone = emu.seed(platform, script=JobScript(running_s=None))
    emu.store.delete(platform, gone)

    async def main():
        waits = [events_of(trigger_for(platform, j, min_poll_interval=0.3)) for j in [*job_ids, gone]]
        return await asyncio.gather(*waits)

    *ended, missing = run(main)
    assert all(events[0]["status"] == "reached" for events in ended)
    assert missing[0]["status"] == "error" and "not found" in missing[0]["message"].lower()
    assert len(reads(emu, platform, [gone])) == 1


def test_a_stalled_read_holds_up_only_its_own_job(emu, connections, set_connection):
    platform = Platform.OPENAI
    slow = emu.seed(platform, script=JobScript(running_s=None))
    quick = emu.seed(platform, script=JobScript(running_s=0.5))
    emu.inject(platform, Fault.slow(30, path=slow, method="GET", count=None))

    async def main():
        started = time.monotonic()
        stuck = asyncio.ensure_future(events_of(trigger_for(platform, slow, deadline=time.time() + 3)))
        done = await events_of(trigger_for(platform, quick, min_poll_interval=0.2))
        quick_took = time.monotonic() - started
        return done, await stuck, quick_took, time.monotonic() - started

    done, stuck, quick_took, total = run(main)
    assert done[0]["status"] == "reached" and quick_took < 2.5
    assert stuck[0]["status"] == "timeout" and total < 6  # its own deadline, not the 30 s stall


def test_urgent_reads_go_at_once_on_their_own(emu, connections):
    """A wait that confirms a cancel is read at once by a targeted read (never behind a listing
    round of every watched job), with priority in the connection's budget."""
    platform = Platform.TOGETHER
    job_id = emu.seed(platform, script=JobScript(running_s=0.3))

    async def main():
        events = await events_of(trigger_for(platform, job_id, urgent=True))
        return events, watcher_of(platform).stats

    events, stats = run(main)
    assert events[0]["status"] == "reached"
    assert (stats.rounds, stats.listings) == (0, 0) and stats.reads >= 1


@pytest.mark.parametrize("count", [300])
def test_a_restart_reads_the_connection_and_mints_a_token_once(emu, connections, monkeypatch, count):
    """After a triggerer restart every wait starts at once: one connection read, one token exchange."""
    from airflow.providers.common.compat import connection as compat_connection

    platform = Platform.VERTEX_AI
    job_ids = emu.seed_many(platform, count, script=JobScript(running_s=1.0))
    reads_of_connection = []
    real = compat_connection.get_async_connection

    async def counting(conn_id, *args, **kwargs):
        reads_of_connection.append(conn_id)
        return await real(conn_id, *args, **kwargs)

    monkeypatch.setattr(compat_connection, "get_async_connection", counting)
    process_cache.reset()  # a fresh process: no token, no setup

    async def main():
        triggers = [trigger_for(platform, j, min_poll_interval=0.3, poll_interval=0.5) for j in job_ids]
        return await asyncio.gather(*(events_of(t) for t in triggers))

    results = run(main)
    assert all(events[0]["status"] == "reached" for events in results)
    assert len(reads_of_connection) == 1
    assert len([r for r in emu.requests(platform) if r.path == "/token"]) == 1
