"""Drills where the platform misbehaves: 429 bursts, 503s, and 30 s of being unreachable.

Every run holds a deferred cancel (worker, then triggerer), a cancel that waits on the worker and
a deferred sensor, each with a deadline (``timeout=150`` s) and Airflow retries for outages that
outlast the hook's own retries. They must all end the way a calm platform would make them end,
within their deadlines, with each job cancelled once.
"""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Fault, JobScript
from tests.e2e.deployment import conn_id, wait_for
from tests.e2e.helpers import accepted_cancels, assert_no_job_left_running, cancels, job_requests, now, seed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAG_ID = "e2e_under_faults"
DEADLINE_S = 150  # the tasks' timeout


def _jobs(emu, platform: Platform, tag: str, watched_running_s: float = 20.0) -> dict[str, str]:
    return {
        "job_deferred": seed(emu, platform, display_name=f"{tag}-deferred", script=JobScript(cancel_s=4.0)),
        "job_worker": seed(emu, platform, display_name=f"{tag}-worker", script=JobScript(cancel_s=4.0)),
        "job_watched": seed(
            emu, platform, display_name=f"{tag}-watched", script=JobScript(running_s=watched_running_s)
        ),
    }


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _assert_ended_correctly(api, emu, platform: Platform, run_id: str, jobs: dict[str, str]) -> dict[str, int]:
    """Every task green with the right record, one accepted cancel a job, within the deadline."""
    ended = api.wait_run(DAG_ID, run_id, timeout=DEADLINE_S + 120)
    assert ended["state"] == "success", api.explain(DAG_ID, run_id)
    tis = api.task_instances(DAG_ID, run_id)
    for ti in tis.values():
        assert ti["state"] == "success"
        assert _seconds(ti["start_date"], ti["end_date"]) < DEADLINE_S, ti
    assert _seconds(ended["start_date"], ended["end_date"]) < DEADLINE_S + 30, ended
    assert api.xcom(DAG_ID, run_id, "cancel_deferred")["state"] == "CANCELLED"
    assert api.xcom(DAG_ID, run_id, "cancel_on_worker")["state"] == "CANCELLED"
    assert api.xcom(DAG_ID, run_id, "watch")["state"] == "SUCCEEDED"
    for key in ("job_deferred", "job_worker"):
        log = job_requests(emu, platform, jobs[key])
        assert len(accepted_cancels(log)) == 1, (key, log)
        assert emu.job_phase(platform, jobs[key]) == "cancelled"
    assert cancels(job_requests(emu, platform, jobs["job_watched"])) == []
    assert_no_job_left_running(emu, [(platform, job_id) for job_id in jobs.values()])
    return {task_id: ti["try_number"] for task_id, ti in tis.items()}


def test_throttling_and_server_errors(api, emu):
    """Together answers with 429 bursts (Retry-After, and a 1 request/s token bucket), DashScope
    with 503s (on reads and on the cancel): both runs end as on a calm platform."""
    throttled = _jobs(emu, Platform.TOGETHER, "e2e-429")
    failing = _jobs(emu, Platform.DASHSCOPE, "e2e-503")
    since = now()
    emu.inject(Platform.TOGETHER, Fault.status(429, retry_after=1.0, count=6))
    emu.set_rate_limit(Platform.TOGETHER, per_second=1.0, burst=2)
    emu.inject(Platform.DASHSCOPE, Fault.status(503, count=2, path="/cancel"))
    emu.inject(Platform.DASHSCOPE, Fault.status(503, count=8))

    run_429 = api.trigger(DAG_ID, {"conn_id": conn_id(Platform.TOGETHER), **throttled})
    run_503 = api.trigger(DAG_ID, {"conn_id": conn_id(Platform.DASHSCOPE), **failing})
    tries_429 = _assert_ended_correctly(api, emu, Platform.TOGETHER, run_429, throttled)
    tries_503 = _assert_ended_correctly(api, emu, Platform.DASHSCOPE, run_503, failing)

    statuses_429 = [r.status for r in emu.requests(Platform.TOGETHER, since=since)]
    statuses_503 = [r.status for r in emu.requests(Platform.DASHSCOPE, since=since)]
    assert statuses_429.count(429) >= 6, statuses_429
    assert statuses_503.count(503) == 10, statuses_503
    dashscope_cancels = [r for r in emu.requests(Platform.DASHSCOPE, since=since) if r.path.endswith("/cancel")]
    assert [r.status for r in dashscope_cancels].count(503) >= 2, dashscope_cancels
    print(f"\n429 drill: {statuses_429.count(429)} throttled answers, tries {tries_429}")
    print(f"503 drill: {statuses_503.count(503)} server errors, tries {tries_503}")


def test_platform_unreachable_for_30_seconds(deployment, api, emu):
    """The platform's address goes dark for 30 s (open connections cut, then 15 s refused and 15 s
    black-holed): waits already under way and tasks that start during the outage all recover."""
    flaky = conn_id(Platform.TOGETHER, flaky=True)
    proxy = deployment.proxy
    before = _jobs(emu, Platform.TOGETHER, "e2e-outage-before", watched_running_s=25.0)
    run_before = api.trigger(DAG_ID, {"conn_id": flaky, **before})
    # Let the cancels through, and every wait be under way, before the network goes.
    for key in ("job_deferred", "job_worker"):
        wait_for(
            f"the cancel of {key}",
            lambda key=key: accepted_cancels(job_requests(emu, Platform.TOGETHER, before[key])),
            timeout=180,
            diag=lambda: api.explain(DAG_ID, run_before),
        )
    api.wait_task_state(DAG_ID, run_before, "cancel_deferred", {"deferred"}, timeout=120)
    api.wait_task_state(DAG_ID, run_before, "watch", {"deferred"}, timeout=120)

    events: dict[str, float] = {}
    outage = threading.Thread(target=proxy.outage, args=(30.0, lambda e: events.setdefault(e, now())))
    outage.start()
    wait_for("the outage to begin", lambda: "refuse" in events, 10, 0.05)
    # A second run starts during the outage: its first reads and cancels meet it.
    during = _jobs(emu, Platform.TOGETHER, "e2e-outage-during", watched_running_s=20.0)
    run_during = api.trigger(DAG_ID, {"conn_id": flaky, **during})
    outage.join(60)
    assert not outage.is_alive()

    tries_before = _assert_ended_correctly(api, emu, Platform.TOGETHER, run_before, before)
    tries_during = _assert_ended_correctly(api, emu, Platform.TOGETHER, run_during, during)
    # It really was dark: nothing about these jobs reached the platform during the outage.
    down, up = events["refuse"], events["up"]
    assert up - down >= 29.5
    reached = [
        r
        for jobs in (before, during)
        for job_id in jobs.values()
        for r in job_requests(emu, Platform.TOGETHER, job_id)
        if down + 0.5 < r.time < up - 0.1
    ]
    assert reached == [], reached
    print(f"\nunreachable drill: tries before {tries_before}, during {tries_during}")
