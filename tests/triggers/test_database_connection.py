"""Deferred tasks under ``dag.test()`` whose connection is stored in the metadata database.

``airflow dags test`` and ``dag.test()`` run triggers beside an in-process supervisor; Airflow's
asynchronous connection lookup there found no database connection on 3.3 ("The conn_id ... isn't
defined"), so ``version_compat.aget_connection`` looks up the blocking way in a thread there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import ensure_db, run_dag_source
from tests.conftest import connection_dict

CONN_ID = "ft_vertex_ai_in_db"
DAG = """
from airflow.sdk import DAG

from airflow_ft_provider.operators.cancel import CancelTuningJobOperator
from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

with DAG("ft_deferred_db_connection", schedule=None) as dag:
    CancelTuningJobOperator(
        task_id="cancel", conn_id="{conn_id}", job_id="{running}", deferrable=True, min_poll_interval=0.2
    )
    TuningJobStateSensor(task_id="sense", conn_id="{conn_id}", job_id="{ending}", deferrable=True, poll_interval=0.5)
"""


@pytest.fixture
def database_connection(emu) -> Iterator[str]:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    ensure_db()
    conn = connection_dict(emu, Platform.VERTEX_AI)
    with create_session() as session:
        session.query(Connection).filter_by(conn_id=CONN_ID).delete()
        fields = {key: value for key, value in conn.items() if key != "extra"}
        session.add(Connection(conn_id=CONN_ID, extra=json.dumps(conn["extra"]), **fields))
    yield CONN_ID
    with create_session() as session:
        session.query(Connection).filter_by(conn_id=CONN_ID).delete()


def test_deferred_cancel_and_sensor_read_a_database_connection_in_the_trigger(emu, database_connection, caplog):
    running = emu.seed(Platform.VERTEX_AI, script=JobScript(running_s=None, cancel_s=1.0))
    ending = emu.seed(Platform.VERTEX_AI, script=JobScript(running_s=1.0))

    result = run_dag_source(
        "ft_deferred_db_connection", DAG.format(conn_id=database_connection, running=running, ending=ending)
    )

    assert result.task_states == {"cancel": "success", "sense": "success"}
    assert result.xcom("cancel")["state"] == "CANCELLED"
    assert result.xcom("sense")["state"] == "SUCCEEDED"
    # Both waited in their triggers (the cancel answer said CANCELLING; a deferrable sensor never pokes).
    assert caplog.text.count("running trigger in line") == 2
    assert "isn't defined" not in caplog.text
