"""The e2e suite's deployment: Airflow 3.3 on PostgreSQL with Celery (Redis), one process a component.

``pytest tests/e2e -m e2e``. On Airflow < 3.3 it skips (the suite targets the newest release). It
also skips, with the reason, when what it needs is missing (the Celery provider, psycopg2 or asyncpg
not installed, PostgreSQL or Redis not reachable); with ``FT_E2E_REQUIRED=1`` (CI) those are errors
instead, so the suite cannot silently not run.
Set ``FT_E2E_KEEP=1`` to keep the deployment's directory (logs, AIRFLOW_HOME) after the run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from airflow_ft_provider.testing import RemoteEmulator
from tests.e2e.deployment import PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT, AirflowApi, Deployment, reachable

REQUIRED = os.environ.get("FT_E2E_REQUIRED", "") not in ("", "0", "false")


def _out_of_scope() -> str | None:
    """Why this venv is not one the suite targets (always a skip), or None."""
    try:
        airflow = version("apache-airflow")
    except PackageNotFoundError:
        return "apache-airflow is not installed"
    if tuple(int(p) for p in airflow.split(".")[:2]) < (3, 3):
        return f"the e2e suite targets Airflow 3.3+ (the newest tested release); this venv has {airflow}"
    return None


def _missing() -> str | None:
    """What this machine lacks to run the suite (a skip, or an error with FT_E2E_REQUIRED), or None."""
    packages = {
        "airflow.providers.celery": "apache-airflow-providers-celery",
        "psycopg2": "psycopg2-binary",
        "asyncpg": "asyncpg",
    }
    for module, package in packages.items():
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (dependency group 'e2e')"
    if not reachable(PG_HOST, PG_PORT):
        return f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}"
    if not reachable(REDIS_HOST, REDIS_PORT):
        return f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}"
    return None


@pytest.fixture(scope="package")
def deployment() -> Iterator[Deployment]:
    """Package scope: the deployment goes away after the last e2e test, not at the end of a whole
    test session, so it never loads the machine while the unit tests run."""
    scope = _out_of_scope()
    if scope is not None:
        pytest.skip(scope)
    reason = _missing()
    if reason is not None:
        if REQUIRED:
            pytest.fail(f"FT_E2E_REQUIRED is set but the e2e suite cannot run: {reason}")
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="ftp-e2e-"))
    dep = Deployment(workdir, python=sys.executable)
    started = time.monotonic()
    try:
        dep.start()
        print(f"\ne2e deployment up in {time.monotonic() - started:.0f} s ({dep.timings}); files in {workdir}")
        yield dep
    finally:
        dep.stop()
        if os.environ.get("FT_E2E_KEEP"):
            print(f"\ne2e deployment files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="package")
def api(deployment: Deployment) -> AirflowApi:
    assert deployment.api is not None
    return deployment.api


@pytest.fixture(scope="package")
def _remote(deployment: Deployment) -> Iterator[RemoteEmulator]:
    with RemoteEmulator(deployment.emulator_url) as emu:
        yield emu


@pytest.fixture
def emu(_remote: RemoteEmulator) -> Iterator[RemoteEmulator]:
    """The emulator process, without faults or rate limits before and after each test.

    Jobs and the request log are kept (job ids are unique; tests filter the log by job id).
    """
    _remote.clear_faults()
    yield _remote
    _remote.clear_faults()
    for platform in ("openai", "together", "dashscope", "vertex_ai", "gemini"):
        _remote.set_rate_limit(platform, None)
