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


def add(store: JobStore, script: JobScript, *, created_ago_s: float = 0.0, new_id=None, **kwargs):
    """One job through the bulk path, as the controller adds them."""
    ids = iter(range(10**6))
    (job,) = store.add_many(
        Platform.OPENAI,
        new_id or (lambda *_: f"job-{next(ids)}"),
        1,
        display_name=lambda _: "d",
        base_model="m",
        script=lambda _: script,
        created_ago_s=lambda _: created_ago_s,
        **kwargs,
    )
    return job


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


def ids_of(views) -> list[str]:
    return [v.job.native_id for v in views]


def test_listing_is_newest_first_and_ids_unique(store, clock):
    ids = iter(["dup", "dup", "other"])
    first = add(store, JobScript(), new_id=lambda *_: next(ids))
    second = add(store, JobScript(), new_id=lambda *_: next(ids))
    old = add(store, JobScript(), created_ago_s=60)
    assert (first.native_id, second.native_id) == ("dup", "other")
    views, more = store.page(Platform.OPENAI, [None])
    assert ids_of(views) == ["other", "dup", old.native_id] and more is False
    with pytest.raises(ValueError, match="already exists"):
        add(store, JobScript(), native_id="dup")


def many(store: JobStore, n: int, partition=None, ago=lambda i: 0.0, prefix="p"):
    return store.add_many(
        Platform.OPENAI,
        lambda name, _created: name,
        n,
        display_name=lambda i: f"{prefix}{i}",
        base_model="m",
        script=lambda _: JobScript(),
        created_ago_s=ago,
        partition=partition,
    )


def test_pages_by_position_skip_filter_and_partition(store):
    jobs = many(store, 10, ago=lambda i: 10.0 - i)  # p0 oldest ... p9 newest
    newest_first = [j.native_id for j in reversed(jobs)]
    views, more = store.page(Platform.OPENAI, [None], limit=4)
    assert ids_of(views) == newest_first[:4] and more
    views, more = store.page(Platform.OPENAI, [None], before=(jobs[6].created_wall, jobs[6].seq), limit=4)
    assert ids_of(views) == ["p5", "p4", "p3", "p2"] and more
    views, more = store.page(Platform.OPENAI, [None], skip=8, limit=4)
    assert ids_of(views) == ["p1", "p0"] and not more
    even = store.page(Platform.OPENAI, [None], limit=2, skip=1, where=lambda v: int(v.job.native_id[1:]) % 2 == 0)
    assert (ids_of(even[0]), even[1]) == (["p6", "p4"], True)
    many(store, 3, partition="ws", ago=lambda i: 9.5 - 3 * i, prefix="w")  # interleaved in time with the first ten
    assert store.count(Platform.OPENAI, [None]) == 10 and store.count(Platform.OPENAI, [None, "ws"]) == 13
    assert store.page(Platform.OPENAI, ["ws"])[0][0].job.native_id == "w2"
    merged, _ = store.page(Platform.OPENAI, [None, "ws"])
    keys = [(v.job.created_wall, v.job.seq) for v in merged]
    assert keys == sorted(keys, reverse=True) and len(merged) == 13
    assert store.page(Platform.OPENAI, ["nobody"]) == ([], False)


def test_pages_oldest_first_from_a_position_across_partitions(store):
    jobs = many(store, 10, ago=lambda i: 10.0 - i)  # p0 oldest ... p9 newest
    views, more = store.page(Platform.OPENAI, [None], oldest_first=True, limit=4)
    assert ids_of(views) == ["p0", "p1", "p2", "p3"] and more
    views, more = store.page(Platform.OPENAI, [None], oldest_first=True, after=(jobs[6].created_wall, jobs[6].seq))
    assert ids_of(views) == ["p7", "p8", "p9"] and not more
    many(store, 3, partition="ws", ago=lambda i: 9.5 - 3 * i, prefix="w")
    merged, _ = store.page(Platform.OPENAI, [None, "ws"], oldest_first=True, skip=1)
    keys = [(v.job.created_wall, v.job.seq) for v in merged]
    assert keys == sorted(keys) and len(merged) == 12


def test_older_jobs_added_later_take_their_place_and_delete_keeps_order(store):
    many(store, 3, prefix="new")
    many(store, 3, ago=lambda i: 3600 - i, prefix="old")
    assert ids_of(store.page(Platform.OPENAI, [None])[0]) == ["new2", "new1", "new0", "old2", "old1", "old0"]
    assert store.delete(Platform.OPENAI, "new1") and not store.delete(Platform.OPENAI, "new1")
    assert ids_of(store.page(Platform.OPENAI, [None])[0]) == ["new2", "new0", "old2", "old1", "old0"]
    assert store.get(Platform.OPENAI, "new1") is None


def test_a_full_id_space_is_an_error_not_a_hang(store):
    add(store, JobScript(), native_id="only")
    with pytest.raises(RuntimeError, match="no free"):
        add(store, JobScript(), new_id=lambda *_: "only")


@pytest.mark.parametrize(
    "kwargs", [{"queued_s": -1}, {"end_state": "cancelled"}, {"cancel_outcome": "paused"}, {"running_s": -2}]
)
def test_script_validation(kwargs):
    with pytest.raises(ValueError):
        JobScript(**kwargs)
