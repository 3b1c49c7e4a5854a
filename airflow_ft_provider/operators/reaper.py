"""ReapOrphanedTuningJobsOperator: cancel labelled jobs whose Airflow run or task no longer runs.

Every other way the provider stops a job starts from a task that knows its job. This one starts
from the platform: it lists the jobs that carry :func:`~airflow_ft_provider.run_labels.run_labels`,
asks Airflow whether the run (or task) each names still runs, and cancels the rest through the
bulk operator's cancel and confirmation. It is dry-run by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator
from airflow_ft_provider.run_labels import DEFAULT_PREFIX, RunLabel, label_keys

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.hooks.base import TuningJobHook
    from airflow_ft_provider.job_filter import JobFilter
    from airflow_ft_provider.jobs import TuningJob

_SCOPES = ("run", "task")


class ReapOrphanedTuningJobsOperator(BulkCancelTuningJobsOperator):
    """Cancel the jobs labelled by this Airflow whose DAG run (or task) is no longer running.

    Candidates are the active jobs of the connection (narrowed by any bulk filter given) that carry
    all four run labels under ``prefix``; jobs without them are never touched. For each, Airflow's
    own state is read through the task's Task SDK (``ti.get_task_states``, ``ti.get_dagrun_state``):

    - its run is gone (deleted) or ended (failed, success, marked): **orphan**;
    - with ``scope="task"``, its run runs but its task does not (failed, cleared and waiting to
      run again, marked, removed): **orphan**;
    - its run is queued or running (and, with ``scope="task"``, its task is running, deferred or
      up for reschedule): **kept**;
    - its DAG has no runs in this Airflow (another deployment's job, or a clipped DAG id not in
      ``dag_ids``): **skipped**, never cancelled.

    If Airflow's state cannot be read, the task fails before anything is cancelled (and logs why).
    The orphans are then cancelled and confirmed as :class:`BulkCancelTuningJobsOperator` does
    (``max_jobs`` counts the labelled candidates). The XCom is the bulk report plus ``judged``: one
    ``{job_id, verdict, reason, dag_id, run_id}`` per labelled candidate.

    :param conn_id: connection of a platform whose listings show labels (Vertex AI, OpenAI, Azure
        OpenAI).
    :param prefix: the ``prefix`` the jobs were labelled with (default ``airflow``).
    :param scope: ``"run"`` (default): a job lives as long as its DAG run, which suits a job created
        by one task and watched by another. ``"task"``: as long as the task that created it.
    :param dag_ids: the DAGs whose jobs may be reaped (a list, or a comma-separated string as a
        template renders it); default: any DAG named in full by a label.
        Needed for DAG ids a platform's label had to clip (Vertex AI: longer than 63 characters,
        upper case or dots); jobs of other DAGs are skipped.
    :param dry_run: list and judge, cancel nothing. Default True: turn it off once the log shows the
        jobs you expect.
    :param kwargs: the bulk operator's filter and cancel parameters (``states``,
        ``running_longer_than``, ``max_jobs``, ``timeout``...).
    """

    template_fields: Sequence[str] = (*BulkCancelTuningJobsOperator.template_fields, "prefix", "dag_ids")
    ui_color = "#e8b4b0"

    def __init__(
        self,
        *,
        prefix: str = DEFAULT_PREFIX,
        scope: str = "run",
        dag_ids: Sequence[str] | None = None,
        dry_run: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(dry_run=dry_run, **kwargs)
        if scope not in _SCOPES:
            raise ValueError(f"scope={scope!r}: use 'run' (jobs live as long as their DAG run) or 'task'.")
        self.prefix = prefix
        self.scope = scope
        self.dag_ids = dag_ids
        self._judged: list[dict[str, Any]] = []

    def execute(self, context: Context) -> dict[str, Any]:
        self._judged = []
        result = super().execute(context)
        return {**result, "judged": self._judged}

    def select(
        self, context: Context, hook: TuningJobHook, job_filter: JobFilter, listed: list[TuningJob], now: datetime
    ) -> list[TuningJob]:
        """The filter's matches that carry run labels, judged against Airflow: the orphans."""
        from airflow_ft_provider.airflow_state import AirflowState, AirflowStateUnavailableError, Scope, Verdict
        from airflow_ft_provider.run_labels import label_rules

        record, rules = label_rules(hook.platform)
        if not record.has_labels:
            raise AirflowFailException(
                f"{record.title} takes {rules.field} at creation but its listings do not show them, so the "
                f"reaper cannot tell which jobs belong to which run on connection {self.conn_id!r}."
            )
        label_keys(self.prefix)  # a bad prefix fails before Airflow is asked anything
        labelled = [(job, label) for job in listed if (label := RunLabel.of(job.labels, self.prefix)) is not None]
        candidates = job_filter.select([job for job, _ in labelled], now)
        labels = {job.job_id: label for job, label in labelled}
        dag_ids = self.dag_ids.split(",") if isinstance(self.dag_ids, str) else self.dag_ids
        state = AirflowState(
            context["ti"],
            rules,
            Scope(self.scope),
            None if dag_ids is None else [d.strip() for d in dag_ids if d.strip()],
        )
        try:
            judgements = [(job, state.judge(labels[job.job_id])) for job in candidates]
        except AirflowStateUnavailableError as exc:
            self.log.error("%s", exc)
            raise AirflowException(str(exc)) from None
        self._judged = [
            {
                "job_id": job.job_id,
                "verdict": str(j.verdict),
                "reason": j.reason,
                "dag_id": j.dag_id,
                "run_id": j.run_id,
            }
            for job, j in judgements
        ]
        if judgements:
            rows = "\n".join(
                f"  {job.job_id}  {j.verdict:<6}  {j.reason}  {j.dag_id or '-'}  {j.run_id or '-'}"
                for job, j in judgements
            )
            self.log.info(
                "%d labelled active jobs judged against Airflow (scope=%s):\n%s", len(judgements), self.scope, rows
            )
        else:
            self.log.info("No active job carries the run labels with prefix %r.", self.prefix)
        return [job for job, j in judgements if j.verdict is Verdict.ORPHAN]
