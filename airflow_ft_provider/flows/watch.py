"""One round of reading many jobs, written once for the bulk confirmation and the triggerer's watcher.

Each round reads the jobs asked for the cheapest way: a listing where one covers them in fewer
requests than reading each (:func:`cheaper_to_list`; it stops paging as soon as every job asked for
was seen), then targeted reads for the jobs the listing did not show (deleted, or older than it
went). The bulk operator runs rounds until its jobs ended (``flows.confirm``); the triggerer's
shared watcher runs one whenever triggers wait for a state (``triggers.watcher``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.flows.steps import Flow, GetJobs, JobsRead, Listed, ListUntil
from airflow_ft_provider.jobs import TuningJob


def cheaper_to_list(pending: int, pages_per_listing: int) -> bool:
    """Whether one listing (``pages_per_listing`` requests) reads ``pending`` jobs in fewer requests."""
    return pages_per_listing < pending


@dataclass(frozen=True)
class Round:
    """What one round read: each job asked for, as a record or the error reading it."""

    found: Mapping[str, TuningJob | TuningJobError]
    #: Pages the round's listing fetched (None: it read job by job).
    pages: int | None


def read_round(job_ids: Collection[str], *, pages_per_listing: int, page_size: int | None, urgent: bool) -> Flow[Round]:
    """Read ``job_ids`` once: a listing if cheaper, targeted reads for what it did not show.

    A listing that fails raises its error (every job of the round failed to be read); a targeted
    read that fails is reported for its job only.
    """
    found: dict[str, TuningJob | TuningJobError] = {}
    pages = None
    if cheaper_to_list(len(job_ids), pages_per_listing):
        listed: Listed = yield ListUntil(frozenset(job_ids), page_size, urgent)
        found.update(listed.found)
        pages = listed.pages
    rest = tuple(job_id for job_id in job_ids if job_id not in found)
    if rest:
        read: JobsRead = yield GetJobs(rest, urgent)
        found.update(read)
    return Round(found, pages)
