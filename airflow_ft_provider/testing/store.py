"""Platform-neutral in-memory job store with scripted, clock-driven timelines.

A job never "runs": its phase is a pure function of the clock, its :class:`JobScript`
and the moment a cancel was accepted. That keeps the emulator cheap (nothing ticks in
the background) and deterministic enough for tests that use fractional seconds.
The uvicorn thread and the test thread share one store, so every access holds a lock.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from airflow_ft_provider.platforms.registry import Platform

__all__ = ["CancelResult", "Job", "JobScript", "JobStore", "JobView", "Phase"]


class Phase(StrEnum):
    """Where a job is on its timeline; each platform renders it under its own name."""

    QUEUED = "queued"
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in _ENDED


_ENDED = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})


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
    project: str | None = None
    location: str | None = None
    workspace: str | None = None
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


def _newest_first(job: Job) -> tuple[float, int]:
    return job.created_wall, job.seq


#: ``"rejected"``: the job had ended; ``"already"``: it was already cancelling.
CancelResult = Literal["accepted", "already", "rejected"]


class JobStore:
    """Thread-safe jobs keyed by (platform, native id)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._jobs: dict[Platform, dict[str, Job]] = {p: {} for p in Platform}
        self._seq = itertools.count()

    def add(
        self,
        platform: Platform,
        new_id: Callable[[], str],
        *,
        display_name: str,
        base_model: str,
        script: JobScript,
        created_ago_s: float = 0.0,
        native_id: str | None = None,
        **fields: Any,
    ) -> Job:
        """Create a job; ``new_id`` is retried until unique unless ``native_id`` is forced."""
        with self._lock:
            table = self._jobs[platform]
            if native_id is None:
                native_id = new_id()
                while native_id in table:
                    native_id = new_id()
            elif native_id in table:
                raise ValueError(f"{platform} job {native_id!r} already exists")
            job = Job(
                platform=platform,
                native_id=native_id,
                display_name=display_name,
                base_model=base_model,
                script=script,
                origin=self.clock() - created_ago_s,
                created_wall=self.wall() - created_ago_s,
                seq=next(self._seq),
                **fields,
            )
            table[native_id] = job
            return job

    def get(self, platform: Platform, native_id: str) -> Job | None:
        with self._lock:
            return self._jobs[platform].get(native_id)

    def delete(self, platform: Platform, native_id: str) -> bool:
        with self._lock:
            return self._jobs[platform].pop(native_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            for table in self._jobs.values():
                table.clear()

    def view(self, job: Job) -> JobView:
        with self._lock:
            return self._view(job, self.clock())

    def jobs(self, platform: Platform, where: Callable[[Job], bool] | None = None) -> list[Job]:
        """A platform's jobs, newest first (creation time, then insertion); no state computed."""
        with self._lock:
            jobs: Iterable[Job] = self._jobs[platform].values()
            if where is not None:
                jobs = [j for j in jobs if where(j)]
            return sorted(jobs, key=_newest_first, reverse=True)

    def views_of(self, jobs: Iterable[Job]) -> list[JobView]:
        """Snapshots of ``jobs`` at one instant; render a page, not the whole store."""
        with self._lock:
            now = self.clock()
            return [self._view(j, now) for j in jobs]

    def views(self, platform: Platform, where: Callable[[Job], bool] | None = None) -> list[JobView]:
        """Snapshots of a platform's jobs, newest first."""
        return self.views_of(self.jobs(platform, where))

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
