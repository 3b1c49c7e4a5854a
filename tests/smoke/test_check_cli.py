"""The smoke check as a user runs it: a new process, the connection in Airflow's metadata database
(found as Airflow's own CLI finds it), and as ``airflow fine-tuning check`` where Airflow reads a
provider's CLI commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from airflow.providers_manager import ProvidersManager

from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import ensure_db
from tests.conftest import connection_dict

#: Whether this Airflow reads the ``cli`` entry of a provider's info (3.3 does, 3.1 does not).
AIRFLOW_READS_PROVIDER_CLI = hasattr(ProvidersManager, "cli_command_functions")


@pytest.fixture
def stored_connection(emu):
    """An OpenAI connection to the emulator, stored in the metadata database only (no env var)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    ensure_db()
    conn = connection_dict(emu, "openai")
    conn_id = "ft_smoke_stored"
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type=conn["conn_type"],
                host=conn["host"],
                password=conn["password"],
                extra=json.dumps(conn["extra"]),
            )
        )
    yield conn_id
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)


def test_python_m_finds_a_connection_in_the_metadata_database(emu, stored_connection):
    job_id = emu.seed("openai", script=JobScript(running_s=None))

    done = _run("-m", "airflow_ft_provider", "check", stored_connection, "--job-id", job_id)

    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first == f"OK      {stored_connection}: listed 1 job(s), read one; nothing was cancelled."
    assert f"{job_id}: running (RUNNING)" in done.stdout
    assert [r for r in emu.requests("openai") if r.is_cancel] == []


@pytest.mark.skipif(not AIRFLOW_READS_PROVIDER_CLI, reason="this Airflow does not read providers' CLI commands")
def test_airflow_cli_runs_the_check(emu, stored_connection):
    emu.seed("openai")

    done = _run("-m", "airflow", "fine-tuning", "check", stored_connection, "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)  # stdout is the report alone: Airflow's log lines are kept out of it
    assert report["healthy"] is True and report["listed"] == 1
    assert [r for r in emu.requests("openai") if r.is_cancel] == []


def test_python_m_exits_non_zero_when_the_check_fails(emu):
    done = _run("-m", "airflow_ft_provider", "check", "ft_smoke_not_anywhere")

    assert done.returncode == 1
    assert done.stdout.startswith("FAILED  ft_smoke_not_anywhere: AirflowNotFoundException")
