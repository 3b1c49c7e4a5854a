"""The steps a flow asks for, and the two drivers that carry them out (blocking and async).

A *flow* is a generator that yields steps (read a job, cancel a job, list until some jobs are seen, sleep) and
receives their results; it does no I/O itself. :func:`run_flow` drives it with a hook's blocking
calls on a worker, :func:`arun_flow` with the hook's coroutines in the triggerer. So the rules of
"cancel as a user means it", of adaptive polling and of confirming many jobs exist in one place,
and sync and async behave identically by construction. Both drivers pass the flow's ``deadline``
to every call, so no request outlives it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_ft_provider import metrics
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import TuningJob
from airflow_ft_provider.metrics import CancelOutcome

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import PlatformSetup, TuningJobHook
    from airflow_ft_provider.platforms.base import Dialect

T = TypeVar("T")
#: Runs a function over items, e.g. an executor's ``map`` (threads) for side-by-side calls.
MapCalls = Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]


@dataclass(frozen=True)
class GetJob:
    job_id: str
    #: False for background reads, served by the request budget after urgent ones.
    urgent: bool = True


@dataclass(frozen=True)
class GetJobs:
    """Read several jobs side by side; the result maps each id to its job or the error reading it."""

    job_ids: tuple[str, ...]
    urgent: bool = True


@dataclass(frozen=True)
class CancelJob:
    job_id: str


@dataclass(frozen=True)
class ListUntil:
    """List the connection's jobs page by page until every one of ``job_ids`` was seen (or the end)."""

    job_ids: frozenset[str]
    page_size: int | None = None
    urgent: bool = True


@dataclass(frozen=True)
class Listed:
    """What a :class:`ListUntil` found: each job asked for that the listing showed, by the id asked."""

    found: dict[str, TuningJob]
    pages: int


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Count:
    """A metric (``airflow_ft_provider.metrics``): a cancel's ``outcome``, or with ``outcome`` None a
    confirmed cancel that took ``seconds``. The driver adds the connection's platform and id."""

    outcome: CancelOutcome | None
    seconds: float | None = None


Step = GetJob | GetJobs | CancelJob | ListUntil | Sleep | Count
Flow = Generator[Step, Any, T]
JobsRead = dict[str, TuningJob | TuningJobError]


def run_flow(
    hook: TuningJobHook,
    flow: Flow[T],
    *,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    map_calls: MapCalls = map,
) -> T:
    """Drive a flow with blocking calls (workers, callbacks); ``map_calls`` runs side-by-side steps."""

    def do(step: Step) -> Any:
        if isinstance(step, GetJob):
            return hook.get_job(step.job_id, deadline=deadline, urgent=step.urgent)
        if isinstance(step, GetJobs):

            def read(job_id: str) -> TuningJob | TuningJobError:
                try:
                    return hook.get_job(job_id, deadline=deadline, urgent=step.urgent)
                except TuningJobError as exc:
                    return exc

            return dict(zip(step.job_ids, map_calls(read, step.job_ids), strict=True))
        if isinstance(step, CancelJob):
            return hook.cancel_job(step.job_id, deadline=deadline)
        if isinstance(step, Count):
            return _count(hook, step)
        if isinstance(step, ListUntil):
            seeker = _Seeker(hook.prepare().dialect, step)
            for job in hook.list_jobs(step.page_size, deadline=deadline, urgent=step.urgent):
                if seeker.saw(job):
                    break
            return seeker.listed()
        sleep(step.seconds)
        return None

    return _drive(flow, do)


class AsyncJobs(Protocol):
    """What the async driver calls: a hook, or a trigger's view of one (``triggers.watcher``)."""

    @property
    def platform(self) -> str: ...

    @property
    def conn_id(self) -> str: ...

    async def aget_job(self, job_id: str, *, deadline: float | None = ..., urgent: bool = ...) -> TuningJob: ...

    async def acancel_job(self, job_id: str, *, deadline: float | None = ...) -> TuningJob | None: ...

    async def aprepare(self) -> PlatformSetup: ...

    def alist_jobs(
        self, page_size: int | None = ..., *, deadline: float | None = ..., urgent: bool = ...
    ) -> AsyncIterator[TuningJob]: ...


async def arun_flow(hook: AsyncJobs, flow: Flow[T], *, deadline: float | None = None) -> T:
    """Drive a flow with the hook's coroutines (triggerer): nothing here blocks the loop."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            if isinstance(step, GetJob):
                result = await hook.aget_job(step.job_id, deadline=deadline, urgent=step.urgent)
            elif isinstance(step, GetJobs):
                reads = [_aread(hook, job_id, deadline, step.urgent) for job_id in step.job_ids]
                result = dict(zip(step.job_ids, await asyncio.gather(*reads), strict=True))
            elif isinstance(step, CancelJob):
                result = await hook.acancel_job(step.job_id, deadline=deadline)
            elif isinstance(step, Count):
                _count(hook, step)
            elif isinstance(step, ListUntil):
                seeker = _Seeker((await hook.aprepare()).dialect, step)
                jobs = hook.alist_jobs(step.page_size, deadline=deadline, urgent=step.urgent)
                async for job in jobs:
                    if seeker.saw(job):
                        await jobs.aclose()  # type: ignore[attr-defined]
                        break
                result = seeker.listed()
            else:
                await asyncio.sleep(step.seconds)
        except Exception as exc:  # the flow decides: it may count it (a failed cancel) before it goes on up
            error = exc


async def _aread(hook: AsyncJobs, job_id: str, deadline: float | None, urgent: bool) -> TuningJob | TuningJobError:
    try:
        return await hook.aget_job(job_id, deadline=deadline, urgent=urgent)
    except TuningJobError as exc:
        return exc


def _count(hook: TuningJobHook | AsyncJobs, step: Count) -> None:
    if step.outcome is None:
        metrics.count_confirmed(hook.platform, hook.conn_id, step.seconds)
    else:
        metrics.count_cancel(step.outcome, hook.platform, hook.conn_id)


class _Seeker:
    """Matches listed jobs to the ids a :class:`ListUntil` asked for (by the dialect's job key)."""

    def __init__(self, dialect: Dialect, step: ListUntil) -> None:
        self._key = dialect.job_key
        self._wanted = {self._key(job_id): job_id for job_id in step.job_ids}
        self._found: dict[str, TuningJob] = {}
        self._listed = 0
        self._page_size = step.page_size

    def saw(self, job: TuningJob) -> bool:
        """Note ``job``; whether every job asked for has now been seen."""
        self._listed += 1
        asked = self._wanted.get(self._key(job.job_id))
        if asked is not None:
            self._found[asked] = job
        return len(self._found) == len(self._wanted)

    def listed(self) -> Listed:
        """What was found, and about how many pages it took (a platform that does not page: one)."""
        pages = 1 if self._page_size is None else max(1, -(-self._listed // self._page_size))
        return Listed(self._found, pages)


def _drive(flow: Flow[T], do: Callable[[Step], Any]) -> T:
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            result = do(step)
        except Exception as exc:  # the flow decides: it may count it (a failed cancel) before it goes on up
            error = exc
