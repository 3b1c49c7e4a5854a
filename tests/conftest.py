"""Shared fixtures: an isolated Airflow home, the emulators, and connections pointing at them."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Airflow reads its configuration when first imported: isolate it before anything imports it.
_HOME = Path(tempfile.mkdtemp(prefix="ftp-airflow-home-"))
(_HOME / "dags").mkdir()
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

from airflow_ft_provider.jobs import Platform  # noqa: E402
from airflow_ft_provider.platforms.registry import record_for  # noqa: E402
from airflow_ft_provider.testing import Emulator, airflow_connection  # noqa: E402

PLATFORMS = list(Platform)
CONN_TYPES = {platform: record_for(platform).conn_type for platform in PLATFORMS}
#: Fast retries for tests (the defaults are tested on their own).
FAST_RETRIES = {"backoff_max": 0.2, "max_retries": 5, "timeout": 10}
PROJECT = "emulator-project"
LOCATION = "us-central1"


def conn_id_for(platform: Platform | str) -> str:
    return f"ft_{Platform(platform).value}_test"


def connection_dict(emu: Emulator, platform: Platform | str, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
    """An Airflow connection (JSON form) for ``platform`` on the emulator; ``key`` overrides the valid key."""
    return airflow_connection(emu, platform, key=key, project=PROJECT, location=LOCATION, **{**FAST_RETRIES, **extra})


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Iterator[Emulator]:
    """The session's emulator, emptied for this test."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def connections(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[Platform, str]:
    """One working connection per platform (env vars), keyed by platform -> conn_id."""
    ids = {}
    for platform in PLATFORMS:
        conn_id = conn_id_for(platform)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection_dict(emu, platform)))
        ids[platform] = conn_id
    return ids


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch):
    """Define a connection from a dict: ``set_connection("my_conn", {...})``."""

    def _set(conn_id: str, conn: dict[str, Any]) -> str:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return _set


#: Tests of code that never touches Airflow (dialects, transport, emulators, parsers,
#: benchmarks): the Airflow version cannot change their outcome, so ``scripts/test`` runs them on
#: the newest Airflow only (``-m "not newest_only"`` on the others). Paths relative to tests/.
NEWEST_ONLY = (
    "platforms/",
    "transport/",
    "emulators/",
    "benchmarks/",
    "security/test_parser_fuzz.py",
    "hostile/test_bodies.py",
    "hostile/test_error_classes.py",
    "hostile/test_listing.py",
    "hostile/test_memory.py",
    "hostile/test_retries.py",
    "hostile/test_servers.py",
    "hostile/test_statuses.py",
    "hostile/test_timeouts.py",
    # A real deployment under platform faults and the example DAGs in it: the transport's and the
    # DAGs' behaviour; the oldest Airflow runs the e2e drills of kills and restarts, and the
    # example DAGs through dag.test().
    "e2e/test_platform_faults.py",
    "e2e/test_example_dags.py",
    # Hundreds of waits across triggerer kills and hand-overs (7 minutes): the oldest Airflow's
    # restart path (no on_kill, the state check in cleanup) is drilled by test_process_failures.
    "e2e/test_triggerer_drills.py",
)
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.resolve().relative_to(_TESTS).as_posix()
        if where.startswith(NEWEST_ONLY):
            item.add_marker(pytest.mark.newest_only)
