"""Airflow-version rules that the rest of the package asks ``version_compat`` about.

The real break (Airflow 3.1.8 with cryptography 51 installed) is exercised end to end by
``scripts/release-check``: a deferred cancel there fails before sending anything, naming the fix.
Here: the rule's table, that the locked environments avoid it, and what each deferring task
does when the rule says the environment cannot encrypt.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_ft_provider import version_compat
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for

FIX = 'pip install "cryptography<51"'
FERNET_KEY = "jnBFOV3vYohQ-Lh46R-IsfB2B1C9gCsfWPqztnLo6oE="  # a well-formed key, used nowhere else


@pytest.mark.parametrize(
    ("airflow", "cryptography", "broken"),
    [
        ("3.1.0", "51.0.0", True),  # every 3.1 release sets the attribute (checked in 3.1.0-3.1.8)
        ("3.1.8", "51.0.1", True),
        ("3.1.8", "50.0.2", False),
        ("3.2.0", "51.0.1", False),  # 3.2.0 wraps MultiFernet in a class of its own
        ("3.3.2", "52.1.0", False),
    ],
)
def test_which_airflow_and_cryptography_cannot_encrypt(airflow, cryptography, broken):
    reason = version_compat.encryption_broken_for(airflow, cryptography)
    assert (reason is not None) is broken
    if broken:
        assert f"Airflow {airflow}" in reason
        assert f"cryptography {cryptography}" in reason
        assert FIX in reason


def test_the_locked_environments_can_encrypt():
    """The locks pin a cryptography this Airflow can encrypt with, whether or not a Fernet key is set."""
    installed = version_compat._cryptography_version()
    assert installed is not None
    assert version_compat.encryption_broken_for(version_compat._airflow_version, installed) is None


@pytest.mark.parametrize(("fernet_key", "broken"), [("", False), ("   ", False), (FERNET_KEY, True)])
def test_only_a_set_fernet_key_makes_the_break(monkeypatch: pytest.MonkeyPatch, fernet_key, broken):
    """Without a key (Airflow's docker-compose file sets it empty) Airflow 3.1 never encrypts, so nothing fails."""
    monkeypatch.setattr(version_compat, "_airflow_version", "3.1.8")
    monkeypatch.setattr(version_compat, "_cryptography_version", lambda: "51.0.1")
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", fernet_key)
    version_compat.encryption_broken.cache_clear()
    try:
        assert (version_compat.encryption_broken() is not None) is broken
    finally:
        version_compat.encryption_broken.cache_clear()


def test_the_warning_at_load_is_logged_once(monkeypatch: pytest.MonkeyPatch, caplog):
    monkeypatch.setattr(version_compat, "_airflow_version", "3.1.8")
    monkeypatch.setattr(version_compat, "_cryptography_version", lambda: "51.0.1")
    version_compat.warn_if_encryption_broken.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="airflow_ft_provider"):
            version_compat.warn_if_encryption_broken()
            version_compat.warn_if_encryption_broken()
    finally:
        version_compat.warn_if_encryption_broken.cache_clear()
    assert [r.getMessage().count(FIX) for r in caplog.records if r.name == "airflow_ft_provider"] == [1]


@pytest.fixture
def cannot_encrypt(monkeypatch: pytest.MonkeyPatch) -> str:
    reason = version_compat.encryption_broken_for("3.1.8", "51.0.1")
    assert reason is not None
    monkeypatch.setattr(version_compat, "encryption_broken", lambda: reason)
    return reason


def test_deferred_cancel_refuses_before_sending_anything(emu, connections, cannot_encrypt, caplog, capfd):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=None, cancel_s=0.2))
    source = f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

    with DAG("cancel_cannot_defer", schedule=None, default_args={{"retries": 2}}) as dag:
        CancelTuningJobOperator(
            task_id="cancel", conn_id={conn_id_for(Platform.OPENAI)!r}, job_id={job_id!r}, deferrable=True
        )
    """
    result = run_dag_source("cancel_cannot_defer", source)
    assert result.task_states == {"cancel": "failed"}  # no retry: the environment has to change
    assert emu.requests(Platform.OPENAI) == []
    assert emu.job_state(Platform.OPENAI, job_id) == "running"
    # The task's failure, as its log shows it (3.3 logs through logging, 3.1 to the console).
    assert FIX in caplog.text + "".join(capfd.readouterr())


def test_cancel_on_the_worker_is_unaffected(emu, connections, cannot_encrypt):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=None, cancel_s=0.2))
    source = f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

    with DAG("cancel_on_worker", schedule=None) as dag:
        CancelTuningJobOperator(
            task_id="cancel", conn_id={conn_id_for(Platform.OPENAI)!r}, job_id={job_id!r}, min_poll_interval=0.2
        )
    """
    result = run_dag_source("cancel_on_worker", source)
    assert result.xcom("cancel")["state"] == "CANCELLED"


def test_deferred_sensor_refuses(emu, connections, cannot_encrypt):
    job_id = emu.seed(Platform.OPENAI, script=JobScript(running_s=None))
    source = f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

    with DAG("sensor_cannot_defer", schedule=None, default_args={{"retries": 2}}) as dag:
        TuningJobStateSensor(
            task_id="wait", conn_id={conn_id_for(Platform.OPENAI)!r}, job_id={job_id!r}, deferrable=True
        )
    """
    result = run_dag_source("sensor_cannot_defer", source)
    assert result.task_states == {"wait": "failed"}
    assert emu.requests(Platform.OPENAI) == []


class TriggererChannel:
    """A triggerer's channel to its supervisor as the trigger runner has it: ``asend`` on the loop.
    A blocking ``send`` there runs on an event loop of its own, and the supervisor's answer is read
    by the runner's next request (3.1.8: "Response read out of order"), so it must never be used."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    async def asend(self, message: object) -> None:
        self.sent.append(message)

    def send(self, message: object) -> None:
        raise AssertionError(f"blocking send of {type(message).__name__} in a triggerer")


def test_secrets_are_masked_over_the_triggerers_async_call(monkeypatch: pytest.MonkeyPatch):
    from airflow.sdk.execution_time import task_runner

    channel = TriggererChannel()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", channel, raising=False)
    asyncio.run(version_compat.amask_secrets(["sk-masked-over-asend-1234"]))
    assert [type(m).__name__ for m in channel.sent] == ["MaskSecret"]
    assert channel.sent[0].value == "sk-masked-over-asend-1234"  # type: ignore[attr-defined]
