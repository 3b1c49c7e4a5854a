"""The shared watcher's figures as counts (never times): hundreds of real triggers on one
connection to the emulator, in one event loop, as the triggerer runs them.

What issue 22 measured going wrong, asserted at a small size: background reads served one GET at a
time instead of by listings, a cancel's confirmation waiting behind rounds, every listed record
built into a job, and the batch of unanswered ids rebuilt on every wake.
"""

from __future__ import annotations

import asyncio
import math

from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.triggers import watcher as watcher_module
from airflow_ft_provider.triggers.job_state import JobStateEvent
from tests.conftest import conn_id_for
from tests.triggers.test_job_state_trigger import events_of, trigger_for
from tests.triggers.test_watcher import run, watcher_of

WAITS = 400
CANCEL_S = 1.0
URGENT_POLL = 0.25


class CountedBatch(watcher_module._Batch):
    """The watcher's batch, counting every pass over all of its ids."""

    scans = 0

    def __iter__(self):
        CountedBatch.scans += 1
        return super().__iter__()

    def keys(self):
        CountedBatch.scans += 1
        return super().keys()

    def values(self):
        CountedBatch.scans += 1
        return super().values()

    def items(self):
        CountedBatch.scans += 1
        return super().items()


def test_hundreds_of_waits_are_read_by_listings_and_a_cancel_by_its_own_reads(emu, connections, monkeypatch):
    platform = Platform.VERTEX_AI
    monkeypatch.setattr(watcher_module, "_Batch", CountedBatch)
    CountedBatch.scans = 0
    cancelled = emu.seed(platform, script=JobScript(running_s=None, cancel_s=CANCEL_S), created_ago_s=7200)
    watched = emu.seed_many(platform, WAITS, script=JobScript(running_s=None), end_in_s=4.0, end_spread_s=4.0)
    # Newer jobs nobody waits for: every listing reads them before the watched ones.
    emu.seed_many(platform, WAITS, script=JobScript(running_s=None))

    async def cancel_and_confirm() -> list[dict]:
        await asyncio.sleep(2.0)
        hook = hook_class_for_platform(platform)(conn_id=conn_id_for(platform))
        await hook.acancel_job(cancelled)
        return await events_of(trigger_for(platform, cancelled, urgent=True, min_poll_interval=URGENT_POLL))

    async def main():
        waits = [events_of(trigger_for(platform, j, min_poll_interval=0.5, poll_interval=1.0)) for j in watched]
        confirmation, *results = await asyncio.gather(cancel_and_confirm(), *waits)
        return confirmation, results, watcher_of(platform).stats

    confirmation, results, stats = run(main)
    assert all(events[0]["status"] == "reached" for events in results)
    assert confirmation[0]["status"] == "reached"
    confirmed = JobStateEvent.parse(confirmation[0])
    assert confirmed.job is not None and confirmed.job.state.value == "CANCELLED"

    # Listings first: at least 90 % of the states handed to triggers came from listings, and every
    # request the watcher counts is one the emulator logged (its listings' pages, its targeted reads).
    requests = [r for r in emu.requests(platform) if r.method == "GET"]
    assert stats.requests == len(requests)
    assert stats.listed_answers >= 0.9 * stats.answered, stats
    assert stats.requests <= 0.1 * stats.answered, stats

    # Cheap records: only watched jobs were built, though every listing read the newer jobs too, and
    # each only when its record changed (running, then ended), not on every listing that showed it.
    assert stats.built <= 2 * WAITS + WAITS // 10, stats
    assert stats.built <= stats.listed_answers / 2, stats
    assert stats.built <= stats.records / 2, stats

    # The confirmation read its job on its own, at once: every read of the cancelled job after the
    # cancel was a targeted GET of the urgent wait, and the wait needed no more of them than its
    # schedule allows while the job spent CANCEL_S cancelling (plus the read that saw the end).
    native = cancelled.rsplit("/", 1)[-1]
    cancel_at = next(r.time for r in emu.requests(platform) if r.is_cancel)
    own_reads = [r for r in requests if r.time > cancel_at and r.path.endswith(native)]
    assert confirmed.polls == len(own_reads) <= math.ceil(CANCEL_S / URGENT_POLL) + 2
    assert stats.urgent_reads == confirmed.polls

    # The batch is kept as reads come and go: passes over all of its ids happen per round (three
    # at most: the round's flow and its listing), never per read or per wake.
    assert CountedBatch.scans <= 3 * stats.rounds, (CountedBatch.scans, stats)
    assert stats.rounds <= stats.answered / 20, stats
