"""Local emulators of the fine-tuning platforms, for tests, the demo and users' DAGs.

Real HTTP servers on 127.0.0.1 speaking each platform's wire format (paths, auth,
JSON, states, pagination, errors), with scripted job timelines, fault injection, quotas
and rate limits, and a redacted request log; one module per platform under ``platforms/``.
Only tests and tooling import this package; the provider's own code never does, and the
emulators need nothing beyond starlette, uvicorn, httpx, pydantic and cryptography
(:mod:`~airflow_ft_provider.testing.dags`, which runs DAGs for users' tests, uses Airflow). Names are
resolved lazily so importing the package is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ft_provider.testing.connections import airflow_connection
    from airflow_ft_provider.testing.core import EmulatorConfig, EmulatorCore
    from airflow_ft_provider.testing.dags import RunResult, run_dag_file, run_dag_source
    from airflow_ft_provider.testing.emulator import Emulator
    from airflow_ft_provider.testing.faults import Fault
    from airflow_ft_provider.testing.metering import Quota
    from airflow_ft_provider.testing.remote import RemoteEmulator
    from airflow_ft_provider.testing.reqlog import RequestRecord
    from airflow_ft_provider.testing.store import JobScript, Phase

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorCore",
    "Fault",
    "JobScript",
    "Phase",
    "Quota",
    "RemoteEmulator",
    "RequestRecord",
    "RunResult",
    "airflow_connection",
    "run_dag_file",
    "run_dag_source",
]

_WHERE = {
    "airflow_connection": "connections",
    "Emulator": "emulator",
    "EmulatorConfig": "core",
    "EmulatorCore": "core",
    "Fault": "faults",
    "JobScript": "store",
    "Phase": "store",
    "Quota": "metering",
    "RemoteEmulator": "remote",
    "RequestRecord": "reqlog",
    "RunResult": "dags",
    "run_dag_file": "dags",
    "run_dag_source": "dags",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
