"""The bulk cancel under a platform's quota, through real Airflow against the emulator: counts, not times.

A cancel not done is the worst failure of this operator, so these runs check that every job is
cancelled, and how: the share of 429s, and the request budget's wake-ups per request (its one
wait queue wakes a waiting request about once, instead of polling).
"""

from __future__ import annotations

import pytest

from airflow_ft_provider.hooks.registry import get_hook
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import connection_dict

PLATFORM = Platform.VERTEX_AI


def bulk_dag(dag_id: str, conn_id: str) -> str:
    return f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}) as dag:
        BulkCancelTuningJobsOperator(
            task_id="cancel", conn_id={conn_id!r}, min_poll_interval=0.2, poll_interval=0.5, timeout=60
        )
    """


def run_bulk(emu, set_connection, dag_id: str, jobs: int, per_minute: int):
    """Seed ``jobs`` running jobs, run the bulk cancel with a budget of ``per_minute``; returns
    (the run, the connection's budget, the requests the emulator saw)."""
    seeded = emu.seed_many(PLATFORM, jobs, display_name="bulk", script=JobScript(running_s=None, cancel_s=0.0))
    conn_id = set_connection(dag_id, connection_dict(emu, PLATFORM, max_requests_per_minute=per_minute))
    budget = get_hook(conn_id).get_conn().budget  # the process's budget of this connection: the task's too
    result = run_dag_source(dag_id, bulk_dag(dag_id, conn_id))
    assert all(emu.job_phase(PLATFORM, job) == "cancelled" for job in seeded)
    return result, budget, emu.requests(PLATFORM)


def test_a_budget_at_the_quota_cancels_every_job_with_few_429s(emu, set_connection):
    # 50 requests in any one second, 429s saying "Retry-After: 1"; the connection's budget is the quota.
    emu.set_quota(PLATFORM, 50, window_s=1.0, per="project", sliding=True, hint="seconds")

    result, budget, requests = run_bulk(emu, set_connection, "bulk_at_quota", 150, per_minute=50 * 60)

    assert result.task_states == {"cancel": "success"}
    assert result.xcom("cancel")["counts"]["cancel_sent"] == 150
    throttled = sum(1 for r in requests if r.status == 429)
    assert throttled <= 0.05 * len(requests), f"{throttled} of {len(requests)} requests were 429s"
    assert budget.granted >= len(requests)
    assert budget.wakeups < 2 * budget.granted, f"{budget.wakeups} wake-ups for {budget.granted} requests"


def test_a_budget_far_above_the_platforms_limit_still_cancels_every_job(emu, set_connection):
    # The regression of issue 22: a budget of a million a minute could not slow below 1/64 of it
    # (260 requests a second), so 32 workers burned their retries on 429s and cancels were lost.
    emu.set_rate_limit(PLATFORM, per_second=10, burst=10)

    result, budget, requests = run_bulk(emu, set_connection, "bulk_above_limit", 60, per_minute=1_000_000)

    assert result.task_states == {"cancel": "success"}
    assert result.xcom("cancel")["counts"]["cancel_sent"] == 60
    assert budget.rate < 30, "the budget did not slow down to the platform's limit"
    throttled = sum(1 for r in requests if r.status == 429)
    assert throttled <= len(requests) / 2, f"{throttled} of {len(requests)} requests were 429s"


@pytest.fixture(autouse=True)
def _connections(connections):
    """The other platforms' connections exist too (the DAG run reads only its own)."""
