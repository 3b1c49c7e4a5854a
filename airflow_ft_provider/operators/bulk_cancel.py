"""BulkCancelTuningJobsOperator: cancel every active job of a connection that matches a filter.

It is the google-genai "cancel all running jobs" loop as one task, made fast and safe: one listing
stands in for the per-job reads, each job goes through the same cancel flow as a single cancel
(``flows.cancel_flow``, starting from its listed record), in parallel within the connection's
request budget, ends are confirmed by re-listing (``flows.confirm_flow``: one request per page for
all jobs), and a ``max_jobs`` cap stops a filter typo from cancelling a whole account.

Only Airflow and this package's light modules are imported at module level (DAG files import
this at every parse); hooks, httpx and threads load inside ``execute``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_ft_provider.arguments import flag, seconds
from airflow_ft_provider.errors import MAX_MESSAGE, OperationNotSupportedError, TuningJobError
from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.job_filter import DEFAULT_MAX_JOBS, JobFilter, TooManyJobsError
from airflow_ft_provider.jobs import TuningJob
from airflow_ft_provider.operators.bulk_report import BulkAction, BulkReport, JobOutcome, Problem, table
from airflow_ft_provider.server_text import clean

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.flows import Confirmation
    from airflow_ft_provider.hooks.base import TuningJobHook

_SEE_XCOM = "Each job's outcome is in the task's XCom (return_value) and in the table above."
#: Rows of matching jobs shown when ``max_jobs`` refuses a run.
_SAMPLE_ROWS = 20


class BulkCancelTuningJobsOperator(BaseOperator):
    """Cancel every active fine-tuning job of a connection that matches a filter, and confirm the ends.

    1. Lists all jobs once (the listing is the read: no per-job GET before cancelling) and keeps
       those matching the filter (see :class:`~airflow_ft_provider.job_filter.JobFilter`). More than
       ``max_jobs`` matches fail the task before anything is sent.
    2. Cancels each match as :class:`~airflow_ft_provider.operators.cancel.CancelTuningJobOperator`
       would, starting from its listed record, ``max_concurrency`` at a time within the connection's
       request budget. Jobs listed as CANCELLING get nothing more; a refusal is checked with one
       read (ended: ``already_ended``; cancelling: ``already_cancelling``; else it stands). One
       failing job never stops the others.
    3. With ``wait_for_completion``, re-lists (or reads the few pending jobs one by one, whichever
       takes fewer requests) on a backing-off schedule until every job is terminal or gone.

    ``timeout`` bounds the whole task: listing, cancels and confirmation. Returns (XCom, JSON, no
    secrets) the filter, counts, ``unknown_states`` (below) and one record per job: ``{job_id,
    display_name, state_before, state_after, action, error}`` (see
    :mod:`~airflow_ft_provider.operators.bulk_report`). The task fails after pushing it if a
    cancel failed, a job was not confirmed in time, or (with ``fail_if_not_cancelled``) a job ended
    other than CANCELLED. On the Gemini API, which cannot cancel tuning, every job is ``failed``
    with the platform's message.

    :param conn_id: connection of one of the provider's types; it decides the platform (templated).
    :param states: states to select (templated); default QUEUED, PENDING, RUNNING, PAUSED.
    :param include_unknown_states: also cancel jobs whose native state the provider does not
        recognise (normalized UNKNOWN) when the other criteria select them. Default False: a job
        whose state nobody recognised cannot be shown to be in ``states`` (it may be ending, or in a
        state no cancel applies to), and cancelling on a guess is the mistake this operator must
        not make. Either way such jobs are reported: their count, native states and ids (the first
        50) in the XCom's ``unknown_states`` and a warning in the log, so a DAG can act on them.
    :param created_before: only jobs created before this aware datetime / ISO string (templated).
    :param running_longer_than: only jobs started longer ago than this timedelta / seconds (templated).
    :param name_pattern: glob over the display name, or ``re:<regex>`` (templated).
    :param id_pattern: glob over the job id, or ``re:<regex>`` (templated).
    :param labels: only jobs carrying all these labels (Vertex AI labels, OpenAI metadata) (templated);
        refused on platforms whose jobs have no labels.
    :param job_ids: only these listed jobs (templated; a list or a comma-separated string): the ones
        a person approved after a dry run. An empty one cancels nothing.
    :param max_jobs: refuse to cancel more jobs than this (templated); raise it explicitly for big clean-ups.
    :param dry_run: list what would be cancelled and send nothing (templated: a bool, or a template
        rendering to True or false, e.g. ``"{{ params.dry_run }}"``; anything else fails the task).
    :param max_concurrency: cancels in flight at most (default 32); the request budget paces them.
    :param wait_for_completion: confirm every cancelled job ended (default True).
    :param timeout: seconds (or a timedelta) for the whole task.
    :param fail_if_not_cancelled: fail when a job ended SUCCEEDED/FAILED/EXPIRED instead of CANCELLED.
    :param poll_interval: the longest pause between two confirmation rounds.
    :param min_poll_interval: the first pauses after the cancels; polling backs off from here.
        Shorter than the single-job operator's: one listing confirms every job at once.
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "states",
        "created_before",
        "running_longer_than",
        "name_pattern",
        "id_pattern",
        "labels",
        "job_ids",
        "max_jobs",
        "is_dry_run",
    )
    ui_color = "#f4c7c3"

    def __init__(
        self,
        *,
        conn_id: str,
        states: Sequence[str] | str | None = None,
        include_unknown_states: bool = False,
        created_before: datetime | str | None = None,
        running_longer_than: Any = None,
        name_pattern: str | None = None,
        id_pattern: str | None = None,
        labels: Mapping[str, str] | None = None,
        job_ids: Sequence[str] | str | None = None,
        max_jobs: int | str = DEFAULT_MAX_JOBS,
        dry_run: bool | str = False,
        max_concurrency: int = 32,
        wait_for_completion: bool = True,
        timeout: Any = 60 * 60,
        fail_if_not_cancelled: bool = False,
        poll_interval: Any = 30.0,
        min_poll_interval: Any = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.states = states
        self.include_unknown_states = include_unknown_states
        self.created_before = created_before
        self.running_longer_than = running_longer_than
        self.name_pattern = name_pattern
        self.id_pattern = id_pattern
        self.labels = labels
        self.job_ids = job_ids
        self.max_jobs = max_jobs
        # Not `self.dry_run`: that name is a BaseOperator method. A literal is checked now, a template
        # when rendered.
        self.is_dry_run: bool | str = dry_run if _templated(dry_run) else flag(dry_run, "dry_run")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency={max_concurrency} must be at least 1.")
        self.max_concurrency = max_concurrency
        self.wait_for_completion = wait_for_completion
        self.timeout = seconds(timeout, "timeout")
        self.fail_if_not_cancelled = fail_if_not_cancelled
        self.poll_interval = seconds(poll_interval, "poll_interval")
        self.min_poll_interval = min(seconds(min_poll_interval, "min_poll_interval"), self.poll_interval)
        if not _templated(self._filter_fields()):
            self.job_filter()  # a bad literal filter fails the DAG import, not a run

    def _filter_fields(self) -> dict[str, Any]:
        fields = {
            "states": self.states,
            "include_unknown_states": self.include_unknown_states,
            "created_before": self.created_before,
            "running_longer_than": self.running_longer_than,
            "name_pattern": self.name_pattern,
            "id_pattern": self.id_pattern,
            "labels": self.labels,
            "job_ids": self.job_ids,
            "max_jobs": self.max_jobs,
        }
        return {name: value for name, value in fields.items() if value is not None}

    def job_filter(self) -> JobFilter:
        """The filter from the (rendered) fields."""
        return JobFilter(**self._filter_fields())

    # -- execution ---------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        from concurrent.futures import ThreadPoolExecutor

        from airflow_ft_provider.hooks.registry import get_hook
        from airflow_ft_provider.task_errors import task_failure

        deadline = time.time() + self.timeout
        try:
            self.is_dry_run = flag(self.is_dry_run, "dry_run")
            job_filter = self.job_filter()
            hook = get_hook(self.conn_id)
        except ValueError as exc:
            raise task_failure(exc, self.conn_id) from None
        if job_filter.labels and not hook.record.has_labels:
            raise AirflowFailException(
                f"Connection {self.conn_id!r} is for {hook.record.title}, whose jobs carry no labels: the "
                f"filter labels={job_filter.labels} could never match. Remove labels, or filter by "
                "name_pattern or id_pattern instead."
            )
        try:
            with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="ft-bulk-cancel") as pool:
                return self._run(context, hook, job_filter, pool, deadline)
        finally:
            hook.close()

    def _run(
        self, context: Context, hook: TuningJobHook, job_filter: JobFilter, pool: ThreadPoolExecutor, deadline: float
    ) -> dict[str, Any]:
        from airflow_ft_provider.task_errors import task_failure

        page_size = hook.record.largest_page
        try:
            now = datetime.now(UTC)
            listed = hook.list_all_jobs(page_size, deadline=deadline, map_pages=pool.map, narrow_to=job_filter)
            selected = self.select(context, hook, job_filter, listed, now)
            unknown = job_filter.unknown(listed, now)
        except TooManyJobsError as exc:
            sample = "\n".join(f"  {j.job_id}  {j.display_name or '-'}  {j.state}" for j in exc.matched[:_SAMPLE_ROWS])
            self.log.error("Matching jobs (first %d of %d):\n%s", _SAMPLE_ROWS, len(exc.matched), sample)
            raise AirflowFailException(str(exc)) from None
        except (TuningJobError, ValueError) as exc:
            raise task_failure(exc, self.conn_id) from None
        self.log.info(
            "%d of %d listed jobs match · %s · %s", len(selected), len(listed), hook.platform, job_filter.describe()
        )
        if self.is_dry_run is True:
            outcomes = [JobOutcome(job, BulkAction.DRY_RUN) for job in selected]
            return self._report(context, hook, job_filter, len(listed), outcomes, unknown, [])

        started = time.monotonic()
        outcomes = self._cancel_all(hook, selected, pool, deadline)
        self.log.info("cancel phase done: %d jobs in %.2f s", len(outcomes), time.monotonic() - started)
        problems: list[Problem] = []
        if self.wait_for_completion:
            pages = 1 if page_size is None else max(1, math.ceil(len(listed) / page_size))
            problems += self._confirm(hook, outcomes, pool, deadline, pages, page_size)
        return self._report(context, hook, job_filter, len(listed), outcomes, unknown, problems)

    def select(
        self, context: Context, hook: TuningJobHook, job_filter: JobFilter, listed: list[TuningJob], now: datetime
    ) -> list[TuningJob]:
        """The listed jobs to cancel: the filter's matches (a subclass may narrow them further)."""
        return job_filter.select(listed, now)

    def _cancel_all(
        self, hook: TuningJobHook, jobs: list[TuningJob], pool: ThreadPoolExecutor, deadline: float
    ) -> list[JobOutcome]:
        from airflow_ft_provider.flows import cancel_flow, run_flow
        from airflow_ft_provider.metrics import CancelOutcome, count_cancel

        unsupported: list[OperationNotSupportedError] = []

        def one(job: TuningJob) -> JobOutcome:
            if unsupported:  # the platform has no cancel: asking again per job cannot help
                count_cancel(CancelOutcome.REFUSED, hook.platform, hook.conn_id)
                return JobOutcome(job, BulkAction.FAILED, error=str(unsupported[0]))
            try:
                return JobOutcome.of(run_flow(hook, cancel_flow(job.job_id, listed=job), deadline=deadline))
            except OperationNotSupportedError as exc:
                unsupported.append(exc)
                return JobOutcome(job, BulkAction.FAILED, error=str(exc))
            except TuningJobError as exc:
                return JobOutcome(job, BulkAction.FAILED, error=str(exc), retryable=exc.retryable)
            except Exception as exc:  # a bug must not leave the other jobs running
                self.log.exception("%s", outcome_line("cancel FAILED unexpectedly", job.platform, job.job_id))
                return JobOutcome(job, BulkAction.FAILED, error=clean(f"{type(exc).__name__}: {exc}", MAX_MESSAGE))

        return list(pool.map(one, jobs))

    def _confirm(
        self,
        hook: TuningJobHook,
        outcomes: list[JobOutcome],
        pool: ThreadPoolExecutor,
        deadline: float,
        pages: int,
        page_size: int | None,
    ) -> list[Problem]:
        """Read until every cancelled job is terminal or gone; returns what kept it from confirming."""
        from airflow_ft_provider.flows import PollSchedule, WaitStatus, confirm_flow, run_flow

        watched = {o.job_id: o.after or o.before for o in outcomes if o.action is not BulkAction.FAILED}
        schedule = PollSchedule(minimum=self.min_poll_interval, maximum=self.poll_interval)
        flow = confirm_flow(watched, deadline=deadline, schedule=schedule, pages_per_listing=pages, page_size=page_size)
        confirmation: Confirmation = run_flow(hook, flow, deadline=deadline, map_calls=pool.map)
        for outcome in outcomes:
            if outcome.job_id in confirmation.gone:
                outcome.error = "the job no longer exists (deleted after the cancel); it spends nothing"
            elif outcome.job_id in watched:
                latest = confirmation.latest[outcome.job_id]
                outcome.after = latest if latest is not outcome.before else outcome.after
        if confirmation.status is WaitStatus.REACHED:
            return []
        if confirmation.status is WaitStatus.TIMEOUT:
            message = (
                f"{confirmation.message} within timeout={self.timeout:g} s; their cancels were sent. "
                "Raise timeout if the platform is slow."
            )
            return [Problem(message, retryable=True)]
        return [Problem(f"Confirmation failed: {confirmation.message}", confirmation.retryable)]

    # -- outcome -----------------------------------------------------------------------
    def _report(
        self,
        context: Context,
        hook: TuningJobHook,
        job_filter: JobFilter,
        listed: int,
        outcomes: list[JobOutcome],
        unknown: list[TuningJob],
        confirmation: list[Problem],
    ) -> dict[str, Any]:
        """Log the table, build the XCom, and fail the task (after pushing it) if anything went wrong."""
        report = BulkReport(
            conn_id=self.conn_id,
            platform=str(hook.platform),
            dry_run=self.is_dry_run is True,
            filter=job_filter.describe(),
            listed=listed,
            outcomes=outcomes,
            unknown=unknown,
            unknown_included=job_filter.include_unknown_states,
        )
        result = report.to_xcom()
        self.log.info("%s", report.headline())
        if outcomes:
            self.log.info("%s", table(outcomes))
        unknown_warning = report.unknown_message()
        if unknown_warning:
            self.log.warning("%s", unknown_warning)
        problems, ended_otherwise = report.problems(confirmation, self.fail_if_not_cancelled)
        if ended_otherwise:
            self.log.warning("%s", ended_otherwise)
        if not problems:
            return result

        if self.do_xcom_push:  # a failing task returns nothing, so push the report first
            context["ti"].xcom_push(key="return_value", value=result)
        message = " ".join([f"Bulk cancel on connection {self.conn_id!r}:", *(p.message for p in problems), _SEE_XCOM])
        # A later try re-lists and touches only jobs still active, so Airflow's retries are
        # safe; they are offered unless every problem is one that repeating cannot change.
        if any(p.retryable for p in problems):
            raise AirflowException(message)
        raise AirflowFailException(message)


#: The earlier name, one letter away from the single-job operator's; kept for existing DAGs.
CancelTuningJobsOperator = BulkCancelTuningJobsOperator


def _templated(value: Any) -> bool:
    """Whether a field value still holds a Jinja expression (so it can only be checked at run time)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_templated(v) for v in value)
    return False
