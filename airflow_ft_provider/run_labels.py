"""Label a fine-tuning job with the Airflow task that creates it, so its run can be found again.

A job created with :func:`run_labels` carries its DAG id, run id, task id and map index in the
platform's own form (Vertex AI ``labels``, OpenAI and Azure OpenAI ``metadata``, Bedrock
``jobTags``, SageMaker ``Tags``). The reaper
(:class:`~airflow_ft_provider.operators.reaper.ReapOrphanedTuningJobsOperator`) reads them back
from a listing and cancels the jobs whose run or task no longer runs. Jobs without them are never
its candidates. Values a platform would refuse are encoded deterministically (see
:meth:`~airflow_ft_provider.platforms.labels.LabelRules.encode`); :class:`RunLabel` compares
Airflow's ids with them by encoding the ids the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ft_provider.platforms.labels import LabelRules
    from airflow_ft_provider.platforms.record import PlatformRecord

__all__ = ["DEFAULT_PREFIX", "RunLabel", "label_keys", "label_rules", "run_labels"]

#: What the keys start with: ``airflow-dag``, ``airflow-run``, ``airflow-task``, ``airflow-map-index``.
#: Give each Airflow deployment that shares a cloud account its own prefix, so that one's reaper
#: never judges the other's jobs.
DEFAULT_PREFIX = "airflow"
_FIELDS = ("dag", "run", "task", "map-index")


def label_rules(platform: str) -> tuple[PlatformRecord, LabelRules]:
    """The record of ``platform`` and its label rules; a clear error where its jobs take none."""
    from airflow_ft_provider.platforms.registry import record_for

    record = record_for(platform)
    if record.labels is None:
        raise ValueError(
            f"{record.title} fine-tuning jobs take no labels, metadata or tags at creation, so a job "
            "cannot carry its Airflow run there and the reaper cannot recognise it. Bound such jobs to "
            "their task with CancelTuningJobOperator, the sensor's cancel_on_kill or CancelTuningJobNotifier."
        )
    return record, record.labels


def run_labels(
    platform: str,
    context: Mapping[str, Any] | None = None,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, str] | list[dict[str, str]]:
    """The labels a job should be created with so it carries the task that creates it.

    :param platform: the platform's name (``"vertex_ai"``, ``"openai"``, ``"azure_openai"``,
        ``"bedrock"``, ``"sagemaker"``); the others take no labels and raise ``ValueError``.
    :param context: the task's context; default: the running task's (``get_current_context()``).
    :param dag_id: the other parameters override what the context says (or stand in for it).
    :param prefix: what the keys start with (see :data:`DEFAULT_PREFIX`); the reaper takes the same.
    :return: a mapping for Vertex AI ``labels`` and OpenAI/Azure ``metadata``; a list of tag
        objects for Bedrock ``jobTags`` (``key``/``value``) and SageMaker ``Tags`` (``Key``/``Value``).
        Merge it with your own labels.
    """
    record, rules = label_rules(platform)
    given = {"dag": dag_id, "run": run_id, "task": task_id, "map-index": map_index}
    if any(value is None for value in given.values()):
        for name, value in _from_context(context).items():
            given[name] = value if given[name] is None else given[name]
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise ValueError(f"run_labels needs the task's {', '.join(missing)}: pass the task context or the ids.")
    keys = label_keys(prefix)
    for key in keys.values():
        rules.check_key(key, record.title)
    return rules.shaped({keys[name]: rules.encode(str(value)) for name, value in given.items()})


def label_keys(prefix: str) -> dict[str, str]:
    """The four keys, by field: ``{"dag": "<prefix>-dag", ...}``."""
    if not prefix:
        raise ValueError("prefix must not be empty; the default is 'airflow'")
    return {name: f"{prefix}-{name}" for name in _FIELDS}


def _from_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    if context is None:
        from airflow.sdk import get_current_context

        try:
            context = get_current_context()
        except RuntimeError as exc:  # no task is running in this process
            raise ValueError(
                "run_labels is not called inside a running task: pass the context or dag_id, run_id, "
                f"task_id and map_index ({exc})"
            ) from None
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        raise ValueError("the context has no task instance ('ti'): pass a task's context or the ids")
    map_index = getattr(ti, "map_index", None)
    return {"dag": ti.dag_id, "run": ti.run_id, "task": ti.task_id, "map-index": -1 if map_index is None else map_index}


@dataclass(frozen=True)
class RunLabel:
    """The run labels one listed job carries, as written (possibly encoded)."""

    dag: str
    run: str
    task: str
    map_index: str

    @classmethod
    def of(cls, labels: Mapping[str, str], prefix: str = DEFAULT_PREFIX) -> RunLabel | None:
        """The job's run labels; None unless it carries all four (it was not labelled by this prefix)."""
        keys = label_keys(prefix)
        values = [labels.get(keys[name]) for name in _FIELDS]
        if any(value is None for value in values):
            return None
        dag, run, task, map_index = (str(value) for value in values)
        return cls(dag, run, task, map_index)

    def names_dag(self, rules: LabelRules, dag_id: str) -> bool:
        return rules.encode(dag_id) == self.dag

    def names_run(self, rules: LabelRules, run_id: str) -> bool:
        return rules.encode(run_id) == self.run

    def names_task(self, rules: LabelRules, task_id: str, map_index: int) -> bool:
        return rules.encode(task_id) == self.task and rules.encode(str(map_index)) == self.map_index
