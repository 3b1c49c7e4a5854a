"""One shared watcher per connection in a triggerer process: thousands of waits, few requests.

Without it, every deferred wait polls its own job: 5,000 waits polling every 30 s send ~166
requests a second, sixteen times Vertex AI's quota. Here each :class:`TuningJobStateTrigger` asks
the connection's watcher for its job's state, and the watcher reads all the jobs asked for
together, round after round (``flows.watch.read_round``): a listing where one page covers many of
them (stopping as soon as all were seen), targeted reads for the rest, all within the connection's
request budget. A confirmation due (a job this provider just cancelled: an urgent read) never
waits for a round: it is read at once, on its own, ahead of background watching in the budget (a
round lists every watched job, and the cancelled one may be on its last page).

Background reads that a listing would serve gather for a few seconds first (``BACKGROUND_GATHER``),
so 10,000 sensors polling every 30 s cost a listing every few seconds, not one per second.

Triggers keep everything they own (their schedule, deadline, transient-error tolerance, the one
event they yield); the watcher only answers "what is the state of job X now". It holds nothing a
restarted triggerer would need: it is rebuilt from the triggers that ask. A read that does not
finish holds up only its own job: targeted reads resolve their triggers one by one, and a stalled
listing is bounded by the connection's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_ft_provider.errors import RequestTimeoutError, TuningJobError
from airflow_ft_provider.flows.steps import GetJobs, Listed, ListUntil
from airflow_ft_provider.flows.watch import cheaper_to_list, read_round
from airflow_ft_provider.process_cache import process_cache

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook
    from airflow_ft_provider.jobs import TuningJob

log = logging.getLogger(__name__)

#: Listings start no more often than this: each parses every job on its pages, and a trigger's
#: schedule is seconds to minutes, so faster rounds would cost CPU and budget for nothing.
MIN_LISTING_INTERVAL = 1.0
#: Background reads worth a listing gather this long first, so one listing answers many of them
#: (a sensor polls every 30 s; a few seconds more cost it nothing). Urgent reads never wait for it,
#: and a few reads that a listing would not save are sent at once.
BACKGROUND_GATHER = 5.0


@dataclass
class WatchStats:
    """What the watcher did, for logs and benchmarks."""

    rounds: int = 0
    listings: int = 0
    pages: int = 0
    reads: int = 0
    answered: int = 0


@dataclass
class _Waiter:
    future: asyncio.Future[TuningJob]
    urgent: bool
    asked: float = field(default_factory=time.monotonic)


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
        self._waiting: dict[str, list[_Waiter]] = {}
        self._in_flight: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_listing = float("-inf")

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
        future: asyncio.Future[TuningJob] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(future, urgent)
        self._waiting.setdefault(job_id, []).append(waiter)
        self._start()
        self._wake.set()
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise RequestTimeoutError(
                f"No state of job {job_id} was read before the wait's deadline.", job_id=job_id
            ) from None
        finally:
            waiters = self._waiting.get(job_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiting.pop(job_id, None)
            if not future.done():
                future.cancel()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._rounds(), name="ft-job-watcher")

    async def _rounds(self) -> None:
        while True:
            # The waiters this round answers: a read must start after the request it answers.
            batch = {
                job_id: unanswered
                for job_id, waiters in self._waiting.items()
                if job_id not in self._in_flight and (unanswered := [w for w in waiters if not w.future.done()])
            }
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            for job_id in [job_id for job_id, waiters in batch.items() if any(w.urgent for w in waiters)]:
                self._in_flight.add(job_id)
                asyncio.get_running_loop().create_task(self._read_one(job_id, batch.pop(job_id), True))
            if not batch:
                continue
            if gather := self._gathering(batch):
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), gather)
                continue
            try:
                await self._round(batch)
            except Exception as exc:  # a bug must not leave triggers waiting for ever
                log.exception("Job watcher round failed")
                for unanswered in batch.values():
                    self._settle(unanswered, exc)

    def _gathering(self, batch: dict[str, list[_Waiter]]) -> float:
        """Seconds to wait for more background reads before this round (0: go now)."""
        waiters = [w for ws in batch.values() for w in ws]
        if not cheaper_to_list(len(batch), self._pages_per_listing):
            return 0.0
        oldest = min(w.asked for w in waiters)
        return max(0.0, oldest + BACKGROUND_GATHER - time.monotonic())

    async def _round(self, batch: dict[str, list[_Waiter]]) -> None:
        self.stats.rounds += 1
        job_ids = list(batch)
        # Background reads only: urgent ones were sent on their own (see _rounds).
        flow = read_round(job_ids, pages_per_listing=self._pages_per_listing, page_size=self.page_size, urgent=False)
        step = next(flow)
        if isinstance(step, ListUntil):
            wait = self._last_listing + MIN_LISTING_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_listing = time.monotonic()
            try:
                listed = await self._list_until(step)
            except TuningJobError as exc:  # every job of the round was unread: their triggers count it
                for waiters in batch.values():
                    self._settle(waiters, exc)
                return
            for job_id, job in listed.found.items():
                self._settle(batch[job_id], job)
            try:
                step = flow.send(listed)
            except StopIteration:
                return
        if isinstance(step, GetJobs):
            for job_id in step.job_ids:
                self._in_flight.add(job_id)
                asyncio.get_running_loop().create_task(self._read_one(job_id, batch[job_id], step.urgent))
        flow.close()

    async def _list_until(self, step: ListUntil) -> Listed:
        self.stats.listings += 1
        dialect = (await self.hook.aprepare()).dialect
        wanted = {dialect.job_key(job_id): job_id for job_id in step.job_ids}
        found: dict[str, TuningJob] = {}
        listed = 0
        jobs: AsyncIterator[TuningJob] = self.hook.alist_jobs(step.page_size, urgent=step.urgent)
        try:
            async for job in jobs:
                listed += 1
                asked = wanted.get(dialect.job_key(job.job_id))
                if asked is not None:
                    found[asked] = job
                    if len(found) == len(wanted):
                        break
        finally:
            await jobs.aclose()  # type: ignore[attr-defined]
        pages = 1 if step.page_size is None else max(1, -(-listed // step.page_size))
        self.stats.pages += pages
        self._pages_per_listing = pages
        return Listed(found, pages)

    async def _read_one(self, job_id: str, waiters: list[_Waiter], urgent: bool) -> None:
        self.stats.reads += 1
        try:
            outcome: TuningJob | Exception = await self.hook.aget_job(job_id, urgent=urgent)
        except TuningJobError as exc:
            outcome = exc
        except Exception as exc:  # reported to the waiting triggers, which end with an error event
            log.exception("Reading job %s failed", job_id)
            outcome = exc
        finally:
            self._in_flight.discard(job_id)
        self._settle(waiters, outcome)
        self._wake.set()

    def _settle(self, waiters: list[_Waiter], outcome: Any) -> None:
        """Answer ``waiters`` (those still waiting: a trigger may have given up meanwhile)."""
        for waiter in waiters:
            if waiter.future.done():
                continue
            self.stats.answered += 1
            if isinstance(outcome, BaseException):
                waiter.future.set_exception(outcome)
            else:
                waiter.future.set_result(outcome)


class WatchedJobs:
    """A trigger's hook whose job reads go through the connection's watcher (cancels go direct)."""

    def __init__(self, hook: TuningJobHook) -> None:
        self.hook = hook
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
