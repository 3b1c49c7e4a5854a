"""Reading the emulator's request log and the deployment's state in e2e assertions."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import record_for
from airflow_ft_provider.platforms.states import Phase
from airflow_ft_provider.testing import RemoteEmulator, RequestRecord
from tests.e2e.deployment import VERTEX_PROJECT

ENDED_PHASES = frozenset({"succeeded", "failed", "cancelled"})


def seed(emu: RemoteEmulator, platform: Platform | str, **kwargs: Any) -> str:
    """Seed a job where the e2e connections look (Vertex AI: the connection's project)."""
    if Platform(platform) is Platform.VERTEX_AI:
        kwargs.setdefault("project", VERTEX_PROJECT)
    return emu.seed(platform, **kwargs)


def _shown(phase: Phase, *, cancellable: bool = False) -> dict[Platform, str]:
    """The native state each platform's emulator shows in ``phase``, read from its state table."""
    records = (record_for(platform) for platform in Platform)
    return {Platform(r.name): r.dialect.states.timeline[phase] for r in records if r.can_cancel or not cancellable}


#: The native strings that end a job, per platform, for pinning a job's end in a drill.
NATIVE_SUCCEEDED = _shown(Phase.SUCCEEDED)
NATIVE_CANCELLED = _shown(Phase.CANCELLED, cancellable=True)


def short_id(job_id: str) -> str:
    return job_id.rsplit("/", 1)[-1]


def job_requests(emu: RemoteEmulator, platform: Platform | str, job_id: str) -> list[RequestRecord]:
    """Every request about ``job_id`` (reads and cancels; its path or body names it), oldest first."""
    short = short_id(job_id)
    return [r for r in emu.requests(platform) if r.mentions(short)]


def cancels(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.is_cancel]


def accepted_cancels(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    """Cancel requests the platform answered 2xx (a 429/503/dropped one never reached the job)."""
    return [r for r in cancels(records) if r.status is not None and 200 <= r.status < 300]


def reads(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.is_read]


def now() -> float:
    """Now on the request log's clock: the emulator stamps requests with ``time.monotonic()``,
    which on Linux is CLOCK_MONOTONIC, one clock for every process on the machine."""
    return time.monotonic()


def assert_no_job_left_running(emu: RemoteEmulator, jobs: Iterable[tuple[Platform | str, str]]) -> None:
    """Every job ended: by its timeline, or by the native state a drill pinned."""
    pinned_ends = {*NATIVE_SUCCEEDED.values(), *NATIVE_CANCELLED.values()}
    left = {}
    for platform, job_id in jobs:
        phase, native = emu.job_phase(platform, job_id), emu.job_state(platform, job_id)
        if phase not in ENDED_PHASES and native not in pinned_ends:
            left[job_id] = f"{phase} ({native})"
    assert not left, f"jobs left running on the platform: {left}"
