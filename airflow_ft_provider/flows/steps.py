"""The steps a flow asks for, and the two drivers that carry them out (blocking and async).

A *flow* is a generator that yields steps (read a job, cancel a job, list the jobs, sleep) and
receives their results; it does no I/O itself. :func:`run_flow` drives it with a hook's blocking
calls on a worker, :func:`arun_flow` with the hook's coroutines in the triggerer. So the rules of
"cancel as a user means it", of adaptive polling and of confirming many jobs exist in one place,
and sync and async behave identically by construction. Both drivers pass the flow's ``deadline``
to every call, so no request outlives it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import TuningJob

if TYPE_CHECKING:
    from airflow_ft_provider.hooks.base import TuningJobHook

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
class ListJobs:
    """Every job of the connection (a whole listing, within its bounds)."""

    page_size: int | None = None
    urgent: bool = True


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = GetJob | GetJobs | CancelJob | ListJobs | Sleep
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
        if isinstance(step, ListJobs):
            return hook.list_all_jobs(step.page_size, deadline=deadline, urgent=step.urgent, map_pages=map_calls)
        sleep(step.seconds)
        return None

    return _drive(flow, do)


async def arun_flow(hook: TuningJobHook, flow: Flow[T], *, deadline: float | None = None) -> T:
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
            elif isinstance(step, ListJobs):
                result = await hook.alist_all_jobs(step.page_size, deadline=deadline, urgent=step.urgent)
            else:
                await asyncio.sleep(step.seconds)
        except TuningJobError as exc:
            error = exc


async def _aread(hook: TuningJobHook, job_id: str, deadline: float | None, urgent: bool) -> TuningJob | TuningJobError:
    try:
        return await hook.aget_job(job_id, deadline=deadline, urgent=urgent)
    except TuningJobError as exc:
        return exc


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
        except TuningJobError as exc:
            error = exc
