"""The operators and the sensor against hostile servers, through real ``dag.test()`` runs.

Their ``timeout`` is one deadline the hook calls are held to, so each task ends by it (plus
a margin for Airflow's own work) whatever the server does; a cancel answered other than
200 is never reported as sent; XCom only ever holds clipped job fields.
"""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from tests.hostile.servers import (
    OpenAISpeaker,
    endless_body,
    endless_pages,
    job_answer,
    platform_answer,
    redirect,
    trickle,
)
from tests.hostile.support import MARGIN, SLACK, run_dag_timed, warm_up
from tests.hostile.test_bodies import assert_clipped, huge_fields

#: The operators' timeout in these runs; the bound is that plus MARGIN plus Airflow's own work.
#: Long enough on a loaded machine for the first read and the cancel to go out before it.
DEADLINE = 1.5 * SLACK
DAG_WORK = 3.0 * SLACK
BOUND = DEADLINE + MARGIN + DAG_WORK
#: How long the servers stay hostile, and the longest any hostile answer lasts: a task that
#: ignores its deadline gets normal answers after this, so it ends late rather than never.
#: (pytest-timeout cannot stop a ``dag.test()`` run: Airflow catches its exception.)
HOSTILE_FOR = BOUND + 2


def never_finishes():
    return endless_body(every=0.05, chunk=8)


def dag_source(dag_id: str, operator: str, **params: object) -> str:
    module, _, name = operator.rpartition(".")
    args = ", ".join(f"{key}={value!r}" for key, value in params.items())
    return f"""
    from airflow.sdk import DAG
    from {module} import {name}

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}) as dag:
        {name}(task_id="task", {args})
    """


CANCEL = "airflow_ft_provider.operators.cancel.CancelTuningJobOperator"
SENSOR = "airflow_ft_provider.sensors.job_state.TuningJobStateSensor"
BULK = "airflow_ft_provider.operators.bulk_cancel.CancelTuningJobsOperator"
WAIT = {"min_poll_interval": 0.2, "poll_interval": 0.5}


def assert_ended_in_time(result, elapsed: float, state: str = "failed") -> None:
    assert result.task_states == {"task": state}, f"task {result.task_states} after {elapsed:.1f} s"
    assert elapsed <= BOUND, f"the run took {elapsed:.1f} s with timeout={DEADLINE} (bound {BOUND} s)"


@pytest.fixture(autouse=True)
def _airflow_is_warm() -> None:
    """Before any server is scripted: a hostile window must not run out while Airflow sets up."""
    warm_up()


# -- CancelTuningJobOperator ----------------------------------------------------------------------
@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_cancel_operator_ends_by_its_timeout_while_waiting(hostile, deferrable):
    target = hostile(Platform.VERTEX_AI, cap_seconds=HOSTILE_FOR)
    # The first read and the cancel are answered; every read after them never finishes.
    target.server.then(platform_answer(), on="get").always(never_finishes(), on="get", for_seconds=HOSTILE_FOR)
    job_id = target.server.add_job()
    source = dag_source(
        "hostile_cancel_wait", CANCEL, conn_id=target.conn_id, job_id=job_id, deferrable=deferrable,
        timeout=DEADLINE, **WAIT,
    )  # fmt: skip
    result, elapsed = run_dag_timed("hostile_cancel_wait", source)
    assert_ended_in_time(result, elapsed)
    assert target.server.count("cancel") == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_cancel_operator_ends_by_its_timeout_when_the_first_read_never_finishes(hostile, deferrable):
    target = hostile(Platform.OPENAI, cap_seconds=HOSTILE_FOR)
    target.server.always(never_finishes(), on="get", for_seconds=HOSTILE_FOR)
    job_id = target.server.add_job()
    source = dag_source(
        "hostile_cancel_read", CANCEL, conn_id=target.conn_id, job_id=job_id, deferrable=deferrable,
        timeout=DEADLINE, **WAIT,
    )  # fmt: skip
    result, elapsed = run_dag_timed("hostile_cancel_read", source)
    assert_ended_in_time(result, elapsed)
    assert target.server.count("cancel") == 0, "a cancel was sent without knowing the job's state"


def odd_cancel_answer(status: int, trap_url: str):
    """A cancel answered ``status`` with a body claiming the job is already CANCELLED: a client
    that believes the body reports a cancel that never happened."""
    cancelled = {"native_state": OpenAISpeaker.cancelled}
    if 300 <= status < 400:
        return redirect(status, f"{trap_url}/v1/fine_tuning/jobs/x/cancel", **cancelled)
    return job_answer(status, **cancelled)


@pytest.mark.parametrize("status", [302, 202])
def test_cancel_operator_does_not_take_an_odd_answer_for_a_sent_cancel(hostile, trap, status):
    target = hostile(Platform.OPENAI)
    target.server.always(odd_cancel_answer(status, trap.url), on="cancel")
    job_id = target.server.add_job()
    source = dag_source("hostile_cancel_odd", CANCEL, conn_id=target.conn_id, job_id=job_id, timeout=DEADLINE, **WAIT)
    result, elapsed = run_dag_timed("hostile_cancel_odd", source)
    assert_ended_in_time(result, elapsed)
    assert target.server.count("cancel") == 1
    assert trap.count() == 0


def test_cancel_operator_xcom_holds_clipped_fields(hostile):
    target = hostile(Platform.OPENAI, max_response_mb=16)
    sent = huge_fields(with_state=False)
    job_id = target.server.add_job(**sent)
    source = dag_source("hostile_cancel_clip", CANCEL, conn_id=target.conn_id, job_id=job_id, timeout=30, **WAIT)
    result, _ = run_dag_timed("hostile_cancel_clip", source)
    assert result.task_states == {"task": "success"}
    assert_clipped(result.xcom("task"), sent)


# -- TuningJobStateSensor -------------------------------------------------------------------------
SENSOR_MODES = {
    "poke": {"mode": "poke", "poke_interval": 0.3},
    "deferrable": {"deferrable": True, "poll_interval": 0.5},
}


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_ends_by_its_timeout(hostile, mode):
    target = hostile(Platform.OPENAI, cap_seconds=HOSTILE_FOR)
    target.server.always(trickle(0.05, headers_too=True), on="get", for_seconds=HOSTILE_FOR)
    job_id = target.server.add_job()
    source = dag_source(
        "hostile_sensor_wait", SENSOR, conn_id=target.conn_id, job_id=job_id, timeout=DEADLINE, **SENSOR_MODES[mode]
    )
    result, elapsed = run_dag_timed("hostile_sensor_wait", source)
    assert_ended_in_time(result, elapsed)


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_xcom_holds_clipped_fields(hostile, mode):
    target = hostile(Platform.VERTEX_AI, max_response_mb=16)
    sent = huge_fields(with_state=False)
    job_id = target.server.add_job(state=target.server.speaker.succeeded, **sent)
    source = dag_source(
        "hostile_sensor_clip", SENSOR, conn_id=target.conn_id, job_id=job_id, timeout=30, **SENSOR_MODES[mode]
    )
    result, _ = run_dag_timed("hostile_sensor_clip", source)
    assert result.task_states == {"task": "success"}
    assert_clipped(result.xcom("task"), sent)


# -- CancelTuningJobsOperator ---------------------------------------------------------------------
def test_bulk_ends_by_its_timeout_while_listing(hostile):
    target = hostile(Platform.OPENAI, cap_seconds=HOSTILE_FOR)
    target.server.always(never_finishes(), on="list", for_seconds=HOSTILE_FOR)
    source = dag_source("hostile_bulk_list", BULK, conn_id=target.conn_id, timeout=DEADLINE, **WAIT)
    result, elapsed = run_dag_timed("hostile_bulk_list", source)
    assert_ended_in_time(result, elapsed)
    assert target.server.count("cancel") == 0, f"{target.server.count('cancel')} cancels sent"


def test_bulk_ends_by_its_timeout_while_confirming(hostile):
    target = hostile(Platform.VERTEX_AI, cap_seconds=HOSTILE_FOR)
    job_ids = [target.server.add_job() for _ in range(3)]
    # The listing is answered, the cancels too; every confirmation listing never finishes.
    target.server.then(platform_answer(), on="list").always(never_finishes(), on="list", for_seconds=HOSTILE_FOR)
    source = dag_source("hostile_bulk_confirm", BULK, conn_id=target.conn_id, timeout=DEADLINE, **WAIT)
    result, elapsed = run_dag_timed("hostile_bulk_confirm", source)
    assert_ended_in_time(result, elapsed)
    assert target.server.count("cancel") == 3
    report = result.xcom("task")
    assert report is not None, "the report was not pushed before the task failed"
    assert sorted(row["job_id"].rsplit("/", 1)[-1] for row in report["jobs"]) == sorted(job_ids)
    assert {row["action"] for row in report["jobs"]} == {"cancel_sent"}


@pytest.mark.parametrize("status", [307, 202])
def test_bulk_does_not_take_an_odd_answer_for_a_sent_cancel(hostile, trap, status):
    target = hostile(Platform.OPENAI)
    for _ in range(2):
        target.server.add_job()
    target.server.always(odd_cancel_answer(status, trap.url), on="cancel")
    source = dag_source("hostile_bulk_odd", BULK, conn_id=target.conn_id, timeout=DEADLINE, **WAIT)
    result, elapsed = run_dag_timed("hostile_bulk_odd", source)
    assert_ended_in_time(result, elapsed)
    assert target.server.count("cancel") == 2
    assert trap.count() == 0
    actions = [row["action"] for row in result.xcom("task")["jobs"]]
    assert actions == ["failed", "failed"], actions


def test_bulk_listing_stops_at_max_pages(hostile):
    target = hostile(Platform.OPENAI, max_pages=3)
    target.server.always(endless_pages(jobs=2), on="list")
    source = dag_source("hostile_bulk_pages", BULK, conn_id=target.conn_id, timeout=DEADLINE, **WAIT)
    result, elapsed = run_dag_timed("hostile_bulk_pages", source)
    assert_ended_in_time(result, elapsed)
    assert target.server.count("cancel") == 0, f"{target.server.count('cancel')} cancels sent"
    assert target.server.count("list") <= 3, f"{target.server.count('list')} pages fetched with max_pages=3"


def test_bulk_xcom_holds_clipped_names(hostile):
    target = hostile(Platform.OPENAI, max_response_mb=32)
    sent = huge_fields()
    for _ in range(3):
        target.server.add_job(display_name=sent["display_name"])
    source = dag_source("hostile_bulk_clip", BULK, conn_id=target.conn_id, dry_run=True, timeout=30, **WAIT)
    result, _ = run_dag_timed("hostile_bulk_clip", source)
    assert result.task_states == {"task": "success"}
    names = [row["display_name"] for row in result.xcom("task")["jobs"]]
    assert len(names) == 3
    assert all(name and len(name) <= 1024 for name in names), [len(name or "") for name in names]
