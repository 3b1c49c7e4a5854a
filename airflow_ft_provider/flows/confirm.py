"""Confirming that many jobs ended: rounds of reads (``flows.watch``) until every one is terminal.

The bulk operator's confirmation. Each round is the same as the triggerer's watcher's: a listing
where one covers the pending jobs in fewer requests, targeted reads for the rest; a job that no
longer exists spends nothing and counts as settled.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from airflow_ft_provider.errors import JobNotFoundError, TuningJobError
from airflow_ft_provider.flows.steps import Count, Flow, Sleep
from airflow_ft_provider.flows.wait import MAX_TRANSIENT_ERRORS, PollSchedule, WaitStatus
from airflow_ft_provider.flows.watch import read_round
from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.jobs import TuningJob, TuningJobState

log = logging.getLogger(__name__)


@dataclass
class Confirmation:
    status: WaitStatus  # REACHED: every job settled; TIMEOUT; ERROR: the platform kept failing
    #: The latest view of every job.
    latest: dict[str, TuningJob]
    #: Jobs the platform no longer knows (deleted after the cancel): they spend nothing.
    gone: set[str] = field(default_factory=set)
    message: str = ""
    retryable: bool = False

    def pending(self) -> list[str]:
        return [job_id for job_id, job in self.latest.items() if not job.is_terminal and job_id not in self.gone]


def confirm_flow(
    jobs: Mapping[str, TuningJob],
    *,
    deadline: float,
    schedule: PollSchedule,
    pages_per_listing: int,
    page_size: int | None = None,
    max_transient_errors: int = MAX_TRANSIENT_ERRORS,
    clock: Callable[[], float] = time.time,
) -> Flow[Confirmation]:
    """Read ``jobs`` (id -> latest record) in rounds (``flows.watch``) until every one is terminal or
    gone, or ``deadline``. ``pages_per_listing``: what a listing costs, learned from each round.
    Each job seen CANCELLED counts ``metrics.CONFIRMED``, timed from when the confirmation started."""
    result = Confirmation(WaitStatus.REACHED, dict(jobs))
    started = clock()
    rounds = transient = 0
    while pending := result.pending():
        now = clock()
        if now >= deadline:
            result.status = WaitStatus.TIMEOUT
            result.message = f"{len(pending)} job(s) not confirmed ended (still {state_counts(result, pending)})"
            result.retryable = True
            return result
        yield Sleep(min(schedule.interval(now - started), deadline - now))
        rounds += 1
        try:
            done = yield from read_round(pending, pages_per_listing=pages_per_listing, page_size=page_size, urgent=True)
        except TuningJobError as exc:
            transient += 1
            if not exc.retryable or transient > max_transient_errors:
                result.status, result.retryable = WaitStatus.ERROR, exc.retryable
                result.message = f"confirmation stopped after {rounds} round(s): {exc}"
                return result
            log.warning("listing to confirm failed (%d in a row), will retry: %s", transient, exc)
            continue
        transient = 0
        pages_per_listing = done.pages or pages_per_listing
        for job_id, read in done.found.items():
            if isinstance(read, TuningJob):
                if read.state is TuningJobState.CANCELLED and not result.latest[job_id].is_terminal:
                    yield Count(None, seconds=clock() - started)
                result.latest[job_id] = read
            elif isinstance(read, JobNotFoundError):
                result.gone.add(job_id)
            else:  # read again next round
                log.warning("%s", outcome_line("read to confirm failed, will retry", None, job_id, str(read)))
        log.info("confirmation round %d: %s", rounds, state_counts(result, list(result.latest)))
    return result


def state_counts(result: Confirmation, job_ids: list[str]) -> str:
    counts = Counter("GONE" if i in result.gone else result.latest[i].state.value for i in job_ids)
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
