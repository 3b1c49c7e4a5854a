"""Jobs in a state the provider does not recognise: reported by the bulk cancel, cancelled only when asked.

The emulator shows an undocumented native state on purpose (``undocumented=True``); the hook reads it
as UNKNOWN with the native value kept. Through real Airflow (``dag.test()``) for the XCom and the
cancels; the log is read by running the operator with a standard logger, as Airflow's is structlog.
"""

from __future__ import annotations

import logging

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator
from airflow_ft_provider.operators.bulk_report import MAX_UNKNOWN_IDS
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for
from tests.operators.test_bulk_cancel import bulk_dag, by_id, cancels, native

PLATFORM = Platform.OPENAI
NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)
UNDOCUMENTED = "hibernating"


def seed_unknown(emu, n: int, name: str = "sweep") -> list[str]:
    ids = emu.seed_many(PLATFORM, n, display_name=name, script=NEVER_ENDS)
    for job_id in ids:
        emu.set_native_state(PLATFORM, job_id, UNDOCUMENTED, undocumented=True)
    return ids


def test_unknown_jobs_are_reported_not_cancelled_by_default(emu, connections):
    running = emu.seed_many(PLATFORM, 2, display_name="sweep-run", script=NEVER_ENDS)
    unknown = seed_unknown(emu, 2)
    seed_unknown(emu, 1, name="keep")  # another criterion excludes it: not reported either

    result = run_dag_source("bulk_unknown", bulk_dag("bulk_unknown", PLATFORM, name_pattern="sweep*"))

    assert result.task_states == {"cancel": "success"}
    xcom = result.xcom("cancel")
    assert xcom["unknown_states"] == {
        "count": 2,
        "included": False,
        "native_states": {UNDOCUMENTED: 2},
        "job_ids": unknown[::-1],  # listing order: newest first
    }
    assert set(by_id(result)) == {native(j) for j in running}
    assert all(cancels(emu, PLATFORM, j) == [] for j in unknown)
    assert {emu.job_state(PLATFORM, j) for j in unknown} == {UNDOCUMENTED}


def test_include_unknown_states_cancels_them_too(emu, connections):
    unknown = seed_unknown(emu, 2)
    params = {"name_pattern": "sweep*", "include_unknown_states": True}
    result = run_dag_source("bulk_unknown_in", bulk_dag("bulk_unknown_in", PLATFORM, **params))

    assert result.task_states == {"cancel": "success"}
    xcom = result.xcom("cancel")
    assert xcom["unknown_states"]["count"] == 2 and xcom["unknown_states"]["included"] is True
    records = by_id(result)
    for job_id in unknown:
        assert records[native(job_id)]["state_before"] == "UNKNOWN"
        assert records[native(job_id)]["action"] == "cancel_sent"
        assert records[native(job_id)]["state_after"] == "CANCELLED"
        assert len(cancels(emu, PLATFORM, job_id)) == 1


def test_the_log_names_count_and_ids_clipped(emu, connections, caplog):
    unknown = seed_unknown(emu, MAX_UNKNOWN_IDS + 5)
    task = BulkCancelTuningJobsOperator(
        task_id="cancel", conn_id=conn_id_for(PLATFORM), dry_run=True, max_jobs=MAX_UNKNOWN_IDS + 5
    )
    task._cached_logger = logging.getLogger("tests.operators.bulk_unknown")  # Airflow's is structlog
    with caplog.at_level(logging.INFO):
        result = task.execute({})

    assert result["unknown_states"]["count"] == len(unknown)
    assert len(result["unknown_states"]["job_ids"]) == MAX_UNKNOWN_IDS
    (warning,) = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "recognise" in r.getMessage()
    ]
    assert f"{len(unknown)} job(s)" in warning and f"{len(unknown)} {UNDOCUMENTED!r}" in warning
    assert "NOT cancelled" in warning and "include_unknown_states=True" in warning
    assert sum(native(j) in warning for j in unknown) == MAX_UNKNOWN_IDS and "and 5 more" in warning
    assert emu.requests(PLATFORM) and all(r.method == "GET" for r in emu.requests(PLATFORM))


@pytest.mark.parametrize("states", [["UNKNOWN"], "running,unknown"])
def test_naming_unknown_as_a_state_points_at_the_switch(states):
    with pytest.raises(ValueError, match="include_unknown_states=True"):
        BulkCancelTuningJobsOperator(task_id="cancel", conn_id="ft_openai_default", states=states)
