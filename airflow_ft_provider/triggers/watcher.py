"""One shared watcher per connection in a triggerer process: thousands of waits, few requests.

Without it, every deferred wait polls its own job: 5,000 waits polling every 30 s send ~166
requests a second, sixteen times Vertex AI's quota. Here each :class:`TuningJobStateTrigger` asks
the connection's watcher for its job's state, and:

- **Background reads wait for the next listing round.** Their ids gather in one batch, kept as
  they come and go (a read adds its id, an answer or a wait that gives up removes it) and taken
  whole when a round starts, never rebuilt. A round (``flows.watch.read_round``) lists until every
  id of its batch was seen, then reads on their own the few the listing did not show. It starts as
  soon as a listing pays: when it costs fewer requests than reading the batch job by job and
  answers a fair share of the records it parses (:data:`MIN_ANSWERED_SHARE`), at most every
  :data:`MIN_LISTING_INTERVAL`; at the latest when the oldest read has waited
  :data:`BACKGROUND_GATHER` (a round that small reads job by job if that is cheaper). A connection
  with too few waits for a listing ever to pay (fewer reads in a gather time) reads at once.
- **Urgent reads go at once**, from :meth:`JobWatcher.read` itself, ahead of background watching
  in the connection's budget: a confirmation due (a job this provider just cancelled) and a wait
  about to reach its deadline never wait for a round.
- **Records nobody waits for are not built**: a listing's pages come with their records raw
  (``TuningJobHook.alist_raw_pages``); each record's id is read from its id field
  (``platforms.record_ids``) and only watched jobs become :class:`TuningJob`\\ s.

Triggers keep everything they own (their schedule, deadline, transient-error tolerance, the one
event they yield); the watcher only answers "what is the state of job X now", with a read that
started after the question. It holds nothing a restarted triggerer would need: it is rebuilt from
the triggers that ask. A read that does not finish holds up only its own job: targeted reads
resolve their triggers one by one, and a stalled listing is bounded by the connection's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_ft_provider.errors import RequestTimeoutError, TuningJobError
from airflow_ft_provider.flows.steps import GetJobs, Listed, ListUntil
from airflow_ft_provider.flows.watch import cheaper_to_list, read_round
from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.platforms.record_ids import RecordIds
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.triggers.watch_stats import WatchStats

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook
    from airflow_ft_provider.jobs import TuningJob

log = logging.getLogger(__name__)

#: Listings start no more often than this: each parses every job on its pages, and a trigger's
#: schedule is seconds to minutes, so faster rounds would cost CPU and budget for nothing.
MIN_LISTING_INTERVAL = 1.0
#: The longest a background read waits for others to share a round with (a sensor polls every
#: 30 s; a few seconds more cost it nothing).
BACKGROUND_GATHER = 5.0
#: A listing starts before the gather time is up once the jobs waiting are at least this share of
#: the records it read last time: parsing pages is what a round costs the triggerer's CPU.
MIN_ANSWERED_SHARE = 0.25
#: A wait this close to its deadline reads at once rather than wait for a round.
URGENT_BEFORE_DEADLINE = 2 * BACKGROUND_GATHER


@dataclass
class _Waiter:
    future: asyncio.Future[TuningJob]
    asked: float = field(default_factory=time.monotonic)


class _Batch(dict[str, list["_Waiter"]]):
    """The jobs a round will read, each with its waiters (oldest first); only ever changed by one
    read or one answer at a time, and iterated once per round."""


@dataclass
class JobWatcher:
    """Reads the jobs its triggers ask for, for one connection on one event loop."""

    hook: TuningJobHook
    page_size: int | None
    stats: WatchStats = field(default_factory=WatchStats)

    def __post_init__(self) -> None:
        # A listing of an unpaged platform is one request; elsewhere, until a listing says otherwise,
        # assume a few pages, so that two or three waits read their jobs directly.
        self._pages_per_listing = 1 if self.page_size is None else 3
        self._records_per_listing = 0
        #: The batch: background waiters of the next round, by job id; when the first of them asked.
        self._pending = _Batch()
        self._oldest_ask = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_listing = float("-inf")
        self._ids: RecordIds | None = None
        # The jobs read in the background in the current and the previous gather time: how many to expect.
        self._window_start = float("-inf")
        self._window_jobs: set[str] = set()
        self._last_window_jobs = 0

    @classmethod
    def of(cls, hook: TuningJobHook) -> JobWatcher:
        """The running loop's watcher of ``hook``'s connection (made on first use)."""
        entries = process_cache.on_loop()
        key = ("watcher", type(hook), hook.conn_id)
        watcher = entries.get(key)
        if watcher is None:
            watcher = entries[key] = cls(hook, hook.record.largest_page)
        return watcher

    async def read(self, job_id: str, *, urgent: bool, deadline: float | None) -> TuningJob:
        """The job's state from a read that starts after this call; RequestTimeoutError at ``deadline``."""
        if urgent or (deadline is not None and deadline - time.time() < URGENT_BEFORE_DEADLINE):
            return await self._read_now(job_id, deadline)
        waiter = _Waiter(asyncio.get_running_loop().create_future())
        self._count_ask(job_id, waiter.asked)
        waiters = self._pending.setdefault(job_id, [])
        waiters.append(waiter)
        if len(self._pending) == 1:
            self._oldest_ask = waiter.asked
            self._wake.set()
        elif len(self._pending) == self._listing_pays_at():
            self._wake.set()
        self._start()
        try:
            return await asyncio.wait_for(waiter.future, self._timeout(deadline))
        except TimeoutError:
            raise self._too_late(job_id) from None
        finally:
            if not waiter.future.done():
                waiter.future.cancel()
            # Still in the batch (no round took it): this wait gave up, so it leaves the batch.
            if self._pending.get(job_id) is waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._pending[job_id]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _read_now(self, job_id: str, deadline: float | None) -> TuningJob:
        """A targeted urgent read; it also answers the background waits of the job asked before it."""
        earlier = list(self._pending.get(job_id, ()))
        self.stats.reads += 1
        self.stats.urgent_reads += 1
        try:
            job = await asyncio.wait_for(
                self.hook.aget_job(job_id, deadline=deadline, urgent=True), self._timeout(deadline)
            )
        except TimeoutError:
            raise self._too_late(job_id) from None
        self.stats.answered += 1
        self._settle(earlier, job)
        return job

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._rounds(), name="ft-job-watcher")

    async def _rounds(self) -> None:
        while True:
            self.stats.wakes += 1
            wait = self._until_due() if self._pending else None
            if wait is None or wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            # The batch, taken whole: reads asked from now on gather for the next round.
            batch, self._pending = self._pending, _Batch()
            try:
                await self._round(batch)
            except Exception as exc:  # a bug must not leave triggers waiting for ever
                log.exception("Job watcher round failed")
                for waiters in batch.values():
                    self._settle(waiters, exc)

    def _listing_pays_at(self) -> int:
        """How many jobs waiting make a listing worth starting now (fewer wait for the gather time)."""
        return max(self._pages_per_listing + 1, math.ceil(self._records_per_listing * MIN_ANSWERED_SHARE))

    def _count_ask(self, job_id: str, now: float) -> None:
        if now - self._window_start >= BACKGROUND_GATHER:
            recent = now - self._window_start < 2 * BACKGROUND_GATHER
            self._last_window_jobs = len(self._window_jobs) if recent else 0
            self._window_start, self._window_jobs = now, set()
        self._window_jobs.add(job_id)

    def _until_due(self) -> float:
        """Seconds until the next round should start (0: now). O(1): the batch is not scanned."""
        now = time.monotonic()
        pays_at = self._listing_pays_at()
        listing_free = self._last_listing + MIN_LISTING_INTERVAL
        if len(self._pending) >= pays_at:  # a listing pays: as soon as listings may start
            due = listing_free
        elif max(len(self._window_jobs), self._last_window_jobs) >= pays_at:  # it will: gather
            due = max(self._oldest_ask + BACKGROUND_GATHER, listing_free)
        elif cheaper_to_list(len(self._pending), self._pages_per_listing):  # few, but more than a listing costs
            due = listing_free
        else:  # few waits on this connection: read job by job at once
            due = now
        return max(0.0, due - now)

    async def _round(self, batch: _Batch) -> None:
        self.stats.rounds += 1
        flow = read_round(batch, pages_per_listing=self._pages_per_listing, page_size=self.page_size, urgent=False)
        step = next(flow)
        if isinstance(step, ListUntil):
            self._last_listing = time.monotonic()
            try:
                listed = await self._list_until(step)
            except TuningJobError as exc:  # every job of the round was unread: their triggers count it
                for waiters in batch.values():
                    self._settle(waiters, exc)
                return
            for job_id, job in listed.found.items():
                self.stats.listed_answers += self._settle(batch[job_id], job)
            try:
                step = flow.send(listed)
            except StopIteration:
                return
        if isinstance(step, GetJobs):
            for job_id in step.job_ids:
                asyncio.get_running_loop().create_task(self._read_one(job_id, batch[job_id]))
        flow.close()

    async def _list_until(self, step: ListUntil) -> Listed:
        """List until every job of ``step`` was seen, building only those jobs' records."""
        self.stats.listings += 1
        dialect = (await self.hook.aprepare()).dialect
        if self._ids is None or self._ids.dialect is not dialect:  # a new connection version: learn again
            self._ids = RecordIds(dialect)
        ids = self._ids
        ids.new_listing()
        wanted = {dialect.job_key(job_id): job_id for job_id in step.job_ids}
        found: dict[str, TuningJob] = {}
        listed = pages = 0
        walk = self.hook.alist_raw_pages(step.page_size, urgent=step.urgent)
        try:
            async for answer, response in walk:
                pages += 1
                listed += len(answer.items)
                for item in answer.items:
                    raw_id = ids.id_of(item, response)
                    key = None if raw_id is None else dialect.job_key(raw_id)
                    asked = None if key is None else wanted.get(key)
                    if asked is None or key is None:
                        continue
                    job, built = ids.job(key, item, response)
                    self.stats.built += built
                    if not ids.agrees(item, job) and (asked := wanted.get(dialect.job_key(job.job_id))) is None:
                        continue
                    found[asked] = job
                if len(found) == len(wanted):
                    break
        finally:
            await walk.aclose()  # type: ignore[attr-defined]
        self.stats.pages += pages
        self.stats.records += listed
        self._pages_per_listing = max(1, pages)
        self._records_per_listing = listed
        return Listed(found, pages)

    async def _read_one(self, job_id: str, waiters: list[_Waiter]) -> None:
        """A background targeted read of a job the listing did not show."""
        self.stats.reads += 1
        try:
            outcome: TuningJob | Exception = await self.hook.aget_job(job_id, urgent=False)
        except TuningJobError as exc:
            outcome = exc
        except Exception as exc:  # reported to the waiting triggers, which end with an error event
            log.exception("%s", outcome_line("read FAILED", self.hook.platform, job_id))
            outcome = exc
        self._settle(waiters, outcome)

    def _settle(self, waiters: list[_Waiter], outcome: Any) -> int:
        """Answer ``waiters`` (those still waiting: a trigger may have given up meanwhile); how many."""
        answered = 0
        for waiter in waiters:
            if waiter.future.done():
                continue
            answered += 1
            if isinstance(outcome, BaseException):
                waiter.future.set_exception(outcome)
            else:
                waiter.future.set_result(outcome)
        self.stats.answered += answered
        return answered

    @staticmethod
    def _timeout(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - time.time())

    @staticmethod
    def _too_late(job_id: str) -> TuningJobError:
        return RequestTimeoutError(f"No state of job {job_id} was read before the wait's deadline.", job_id=job_id)


class WatchedJobs:
    """A trigger's hook whose job reads go through the connection's watcher (cancels go direct)."""

    def __init__(self, hook: TuningJobHook) -> None:
        self.hook = hook
        self.platform = hook.platform
        self.conn_id = hook.conn_id
        self.watcher = JobWatcher.of(hook)

    async def aget_job(self, job_id: str, *, deadline: float | None = None, urgent: bool = True) -> TuningJob:
        return await self.watcher.read(job_id, urgent=urgent, deadline=deadline)

    async def acancel_job(self, job_id: str, *, deadline: float | None = None) -> TuningJob | None:
        return await self.hook.acancel_job(job_id, deadline=deadline)

    async def aprepare(self) -> PlatformSetup:
        return await self.hook.aprepare()

    def alist_jobs(
        self, page_size: int | None = None, *, deadline: float | None = None, urgent: bool = True
    ) -> AsyncIterator[TuningJob]:
        return self.hook.alist_jobs(page_size, deadline=deadline, urgent=urgent)
