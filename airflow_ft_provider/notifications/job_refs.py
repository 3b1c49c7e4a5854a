"""Finding the tuning jobs a failed task or DAG run started: a templated id, or the run's XComs.

An XCom (or a natively rendered ``job_id``) may hold a job id, a job record with ``job_id`` (what
this provider's operators return) or a list of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_ft_provider import version_compat

#: XCom key under which a task that starts a tuning job should push the job's id (or its record):
#: the notifier looks there when it is given no ``job_id``.
TUNING_JOB_ID_XCOM_KEY = "tuning_job_id"
#: XCom reads one callback keeps in flight in the triggerer, which serves every trigger too.
XCOM_READS_IN_FLIGHT = 8


@dataclass(frozen=True)
class JobRef:
    job_id: str
    #: The platform named by a job record; None for a bare id string.
    platform: str | None
    #: Where the id came from, for the log.
    source: str


def job_refs(value: Any, source: str) -> Iterator[JobRef]:
    """The job ids in a rendered ``job_id`` or an XCom value: an id, a job record, or a list of them.

    ``"None"`` counts as empty: it is what ``{{ ti.xcom_pull(...) }}`` renders when nothing was pushed.
    """
    if isinstance(value, str):
        job_id = value.strip()
        if job_id and job_id != "None":
            yield JobRef(job_id, None, source)
    elif isinstance(value, Mapping):
        record_id, platform = value.get("job_id"), value.get("platform")
        if isinstance(record_id, str) and record_id.strip():
            yield JobRef(record_id.strip(), platform if isinstance(platform, str) else None, source)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from job_refs(item, source)


def unique(refs: list[JobRef]) -> list[JobRef]:
    """Each job once, where it was first found: a job may be in several tasks' XComs."""
    first: dict[str, JobRef] = {}
    for ref in refs:
        first.setdefault(ref.job_id, ref)
    return list(first.values())


def read_xcoms(
    dag_id: str, run_id: str, key: str, task_ids: Sequence[str], map_index: int | None
) -> list[tuple[str, Any]]:
    """(task id, value) of the run's XComs under ``key``; ``map_index`` None reads every map index.

    Workers and the dag-processor read XComs through the task SDK. ``dag.test()`` runs DAG
    callbacks in its own process, which has no supervisor channel (the SDK's XCom calls fail
    there with ImportError) but has the metadata database, so that one case reads it directly.
    """
    if not version_compat.has_supervisor():
        return _read_xcoms_from_db(dag_id, run_id, key, task_ids, map_index)
    from airflow.providers.common.compat.sdk import XCom

    if map_index is not None:
        return [
            (task_id, XCom.get_one(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index))
            for task_id in task_ids
        ]
    return [
        (task_id, value)
        for task_id in task_ids
        for value in XCom.get_all(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id) or ()
    ]


def _read_xcoms_from_db(
    dag_id: str, run_id: str, key: str, task_ids: Sequence[str], map_index: int | None
) -> list[tuple[str, Any]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(XComModel).where(
        XComModel.dag_id == dag_id,
        XComModel.run_id == run_id,
        XComModel.key == key,
        XComModel.task_id.in_(task_ids),
    )
    if map_index is not None:
        query = query.where(XComModel.map_index == map_index)
    with create_session() as session:
        rows = session.scalars(query.order_by(XComModel.task_id, XComModel.map_index)).all()
        return [(row.task_id, XComModel.deserialize_value(row)) for row in rows]


async def aread_run_xcoms(dag_id: str, run_id: str, key: str, task_ids: Sequence[str]) -> list[tuple[str, Any]]:
    """(task id, value) of the run's XComs under ``key``, of ``task_ids`` (empty: every task), every map index.

    For the triggerer (a Deadline Alert callback), without blocking its loop. Its channel to Airflow
    serves task states and single XComs, not a task's XComs of every map index: the run's task
    instances are listed first, then each one's XCom is read (Airflow logs "XCom not found" for
    a task that pushed none: name the tasks that start jobs in ``xcom_task_ids`` to read only those).
    """
    from airflow.providers.common.compat.sdk import XCom
    from airflow.sdk.execution_time.comms import GetTaskStates, GetXCom, XComResult

    async def names(map_index: int | None) -> set[str]:
        ask = GetTaskStates(dag_id=dag_id, run_ids=[run_id], task_ids=list(task_ids) or None, map_index=map_index)
        return set((await version_compat.asend_to_supervisor(ask)).task_states.get(run_id, {}))

    async def value(task_id: str, map_index: int) -> Any:
        read = GetXCom(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
        async with in_flight:
            reply = await version_compat.asend_to_supervisor(read)
        return XCom.deserialize_value(reply) if isinstance(reply, XComResult) and reply.value is not None else None

    # Side by side: a busy triggerer's supervisor was seen to take seconds to answer each request.
    in_flight = asyncio.Semaphore(XCOM_READS_IN_FLIGHT)
    every, first_of_mapped = await asyncio.gather(names(None), names(0))
    instances = _instances(every, first_of_mapped)
    values = await asyncio.gather(*(value(task_id, map_index) for task_id, map_index in instances))
    return [(task_id, found) for (task_id, _), found in zip(instances, values, strict=True) if found is not None]


def _instances(every: Iterable[str], first_of_mapped: Iterable[str]) -> list[tuple[str, int]]:
    """(task id, map index) from the names Airflow's task states give a run's task instances.

    A mapped instance is named ``<task id>_<map index>``, an unmapped one by its task id, which may
    end in ``_<digits>`` too: the mapped tasks are known by their instance 0 (``first_of_mapped``:
    the names of the instances of map index 0).
    """
    mapped = {name.removesuffix("_0") for name in first_of_mapped}
    found = []
    for name in every:
        task_id, _, index = name.rpartition("_")
        if task_id in mapped and index.isdigit():
            found.append((task_id, int(index)))
        if task_id not in mapped or not index.isdigit() or name in mapped:
            found.append((name, -1))
    return sorted(found)
