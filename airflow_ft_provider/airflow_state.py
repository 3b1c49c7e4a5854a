"""Whether the Airflow run or task a labelled job belongs to still runs, read from Airflow itself.

The reaper runs as a task, and a task reads other runs' state the supported way: the task
instance's Task SDK calls (``ti.get_task_states``, ``ti.get_dagrun_state``, Airflow 3.1+), which
go through the supervisor to Airflow's Execution API, with the task's own token and no database
access. Every read either answers or raises :class:`AirflowStateUnavailableError`: the reaper
must cancel nothing on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.platforms.labels import LabelRules
from airflow_ft_provider.run_labels import RunLabel

#: DAG run states in which its jobs may still be needed.
LIVE_RUN_STATES = frozenset({"queued", "running"})
#: Task states in which the task that created a job may still be using it: it runs, waits
#: deferred, between reschedules (a reschedule-mode sensor) or for a person (3.3's
#: ``awaiting_input``). A task that is queued or scheduled again was cleared: its earlier try's
#: job is an orphan.
LIVE_TASK_STATES = frozenset({"running", "deferred", "up_for_reschedule", "awaiting_input"})
_MAPPED_KEY = re.compile(r"^(?P<task>.+)_(?P<index>\d+)$")


class AirflowStateUnavailableError(TuningJobError):
    """Airflow's state of runs and tasks could not be read; nothing may be cancelled on it."""

    retryable = True


class Scope(StrEnum):
    """What must still run for a labelled job to be kept."""

    #: The job's DAG run is queued or running (a job created by one task and watched by another).
    RUN = "run"
    #: Also the task that created it runs, is deferred or waits for a reschedule.
    TASK = "task"


class Verdict(StrEnum):
    KEEP = "keep"
    ORPHAN = "orphan"
    #: Not this Airflow's to judge: its DAG is unknown here (another deployment's, or a DAG id
    #: that was clipped and is not among ``dag_ids``).
    SKIP = "skip"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    #: Why, in a few words, for the log and XCom ("run failed", "run deleted").
    reason: str
    dag_id: str | None = None
    run_id: str | None = None


class AirflowState:
    """Judges labelled jobs against Airflow's state, reading each DAG's runs once per sweep."""

    def __init__(self, ti: Any, rules: LabelRules, scope: Scope, dag_ids: list[str] | None = None) -> None:
        self._ti = ti
        self._rules = rules
        self._scope = scope
        self._dag_ids = dag_ids
        self._task_states: dict[str, dict[str, dict[str, Any]]] = {}
        self._run_states: dict[tuple[str, str], str] = {}

    def judge(self, label: RunLabel) -> Judgement:
        """Keep, orphan or skip the job carrying ``label``; :class:`AirflowStateUnavailableError`
        if Airflow cannot say."""
        candidates = self._dag_ids if self._dag_ids is not None else [label.dag]
        dag_id = next((d for d in candidates if label.names_dag(self._rules, d)), None)
        if dag_id is None:
            where = "dag_ids" if self._dag_ids is not None else "the label (it was clipped: pass dag_ids)"
            return Judgement(Verdict.SKIP, f"DAG {label.dag!r} is not in {where}")
        runs = self._runs_of(dag_id)
        if not runs:
            hint = (
                ""
                if self._dag_ids is not None
                else " (another Airflow's, or an id the label encoded: name it in dag_ids)"
            )
            return Judgement(Verdict.SKIP, f"DAG {dag_id!r} has no runs in this Airflow{hint}", dag_id)
        run_id = next((r for r in runs if label.names_run(self._rules, r)), None)
        if run_id is None:
            return Judgement(Verdict.ORPHAN, "run deleted", dag_id)
        run_state = self._run_state(dag_id, run_id)
        if run_state not in LIVE_RUN_STATES:
            return Judgement(Verdict.ORPHAN, f"run {run_state}", dag_id, run_id)
        if self._scope is Scope.RUN:
            return Judgement(Verdict.KEEP, f"run {run_state}", dag_id, run_id)
        task_state = self._task_state(label, runs[run_id])
        if task_state in LIVE_TASK_STATES:
            return Judgement(Verdict.KEEP, f"task {task_state}", dag_id, run_id)
        return Judgement(Verdict.ORPHAN, f"task {task_state or 'cleared or removed'}", dag_id, run_id)

    def _task_state(self, label: RunLabel, tasks: dict[str, Any]) -> str | None:
        """The state of the labelled task instance; a key ``x_3`` may be task ``x_3`` or map index 3
        of ``x``: a live reading of either keeps the job."""
        found = []
        for key, state in tasks.items():
            readings = [(key, -1)]
            if mapped := _MAPPED_KEY.match(key):
                readings.append((mapped["task"], int(mapped["index"])))
            if any(label.names_task(self._rules, task, index) for task, index in readings):
                found.append(None if state is None else str(state))
        live = [s for s in found if s in LIVE_TASK_STATES]
        return (live or found or [None])[0]

    def _runs_of(self, dag_id: str) -> dict[str, dict[str, Any]]:
        if dag_id not in self._task_states:
            states = self._read(f"the task states of DAG {dag_id!r}", self._ti.get_task_states, dag_id=dag_id)
            self._task_states[dag_id] = {str(run): dict(tasks) for run, tasks in dict(states).items()}
        return self._task_states[dag_id]

    def _run_state(self, dag_id: str, run_id: str) -> str:
        if (dag_id, run_id) not in self._run_states:
            state = self._read(f"the state of run {run_id!r} of {dag_id!r}", self._ti.get_dagrun_state, dag_id, run_id)
            self._run_states[dag_id, run_id] = str(getattr(state, "value", state))
        return self._run_states[dag_id, run_id]

    @staticmethod
    def _read(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # any failure of the read: the supervisor, the API, the answer
            raise AirflowStateUnavailableError(
                f"Could not read {what} from Airflow ({type(exc).__name__}: {exc}); nothing was cancelled. "
                "The reaper reads it through the task's Task SDK (Airflow 3.1+) and runs again at its next schedule."
            ) from exc
