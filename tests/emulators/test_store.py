"""The platform-neutral timeline, on a fake clock: no server, no sleeping."""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing.store import JobScript, JobStore, Phase


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> JobStore:
    return JobStore(clock, wall=lambda: 1_700_000_000.0 + clock.t)


def add(store: JobStore, script: JobScript, **kwargs):
    ids = iter(range(10**6))
    return store.add(
        Platform.OPENAI, lambda: f"job-{next(ids)}", display_name="d", base_model="m", script=script, **kwargs
    )


def phase(store: JobStore, job) -> Phase:
    return store.view(job).phase


def never_terminal(view) -> str:
    return str(view.phase)


def test_natural_life(store, clock):
    job = add(store, JobScript(queued_s=1, pending_s=1, running_s=2))
    seen = []
    for _ in range(6):
        seen.append(phase(store, job))
        clock.t += 1
    assert seen == ["queued", "pending", "running", "running", "succeeded", "succeeded"]
    view = store.view(job)
    assert view.started_at == view.created_at + 2
    assert view.ended_at == view.created_at + 4
    assert view.updated_at == view.ended_at


def test_failed_end_and_forever(store, clock):
    failing = add(store, JobScript(running_s=1, end_state="failed"))
    forever = add(store, JobScript(running_s=None))
    clock.t += 10**6
    assert phase(store, failing) is Phase.FAILED
    assert phase(store, forever) is Phase.RUNNING
    assert store.view(forever).ended_at is None


def test_cancel_goes_through_cancelling(store, clock):
    job = add(store, JobScript(cancel_s=2))
    clock.t += 5
    result, view = store.cancel(job, never_terminal, frozenset())
    assert result == "accepted" and view.phase is Phase.CANCELLING
    assert store.cancel(job, never_terminal, frozenset())[0] == "already"
    clock.t += 1.999
    assert phase(store, job) is Phase.CANCELLING
    clock.t += 0.001
    view = store.view(job)
    assert view.phase is Phase.CANCELLED
    assert view.cancel_requested_at == view.created_at + 5
    assert view.ended_at == view.created_at + 7
    assert store.cancel(job, never_terminal, frozenset())[0] == "rejected"


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_cancel_race_outcome(store, clock, outcome):
    job = add(store, JobScript(cancel_s=1, cancel_outcome=outcome))
    store.cancel(job, never_terminal, frozenset())
    clock.t += 1
    assert phase(store, job) == outcome


def test_cancel_while_queued_never_starts(store, clock):
    job = add(store, JobScript(queued_s=10, cancel_s=0))
    store.cancel(job, never_terminal, frozenset())
    clock.t += 100
    view = store.view(job)
    assert view.phase is Phase.CANCELLED
    assert view.started_at is None
    assert [p for p, _ in view.history] == ["queued", "cancelling", "cancelled"]


def test_created_ago_shifts_the_timeline(store):
    job = add(store, JobScript(running_s=3600), created_ago_s=7200)
    view = store.view(job)
    assert view.phase is Phase.SUCCEEDED
    assert view.now_wall - view.created_at == pytest.approx(7200)


def test_pinned_state_and_cancel_releases_it(store):
    job = add(store, JobScript(), pinned="compressing")
    assert store.view(job).pinned == "compressing"
    result, view = store.cancel(job, lambda v: v.pinned or str(v.phase), frozenset({"cancelled"}))
    assert result == "accepted" and view.pinned is None


def test_pinned_terminal_state_refuses_cancel(store):
    job = add(store, JobScript(), pinned="JOB_STATE_EXPIRED")
    result, _ = store.cancel(job, lambda v: v.pinned or str(v.phase), frozenset({"JOB_STATE_EXPIRED"}))
    assert result == "rejected"


def test_listing_is_newest_first_and_ids_unique(store, clock):
    ids = iter(["dup", "dup", "other"])
    first = store.add(Platform.OPENAI, lambda: next(ids), display_name="a", base_model="m", script=JobScript())
    second = store.add(Platform.OPENAI, lambda: next(ids), display_name="b", base_model="m", script=JobScript())
    old = add(store, JobScript(), created_ago_s=60)
    assert (first.native_id, second.native_id) == ("dup", "other")
    assert [j.native_id for j in store.jobs(Platform.OPENAI)] == ["other", "dup", old.native_id]
    with pytest.raises(ValueError, match="already exists"):
        add(store, JobScript(), native_id="dup")


@pytest.mark.parametrize(
    "kwargs", [{"queued_s": -1}, {"end_state": "cancelled"}, {"cancel_outcome": "paused"}, {"running_s": -2}]
)
def test_script_validation(kwargs):
    with pytest.raises(ValueError):
        JobScript(**kwargs)
