"""Run DAGs through real Airflow (``dag.test()``) and read back what they did.

DAG files are written into the test Airflow home's DAGs folder first: Airflow 3.3's
``dag.test()`` syncs the DAG bundle and refuses DAGs it cannot find there.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RunResult:
    state: str
    task_states: dict[str, str | None]
    xcoms: dict[tuple[str, str], Any]

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_id, key))


_db_ready = False


def ensure_db() -> None:
    global _db_ready
    if not _db_ready:
        from airflow.utils.db import initdb

        initdb()
        _db_ready = True


def write_dag(dag_id: str, source: str) -> Path:
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source))
    return path


def run_dag(dag_id: str, source: str, conf: dict[str, Any] | None = None) -> RunResult:
    """Write ``source`` as a DAG file, run ``dag_id`` once with ``dag.test()``, collect states and XComs."""
    ensure_db()
    path = write_dag(dag_id, source)
    spec = importlib.util.spec_from_file_location(f"test_dag_{dag_id}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = getattr(module, "dag", None) or next(v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id)
    run = dag.test(run_conf=conf) if conf else dag.test()
    return collect(dag_id, run.run_id, str(run.state))


def collect(dag_id: str, run_id: str, state: str) -> RunResult:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id).all()
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id).all()
        xcoms = {(row.task_id, row.key): XComModel.deserialize_value(row) for row in rows}
        return RunResult(
            state=state.split(".")[-1].lower(),
            task_states={ti.task_id: (str(ti.state).split(".")[-1].lower() if ti.state else None) for ti in tis},
            xcoms=xcoms,
        )
