"""Platform-neutral in-memory job store with scripted, clock-driven timelines.

A job never "runs": its phase is a pure function of the clock, its :class:`JobScript`
and the moment a cancel was accepted. That keeps the emulator cheap (nothing ticks in
the background) and deterministic enough for tests that use fractional seconds.
The uvicorn thread and the test thread share one store, so every access holds a lock.
:class:`Phase` lives with the platforms' state tables (:mod:`airflow_ft_provider.platforms.states`),
which say what each platform shows in it.
Jobs are kept in listing order per partition (a Vertex AI project and region, a
DashScope workspace), so listing pages cost what they return, not the project's size.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.platforms.states import Phase

__all__ = ["CancelResult", "Job", "JobScript", "JobStore", "JobView", "NewId", "Phase", "order_key"]


@dataclass(frozen=True)
class JobScript:
    """The life a job will live: queued → pending → running → end, unless cancelled.

    ``running_s=None`` runs forever. After a cancel is accepted the job spends
    ``cancel_s`` seconds cancelling, then ends in ``cancel_outcome``: ``"succeeded"`` or
    ``"failed"`` model the race where a cancel arrives too late to matter.
    """

    queued_s: float = 0.0
    running_s: float | None = None
    end_state: Literal["succeeded", "failed"] = "succeeded"
    cancel_s: float = 0.0
    cancel_outcome: Literal["cancelled", "succeeded", "failed"] = "cancelled"
    pending_s: float = 0.0

    def __post_init__(self) -> None:
        if min(self.queued_s, self.pending_s, self.cancel_s, self.running_s or 0.0) < 0:
            raise ValueError("JobScript durations must be >= 0")
        if self.end_state not in ("succeeded", "failed"):
            raise ValueError(f"bad end_state {self.end_state!r}")
        if self.cancel_outcome not in ("cancelled", "succeeded", "failed"):
            raise ValueError(f"bad cancel_outcome {self.cancel_outcome!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobScript:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown JobScript fields: {sorted(unknown)}")
        return cls(**data)


@dataclass(eq=False)
class Job:
    """One seeded or created job; static fields plus the two things a client can change."""

    platform: Platform
    native_id: str
    display_name: str
    base_model: str
    script: JobScript
    origin: float  # clock() value at which the job was created
    created_wall: float  # epoch seconds matching ``origin``
    seq: int
    labels: dict[str, str] = field(default_factory=dict)
    #: Where the job lives, in the platform's own words (Vertex AI: project and location).
    scope: dict[str, str] = field(default_factory=dict)
    #: Which requests can see it: the platform maps a request to the partitions it reads.
    partition: Hashable = None
    error_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Mutable, guarded by the store lock.
    cancel_at: float | None = None
    pinned: str | None = None

    def wall(self, t: float) -> float:
        """Epoch seconds for a clock() instant on this job's timeline."""
        return self.created_wall + (t - self.origin)


@dataclass(frozen=True)
class JobView:
    """A consistent snapshot of one job at one instant, safe to render without the lock."""

    job: Job
    phase: Phase
    #: Phases entered so far with their epoch time, oldest first.
    history: tuple[tuple[Phase, float], ...]
    pinned: str | None
    now_wall: float

    def entered(self, phase: Phase) -> float | None:
        for p, t in self.history:
            if p is phase:
                return t
        return None

    @property
    def created_at(self) -> float:
        return self.job.created_wall

    @property
    def started_at(self) -> float | None:
        return self.entered(Phase.RUNNING)

    @property
    def cancel_requested_at(self) -> float | None:
        return self.entered(Phase.CANCELLING)

    @property
    def ended_at(self) -> float | None:
        return self.history[-1][1] if self.phase.ended else None

    @property
    def updated_at(self) -> float:
        return self.history[-1][1]


def order_key(job: Job) -> tuple[float, int]:
    """Listing order: creation time, then insertion; listings run newest first."""
    return job.created_wall, job.seq


#: ``"rejected"``: the job had ended; ``"already"``: it was already cancelling.
CancelResult = Literal["accepted", "already", "rejected"]
#: Makes a native id from the display name and the creation time (epoch seconds).
NewId = Callable[[str, float], str]
_ID_ATTEMPTS = 1000


class JobStore:
    """Thread-safe jobs keyed by (platform, native id), kept in listing order per partition.

    Reading a job by id is a dict lookup; a listing page is a bisect into its partitions'
    ordered lists plus the page itself, so paging a 30,000-job project never walks it all.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._jobs: defaultdict[Platform, dict[str, Job]] = defaultdict(dict)
        #: Ascending :func:`order_key` per (platform, partition).
        self._ordered: defaultdict[tuple[Platform, Hashable], list[Job]] = defaultdict(list)
        self._seq = itertools.count()

    def add_many(
        self,
        platform: Platform,
        new_id: NewId,
        n: int,
        *,
        display_name: Callable[[int], str],
        base_model: str,
        script: Callable[[int], JobScript],
        created_ago_s: Callable[[int], float],
        native_id: str | None = None,
        **fields: Any,
    ) -> list[Job]:
        """Create ``n`` jobs under one lock, indexing them in one pass: the bulk seeding path.

        Per-job values come from functions of the job's index; dict ``fields`` (labels,
        extra, scope) are copied per job so no two jobs share one. A forced ``native_id``
        is for one job only.
        """
        if native_id is not None and n != 1:
            raise ValueError("a forced native_id names one job, not many")
        with self._lock:
            if native_id is not None and native_id in self._jobs[platform]:
                raise ValueError(f"{platform} job {native_id!r} already exists")
            jobs = [
                self._new(platform, new_id, display_name(i), base_model, script(i), created_ago_s(i), native_id, fields)
                for i in range(n)
            ]
            self._index(jobs)
            return jobs

    def _new(
        self,
        platform: Platform,
        new_id: NewId,
        display_name: str,
        base_model: str,
        script: JobScript,
        created_ago_s: float,
        native_id: str | None,
        fields: Mapping[str, Any],
    ) -> Job:
        """One job, registered by id (the lock is held)."""
        table = self._jobs[platform]
        created_wall = self.wall() - created_ago_s
        if native_id is None:
            for _ in range(_ID_ATTEMPTS):
                native_id = new_id(display_name, created_wall)
                if native_id not in table:
                    break
            else:
                raise RuntimeError(f"no free {platform} job id after {_ID_ATTEMPTS} tries: the id space is full")
        copied: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in fields.items()}
        job = Job(
            platform=platform,
            native_id=native_id,
            display_name=display_name,
            base_model=base_model,
            script=script,
            origin=self.clock() - created_ago_s,
            created_wall=created_wall,
            seq=next(self._seq),
            **copied,
        )
        table[native_id] = job
        return job

    def _index(self, jobs: list[Job]) -> None:
        """Put new jobs in their partitions' order: appends when they are the newest (seeding
        "now"), one sort of a nearly sorted list otherwise (seeding "an hour ago")."""
        touched: dict[tuple[Platform, Hashable], list[Job]] = {}
        for job in jobs:
            ordered = self._ordered[(job.platform, job.partition)]
            if ordered and order_key(ordered[-1]) > order_key(job):
                touched[(job.platform, job.partition)] = ordered
            ordered.append(job)
        for ordered in touched.values():
            ordered.sort(key=order_key)

    def get(self, platform: Platform, native_id: str) -> Job | None:
        with self._lock:
            return self._jobs[platform].get(native_id)

    def delete(self, platform: Platform, native_id: str) -> bool:
        with self._lock:
            job = self._jobs[platform].pop(native_id, None)
            if job is None:
                return False
            ordered = self._ordered[(platform, job.partition)]
            del ordered[bisect_left(ordered, order_key(job), key=order_key)]
            return True

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._ordered.clear()

    def view(self, job: Job) -> JobView:
        with self._lock:
            return self._view(job, self.clock())

    def views_of(self, jobs: Iterable[Job]) -> list[JobView]:
        """Snapshots of ``jobs`` at one instant."""
        with self._lock:
            now = self.clock()
            return [self._view(j, now) for j in jobs]

    def views(self, platform: Platform) -> list[JobView]:
        """Snapshots of every job of a platform, newest first (walks them all: for the admin API)."""
        with self._lock:
            jobs = sorted(self._jobs[platform].values(), key=order_key, reverse=True)
            now = self.clock()
            return [self._view(j, now) for j in jobs]

    def count(self, platform: Platform, partitions: Iterable[Hashable]) -> int:
        with self._lock:
            return sum(len(self._ordered.get((platform, p), ())) for p in set(partitions))

    def page(
        self,
        platform: Platform,
        partitions: Iterable[Hashable],
        *,
        before: tuple[float, int] | None = None,
        skip: int = 0,
        limit: int | None = None,
        where: Callable[[JobView], bool] | None = None,
        oldest_first: bool = False,
        after: tuple[float, int] | None = None,
    ) -> tuple[list[JobView], bool]:
        """Newest-first snapshots from ``partitions``, older than ``before`` (an :func:`order_key`),
        after skipping ``skip`` matches, at most ``limit``; and whether more matches follow.
        ``oldest_first`` walks the other way (Bedrock's ``sortOrder=Ascending``), from just newer
        than ``after``.

        The cost is the page plus what ``skip`` and ``where`` pass over, never the whole
        partition: with no filter a page starts at a computed index; with one the scan
        stops at the first match past the page.
        """
        with self._lock:
            now = self.clock()
            lists = [self._ordered[(platform, p)] for p in dict.fromkeys(partitions) if (platform, p) in self._ordered]
            unfiltered_skip = skip if where is None else 0
            jobs = (
                self._oldest(lists, after, unfiltered_skip)
                if oldest_first
                else self._newest(lists, before, unfiltered_skip)
            )
            views: Iterator[JobView]
            if where is None:
                views = (self._view(j, now) for j in jobs)
            else:
                views = itertools.islice((v for v in (self._view(j, now) for j in jobs) if where(v)), skip, None)
            taken = list(itertools.islice(views, limit)) if limit is not None else list(views)
            more = limit is not None and next(views, None) is not None
            return taken, more

    @staticmethod
    def _newest(lists: list[list[Job]], before: tuple[float, int] | None, skip: int) -> Iterator[Job]:
        """Jobs of ascending ``lists`` older than ``before``, newest first, minus the first ``skip``."""

        def descending(ordered: list[Job], skip: int = 0) -> Iterator[Job]:
            end = len(ordered) if before is None else bisect_left(ordered, before, key=order_key)
            return (ordered[i] for i in range(end - 1 - skip, -1, -1))

        if len(lists) == 1:
            return descending(lists[0], skip)
        merged = heapq.merge(*(descending(ordered) for ordered in lists), key=order_key, reverse=True)
        return itertools.islice(merged, skip, None)

    @staticmethod
    def _oldest(lists: list[list[Job]], after: tuple[float, int] | None, skip: int) -> Iterator[Job]:
        """Jobs of ascending ``lists`` newer than ``after``, oldest first, minus the first ``skip``."""

        def ascending(ordered: list[Job], skip: int = 0) -> Iterator[Job]:
            start = 0 if after is None else bisect_right(ordered, after, key=order_key)
            return (ordered[i] for i in range(start + skip, len(ordered)))

        if len(lists) == 1:
            return ascending(lists[0], skip)
        return itertools.islice(heapq.merge(*(ascending(ordered) for ordered in lists), key=order_key), skip, None)

    def pin(self, job: Job, native_state: str | None) -> JobView:
        """Force (or with None, release) the native state the platform reports."""
        with self._lock:
            job.pinned = native_state
            return self._view(job, self.clock())

    def cancel(
        self, job: Job, native_state: Callable[[JobView], str], terminal: frozenset[str]
    ) -> tuple[CancelResult, JobView]:
        """Accept a cancel unless the job has ended, deciding on the platform's own view.

        A pinned non-terminal state (``compressing``, ``paused``, an unknown string) is
        released: the cancel then follows the script like any other.
        """
        with self._lock:
            now = self.clock()
            before = self._view(job, now)
            if native_state(before) in terminal or before.phase.ended:
                return "rejected", before
            if before.phase is Phase.CANCELLING:
                return "already", before
            job.cancel_at = now
            job.pinned = None
            return "accepted", self._view(job, now)

    def _view(self, job: Job, now: float) -> JobView:
        s = job.script
        o = job.origin
        cut = job.cancel_at if job.cancel_at is not None else math.inf
        t_pending = o + s.queued_s
        t_running = t_pending + s.pending_s
        t_end = math.inf if s.running_s is None else t_running + s.running_s
        steps: list[tuple[Phase, float]] = [(Phase.QUEUED, o)]
        if s.pending_s > 0:
            steps.append((Phase.PENDING, t_pending))
        steps += [(Phase.RUNNING, t_running), (Phase(s.end_state), t_end)]
        history = [(p, t) for p, t in steps if t <= now and (t < cut or p is Phase.QUEUED)]
        if job.cancel_at is not None and job.cancel_at <= now:
            history.append((Phase.CANCELLING, job.cancel_at))
            t_done = job.cancel_at + s.cancel_s
            if t_done <= now:
                history.append((Phase(s.cancel_outcome), t_done))
        shift = job.created_wall - o
        return JobView(
            job=job,
            phase=history[-1][0],
            history=tuple([(p, t + shift) for p, t in history]),
            pinned=job.pinned,
            now_wall=job.wall(now),
        )
