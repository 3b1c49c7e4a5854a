"""Triggerer drills at scale (issue 11): many deferred Vertex AI waits on one service-account
connection, across a triggerer SIGKILL and restart, and across a hand-over between two triggerers.

The number of waits is ``FT_E2E_DRILL_WAITS`` (default 50). Every wait is a mapped task instance
that runs on the Celery worker twice (to defer, then to finish), which is what costs time: on the
2-core machine under load 5-7, 50 waits deferred in 79 s and all finished 40 s after their jobs
ended; each drill took about 3 minutes. ``FT_E2E_DRILL_WAITS=1000`` is the issue's size.
Jobs run until the drill pins them to an end, so no timing of the
machine can end a wait early.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript, RemoteEmulator, RequestRecord
from tests.e2e.deployment import VERTEX_PROJECT, AirflowApi, Deployment, ManagedProcess, conn_id, wait_for
from tests.e2e.helpers import NATIVE_SUCCEEDED, cancels, now, reads, short_id

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

DAG_ID, TASK_ID = "e2e_many_waits", "wait"
WAITS = int(os.environ.get("FT_E2E_DRILL_WAITS", "50"))
VERTEX = Platform("vertex_ai")
#: The provider's default request budget for Vertex AI (requests a minute) and its burst (a second's worth).
BUDGET, BURST = 540, 9


def mapped_states(api: AirflowApi, run_id: str) -> Counter[tuple[str | None, int]]:
    """(state, try number) of every mapped instance of the wait, counted (the API pages by 100)."""
    found: Counter[tuple[str | None, int]] = Counter()
    offset = 0
    while True:
        page = api._call(
            "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": offset}
        )
        items = page["task_instances"]
        found.update((ti["state"], int(ti.get("try_number") or 0)) for ti in items if ti["task_id"] == TASK_ID)
        offset += len(items)
        if not items or offset >= page["total_entries"]:
            return found


def start_waits(api: AirflowApi, emu: RemoteEmulator, label: str) -> tuple[list[str], str, float]:
    """Seed WAITS running jobs, start one deferred wait on each; returns once all are deferred."""
    jobs = emu.seed_many(VERTEX, WAITS, display_name=label, script=JobScript(running_s=None), project=VERTEX_PROJECT)
    started = time.monotonic()
    run_id = api.trigger(DAG_ID, {"conn_id": conn_id(VERTEX), "job_ids": jobs})
    wait_for(
        f"{WAITS} waits to defer",
        lambda: mapped_states(api, run_id).get(("deferred", 1), 0) == WAITS,
        timeout=600,
        interval=2.0,
        diag=lambda: str(mapped_states(api, run_id)),
    )
    return jobs, run_id, time.monotonic() - started


def platform_requests(emu: RemoteEmulator, since: float, until: float | None = None) -> list[RequestRecord]:
    return [r for r in emu.requests(VERTEX, since=since) if until is None or r.time <= until]


def busiest(records: list[RequestRecord], span: float) -> int:
    """Most requests in any ``span`` seconds."""
    times = sorted(r.time for r in records)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] > span:
            first += 1
        most = max(most, last - first + 1)
    return most


def finish_waits(api: AirflowApi, emu: RemoteEmulator, jobs: list[str], run_id: str) -> float:
    """Pin every job to success: every wait must end, resumed (try 1), not retried or cancelled."""
    for job_id in jobs:
        emu.set_native_state(VERTEX, job_id, NATIVE_SUCCEEDED[VERTEX])
    pinned = time.monotonic()
    ended = api.wait_run(DAG_ID, run_id, timeout=600)
    took = time.monotonic() - pinned
    assert ended["state"] == "success", mapped_states(api, run_id)
    assert mapped_states(api, run_id) == Counter({("success", 1): WAITS})
    wanted = {short_id(j) for j in jobs}
    cancelled = [r for r in cancels(emu.requests(VERTEX)) if any(s in r.path for s in wanted)]
    assert cancelled == [], f"cancel_on_kill cancelled jobs it should have left running: {cancelled[:5]}"
    return took


def wait_for_reads(
    emu: RemoteEmulator, since: float, what: str, deployment: Deployment, *, token: bool = True
) -> float:
    """Until reads of the jobs after ``since`` (and, with ``token``, a token exchange: a triggerer that
    took the waits up reads the connection and mints its own token)."""

    def resumed() -> bool:
        log = platform_requests(emu, since)
        minted = not token or any(r.path == "/token" for r in log)
        return minted and bool(reads(log))

    wait_for(what, resumed, timeout=180, diag=deployment.diagnostics)
    return now()


def signal_tree(proc: ManagedProcess, tree: dict[int, int], sig: signal.Signals) -> None:
    """``sig`` to every process of ``tree`` still running (taken from a process this suite started)."""
    for pid in proc.living(tree):
        os.kill(pid, sig)


def test_many_waits_survive_a_triggerer_sigkill(deployment: Deployment, api: AirflowApi, emu: RemoteEmulator) -> None:
    """WAITS deferred waits on one service-account connection; SIGKILL the triggerer, start it again:
    one token exchange for all of them, requests within the budget (no stampede), all complete."""
    jobs, run_id, deferring = start_waits(api, emu, "e2e-many-kill")
    deferred_at = now()
    wait_for_reads(emu, deferred_at, "the triggerer to watch the jobs", deployment, token=False)

    triggerer = deployment.processes["triggerer"]
    old_pid, tree = triggerer.pid, triggerer.tree()
    triggerer.kill()
    assert triggerer.living(tree) == []
    time.sleep(2)
    restarted_at = now()
    deployment.restart("triggerer")
    resumed_at = wait_for_reads(emu, restarted_at, "the new triggerer to resume the waits", deployment)
    time.sleep(30)  # past the start-up: the first minute after a restart is where a stampede would be
    assert mapped_states(api, run_id) == Counter({("deferred", 1): WAITS})  # a restart is not an end
    window = platform_requests(emu, restarted_at, now())
    tokens = [r for r in window if r.path == "/token"]
    calls = [r for r in window if r.path != "/token"]
    assert len(tokens) == 1, f"{len(tokens)} token exchanges after the restart, for one connection"
    per_minute, per_second = busiest(calls, 60.0), busiest(calls, 1.0)
    assert per_minute <= BUDGET + BURST, f"{per_minute} requests in a minute: the budget is {BUDGET}"
    assert [r for r in calls if r.status == 429] == []

    took = finish_waits(api, emu, jobs, run_id)
    print(
        f"\ntriggerer SIGKILL drill, {WAITS} waits: deferred in {deferring:.0f} s; killed pid {old_pid}; "
        f"pid {triggerer.pid} read the jobs {resumed_at - restarted_at:.1f} s after its start; "
        f"{len(tokens)} token exchange, {len(calls)} requests in the {window[-1].time - restarted_at:.0f} s after "
        f"the restart (busiest minute {per_minute}, second {per_second}); all ended {took:.0f} s after the pin"
    )


def test_waits_handed_to_a_second_triggerer_are_not_cancelled(
    deployment: Deployment, api: AirflowApi, emu: RemoteEmulator
) -> None:
    """Two triggerers; the one with the waits is stopped (SIGSTOP) past the heartbeat threshold, so
    its triggers move to the other; then it is resumed (SIGCONT) and terminated. No job is cancelled
    (every wait has cancel_on_kill), and every wait completes on the survivor."""
    jobs, run_id, _ = start_waits(api, emu, "e2e-many-handover")
    first = deployment.processes["triggerer"]
    first_pid = first.pid
    wait_for_reads(emu, now(), "the first triggerer to watch the jobs", deployment, token=False)
    second = deployment._airflow("triggerer-2", *deployment.component_args("triggerer")).start()
    try:
        time.sleep(10)  # the second one up and heartbeating, with nothing to do yet
        assert second.alive, second.tail()
        tree = first.tree()
        signal_tree(first, tree, signal.SIGSTOP)
        stopped_at = now()
        # Past the heartbeat threshold (15 s here) the second triggerer takes the waits: its own
        # connection read and token, then reads.
        moved_at = wait_for_reads(emu, stopped_at + 1.0, "the second triggerer to take the waits", deployment)
        time.sleep(10)
        signal_tree(first, tree, signal.SIGCONT)
        continued_at = now()
        time.sleep(20)  # the first one finds its triggers gone and drops them: on_kill must not cancel
        assert mapped_states(api, run_id) == Counter({("deferred", 1): WAITS})
        assert first.stop(), "the first triggerer did not stop on SIGTERM within its grace period"
        after_stop = now()
        # Reads go on every few seconds; on a loaded machine a gap of more than 5 s was seen once
        # (ci12), so wait for the next read rather than a fixed window; nobody reading fails here.
        wait_for(
            "the jobs to be watched after the first triggerer stopped",
            lambda: bool(reads(platform_requests(emu, after_stop))),
            timeout=30,
            diag=deployment.diagnostics,
        )
        took = finish_waits(api, emu, jobs, run_id)
    finally:
        if not first.alive:
            deployment.restart("triggerer")
        second.stop()
    print(
        f"\ntriggerer hand-over drill, {WAITS} waits: stopped pid {first_pid}; the second triggerer "
        f"read the jobs {moved_at - stopped_at:.0f} s later; resumed the first {continued_at - stopped_at:.0f} s "
        f"after the stop, terminated it; no cancel; all ended {took:.0f} s after the pin"
    )
