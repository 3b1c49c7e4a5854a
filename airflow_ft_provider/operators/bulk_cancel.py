"""CancelTuningJobsOperator: cancel every active job of a connection that matches a filter.

It is the google-genai "cancel all running jobs" loop as one task, made fast and safe:
one listing stands in for the per-job reads, cancels go out in parallel under an
adaptive limit, ends are confirmed by re-listing (one request per page for all jobs),
and a ``max_jobs`` cap stops a filter typo from cancelling a whole account.

Only Airflow and this package's light modules are imported at module level (DAG files
import this at every parse); hooks, httpx, dialects and threads load inside ``execute``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_ft_provider.errors import (
    JobNotCancellableError,
    JobNotFoundError,
    OperationNotSupportedError,
    RateLimitedError,
    TuningJobError,
)
from airflow_ft_provider.job_filter import DEFAULT_MAX_JOBS, JobFilter, TooManyJobsError
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from airflow.providers.common.compat.sdk import Context

    from airflow_ft_provider.hooks.base import TuningJobHook
    from airflow_ft_provider.platforms.base import Dialect, Page

#: Page sizes above the dialects' defaults, where the platform takes more: fewer list
#: requests for the listing and each confirmation round. The other dialects already ask
#: for their largest page (DashScope, OpenAI: 100; Together does not page).
LARGEST_PAGE: Mapping[Platform, int] = {Platform.VERTEX_AI: 1000, Platform.GEMINI: 1000}
#: Passes over the cancels: the later ones retry only those still rate-limited after the hook's
#: own retries, so a long throttle costs time, not jobs. (An outage that outlasted the hook's
#: backoff is not retried at once; the task's retries are the place for it.)
CANCEL_ROUNDS = 3
#: Transient failures of the confirmation listing tolerated in a row (after the hook's retries).
MAX_TRANSIENT_ERRORS = 5
_SEE_XCOM = "Each job's outcome is in the task's XCom (return_value) and in the table above."
#: Rows of matching jobs shown when ``max_jobs`` refuses a run.
_SAMPLE_ROWS = 20


class BulkAction(StrEnum):
    """What happened to one selected job."""

    CANCEL_SENT = "cancel_sent"
    ALREADY_CANCELLING = "already_cancelling"
    ALREADY_ENDED = "already_ended"
    DRY_RUN = "dry_run"
    FAILED = "failed"


@dataclass
class JobOutcome:
    """One selected job: as listed, what was done, and the latest state read since."""

    before: TuningJob
    action: BulkAction
    #: The latest read after the action (cancel answer, re-listing, get); None if none yet.
    after: TuningJob | None = None
    error: str | None = None
    #: For FAILED: whether a later run could succeed (an outage or rate limit, not a refusal).
    retryable: bool = False
    #: For FAILED: the platform was still throttling when the hook gave up.
    rate_limited: bool = False

    @property
    def job_id(self) -> str:
        return self.before.job_id

    @property
    def settled(self) -> bool:
        """Nothing left to wait for: ended, gone (``error`` says so), failed or a dry run."""
        if self.action in (BulkAction.FAILED, BulkAction.DRY_RUN) or self.error is not None:
            return True
        return self.after is not None and self.after.is_terminal

    @property
    def ended_otherwise(self) -> bool:
        """Ended, but not CANCELLED: it finished before (or despite) the cancel."""
        return (
            self.action is not BulkAction.FAILED
            and self.after is not None
            and self.after.is_terminal
            and self.after.state is not TuningJobState.CANCELLED
        )

    def to_xcom(self) -> dict[str, str | None]:
        return {
            "job_id": self.job_id,
            "display_name": self.before.display_name,
            "state_before": self.before.state.value,
            "state_after": self.after.state.value if self.after is not None else None,
            "action": self.action.value,
            "error": self.error,
        }


class Throttle:
    """Back-pressure shared by the worker threads: one platform, one budget.

    The transport retries each 429 after the platform's hint, but alone it lets 32 workers
    spend their retries against a throttled platform at once and exhaust them. So every
    HTTP attempt (retries included) passes through here, via the client's event hooks:

    - a 429 pauses *all* workers for the platform's hint, not just the one that got it;
    - attempts in flight are capped by a limit that halves on a 429 and regrows by about
      one per round of successes (TCP's AIMD). A 429 to an attempt sent before the last
      cut belongs to the same burst and does not cut again.

    Sync httpx sends one request at a time per thread, so each thread holds at most one
    place; a place left held by a failed attempt (no response, so no hook) is reused by
    the thread's next attempt and freed by :meth:`guard` at the end of its call.
    """

    _SENT_AT = "airflow_ft_provider.sent_at"

    def __init__(
        self,
        maximum: int,
        retry_hint: Callable[[httpx.Response], float | None] = lambda response: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.cuts = 0
        self._retry_hint = retry_hint
        self._clock = clock
        self._active = 0
        self._paused_until = float("-inf")
        self._last_cut = float("-inf")
        self._cond = threading.Condition()
        self._local = threading.local()

    def on_request(self, request: httpx.Request) -> None:
        """Wait out a pause and for a free place, then note when the attempt left."""
        holding = getattr(self._local, "holding", False)
        with self._cond:
            while True:
                pause = self._paused_until - self._clock()
                if pause > 0:
                    self._cond.wait(pause)
                elif holding or self._active < int(self.limit):
                    break
                else:
                    self._cond.wait()
            if not holding:
                self._active += 1
                self._local.holding = True
            request.extensions[self._SENT_AT] = self._clock()

    def on_response(self, response: httpx.Response) -> None:
        hint = self._retry_hint(response) if response.status_code == 429 else None
        with self._cond:
            self._release()
            now = self._clock()
            if response.status_code == 429:
                if hint:
                    self._paused_until = max(self._paused_until, now + hint)
                if response.request.extensions.get(self._SENT_AT, now) > self._last_cut:
                    self.limit = max(1.0, self.limit / 2)
                    self._last_cut = now
                    self.cuts += 1
            elif response.status_code < 400:
                self.limit = min(float(self.maximum), self.limit + 1 / self.limit)
            self._cond.notify_all()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Around one hook call: frees the thread's place if an attempt ended without a response."""
        try:
            yield
        finally:
            with self._cond:
                self._release()
                self._cond.notify_all()

    def _release(self) -> None:
        if getattr(self._local, "holding", False):
            self._active -= 1
            self._local.holding = False

    def attach(self, client: httpx.Client) -> None:
        """Watch every request of ``client`` (the hook's pooled client)."""
        hooks = client.event_hooks
        client.event_hooks = {
            "request": [*hooks.get("request", []), self.on_request],
            "response": [*hooks.get("response", []), self.on_response],
        }


def retry_hint(dialect: Dialect) -> Callable[[httpx.Response], float | None]:
    """Read a 429's wait the way the dialect does (headers, or Google's RetryInfo in the body)."""

    from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Operation

    def hint(response: httpx.Response) -> float | None:
        response.read()
        request = ApiRequest(Operation.CANCEL, response.request.method, str(response.request.url))
        answer = ApiResponse(response.status_code, response.headers, response.content)
        return getattr(dialect.parse_error(answer, request), "retry_after", None)

    return hint


class CancelTuningJobsOperator(BaseOperator):
    """Cancel every active fine-tuning job of a connection that matches a filter, and confirm the ends.

    1. Lists all jobs once (the listing is the read: no per-job GET before cancelling) and
       keeps those matching the filter (see :class:`~airflow_ft_provider.job_filter.JobFilter`).
       More than ``max_jobs`` matches fail the task before anything is sent.
    2. Sends cancel to each match, ``max_concurrency`` at a time; the limit halves while the
       platform answers 429 and grows back after. Jobs listed as CANCELLING get nothing more;
       a refusal because the job just ended or is cancelling counts as done (re-read once).
       One failing job never stops the others.
    3. With ``wait_for_completion``, re-lists on a backing-off schedule until every cancelled
       job is terminal (jobs the listing no longer shows are read one by one), or ``timeout``.

    Returns (XCom, JSON, no secrets) the filter, counts and one record per job:
    ``{job_id, display_name, state_before, state_after, action, error}`` with ``action`` one of
    ``cancel_sent``, ``already_cancelling``, ``already_ended``, ``dry_run``, ``failed``. The task
    fails after pushing it if a cancel failed, a job was not confirmed in time, or (with
    ``fail_if_not_cancelled``) a job ended other than CANCELLED. On the Gemini API, which
    cannot cancel tuning, every job is ``failed`` with the platform's message.

    :param conn_id: connection of one of the provider's types; it decides the platform (templated).
    :param states: states to select (templated); default QUEUED, PENDING, RUNNING, PAUSED.
    :param created_before: only jobs created before this aware datetime / ISO string (templated).
    :param running_longer_than: only jobs started longer ago than this timedelta / seconds (templated).
    :param name_pattern: glob over the display name, or ``re:<regex>`` (templated).
    :param id_pattern: glob over the job id, or ``re:<regex>`` (templated).
    :param labels: only jobs carrying all these labels (Vertex AI labels, OpenAI metadata) (templated).
    :param max_jobs: refuse to cancel more jobs than this (templated); raise it explicitly for big clean-ups.
    :param dry_run: list what would be cancelled and send nothing.
    :param max_concurrency: cancels in flight at most (default 32; halves on the first 429).
    :param wait_for_completion: confirm every cancelled job ended (default True).
    :param timeout: seconds for the whole confirmation.
    :param fail_if_not_cancelled: fail when a job ended SUCCEEDED/FAILED/EXPIRED instead of CANCELLED.
    :param poll_interval: the longest pause between two confirmation listings.
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
        "max_jobs",
    )
    ui_color = "#f4c7c3"

    def __init__(
        self,
        *,
        conn_id: str,
        states: Sequence[str] | str | None = None,
        created_before: datetime | str | None = None,
        running_longer_than: Any = None,
        name_pattern: str | None = None,
        id_pattern: str | None = None,
        labels: Mapping[str, str] | None = None,
        max_jobs: int | str = DEFAULT_MAX_JOBS,
        dry_run: bool = False,
        max_concurrency: int = 32,
        wait_for_completion: bool = True,
        timeout: float = 60 * 60,
        fail_if_not_cancelled: bool = False,
        poll_interval: float = 30.0,
        min_poll_interval: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.states = states
        self.created_before = created_before
        self.running_longer_than = running_longer_than
        self.name_pattern = name_pattern
        self.id_pattern = id_pattern
        self.labels = labels
        self.max_jobs = max_jobs
        # Not `self.dry_run`: that name is a BaseOperator method.
        self.is_dry_run = dry_run
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency={max_concurrency} must be at least 1.")
        if timeout <= 0 or poll_interval <= 0 or min_poll_interval <= 0:
            raise ValueError("timeout, poll_interval and min_poll_interval must be positive numbers of seconds.")
        self.max_concurrency = max_concurrency
        self.wait_for_completion = wait_for_completion
        self.timeout = timeout
        self.fail_if_not_cancelled = fail_if_not_cancelled
        self.poll_interval = poll_interval
        self.min_poll_interval = min(min_poll_interval, poll_interval)
        if not _templated(self._filter_fields()):
            self.job_filter()  # a bad literal filter fails the DAG import, not a run

    def _filter_fields(self) -> dict[str, Any]:
        fields = {
            "states": self.states,
            "created_before": self.created_before,
            "running_longer_than": self.running_longer_than,
            "name_pattern": self.name_pattern,
            "id_pattern": self.id_pattern,
            "labels": self.labels,
            "max_jobs": self.max_jobs,
        }
        return {name: value for name, value in fields.items() if value is not None}

    def job_filter(self) -> JobFilter:
        """The filter from the (rendered) fields."""
        return JobFilter(**self._filter_fields())

    # -- execution ---------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_ft_provider.hooks.registry import get_hook
        from airflow_ft_provider.task_errors import task_failure

        try:
            job_filter = self.job_filter()
            hook = get_hook(self.conn_id)
        except ValueError as exc:
            raise task_failure(exc, self.conn_id) from exc
        try:
            return self._run(context, hook, job_filter)
        finally:
            hook.close()

    def _run(self, context: Context, hook: TuningJobHook, job_filter: JobFilter) -> dict[str, Any]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="ft-bulk-cancel") as pool:
            return self._run_on(pool, context, hook, job_filter)

    def _run_on(
        self, pool: ThreadPoolExecutor, context: Context, hook: TuningJobHook, job_filter: JobFilter
    ) -> dict[str, Any]:
        from airflow_ft_provider.task_errors import task_failure

        try:
            now = datetime.now(UTC)
            # The first page in this thread (reads the connection, opens the client); numbered
            # pages after it side by side on the workers.
            listed = hook.list_all_jobs(LARGEST_PAGE.get(hook.platform), pool.map)
            selected = job_filter.select(listed, now)
        except TooManyJobsError as exc:
            sample = "\n".join(f"  {j.job_id}  {j.display_name or '-'}  {j.state}" for j in exc.matched[:_SAMPLE_ROWS])
            self.log.error("Matching jobs (first %d of %d):\n%s", _SAMPLE_ROWS, len(exc.matched), sample)
            raise AirflowFailException(str(exc)) from None
        except (TuningJobError, ValueError) as exc:
            raise task_failure(exc, self.conn_id) from exc
        self.log.info(
            "%s: %d of %d listed jobs match %s.", hook.platform, len(selected), len(listed), job_filter.describe()
        )
        if self.is_dry_run:
            outcomes = [JobOutcome(job, BulkAction.DRY_RUN) for job in selected]
            return self._report(context, hook, job_filter, len(listed), outcomes, [])

        throttle = Throttle(self.max_concurrency, retry_hint(hook.setup.dialect))
        throttle.attach(hook.get_conn().client)
        problems: list[Problem] = []
        started = time.monotonic()
        outcomes = self._cancel_all(hook, selected, pool, throttle)
        self.log.info(
            "Cancel phase: %d jobs in %.2f s (concurrency now %d of %d, %d cut(s) for 429).",
            len(outcomes),
            time.monotonic() - started,
            int(throttle.limit),
            self.max_concurrency,
            throttle.cuts,
        )
        if self.wait_for_completion:
            problems += self._confirm(hook, outcomes, pool, throttle, deadline=time.monotonic() + self.timeout)
        return self._report(context, hook, job_filter, len(listed), outcomes, problems)

    # -- cancel ------------------------------------------------------------------------
    def _cancel_all(
        self, hook: TuningJobHook, jobs: list[TuningJob], pool: ThreadPoolExecutor, throttle: Throttle
    ) -> list[JobOutcome]:
        unsupported: list[OperationNotSupportedError] = []

        def one(job: TuningJob) -> JobOutcome:
            if unsupported:  # the platform has no cancel: asking again per job cannot help
                return JobOutcome(job, BulkAction.FAILED, error=str(unsupported[0]))
            try:
                with throttle.guard():
                    return _cancel_listed(hook, job)
            except OperationNotSupportedError as exc:
                unsupported.append(exc)
                return JobOutcome(job, BulkAction.FAILED, error=str(exc))
            except RateLimitedError as exc:
                return JobOutcome(job, BulkAction.FAILED, error=str(exc), retryable=True, rate_limited=True)
            except TuningJobError as exc:
                return JobOutcome(job, BulkAction.FAILED, error=str(exc), retryable=exc.retryable)
            except Exception as exc:  # a bug must not leave the other jobs running
                self.log.exception("Cancelling %s failed unexpectedly", job.job_id)
                return JobOutcome(job, BulkAction.FAILED, error=f"{type(exc).__name__}: {exc}")

        outcomes: dict[str, JobOutcome] = {}
        todo = jobs
        for attempt in range(1, CANCEL_ROUNDS + 1):
            for outcome in pool.map(one, todo):
                outcomes[outcome.job_id] = outcome
            todo = [o.before for o in outcomes.values() if o.rate_limited]
            if not todo or attempt == CANCEL_ROUNDS:
                break
            self.log.warning(
                "%d cancel(s) still rate-limited after the hook's retries; another round (%d of %d).",
                len(todo),
                attempt + 1,
                CANCEL_ROUNDS,
            )
        return [outcomes[job.job_id] for job in jobs]

    # -- confirm -----------------------------------------------------------------------
    def _confirm(
        self,
        hook: TuningJobHook,
        outcomes: list[JobOutcome],
        pool: ThreadPoolExecutor,
        throttle: Throttle,
        deadline: float,
    ) -> list[Problem]:
        """Re-list until every cancelled job is terminal; returns what kept it from confirming."""
        from airflow_ft_provider.flows import PollSchedule

        schedule = PollSchedule(minimum=self.min_poll_interval, maximum=self.poll_interval)
        by_id = {outcome.job_id: outcome for outcome in outcomes}

        def guarded(fetch: Callable[[str], Page], tokens: Sequence[str]) -> Iterator[Page]:
            def one(token: str) -> Page:
                with throttle.guard():
                    return fetch(token)

            return pool.map(one, tokens)

        started = time.monotonic()
        rounds = transient = 0
        while pending := [o for o in outcomes if not o.settled]:
            now = time.monotonic()
            if now >= deadline:
                message = (
                    f"{len(pending)} job(s) not confirmed ended within timeout={self.timeout:g} s (still "
                    f"{_state_counts(pending)}); their cancels were sent. Raise timeout if the platform is slow."
                )
                return [Problem(message, retryable=True)]
            time.sleep(min(schedule.interval(now - started), deadline - now))
            rounds += 1
            try:
                listed = {job.job_id: job for job in hook.list_all_jobs(LARGEST_PAGE.get(hook.platform), guarded)}
            except TuningJobError as exc:
                transient += 1
                if not exc.retryable or transient > MAX_TRANSIENT_ERRORS:
                    return [Problem(f"Confirmation stopped after {rounds} listing(s): {exc}", exc.retryable)]
                self.log.warning("Listing to confirm failed (%d in a row): %s", transient, exc)
                continue
            transient = 0
            for job_id, job in listed.items():
                if job_id in by_id:
                    by_id[job_id].after = job
            unlisted = [o for o in pending if o.job_id not in listed]
            if unlisted:
                self.log.info("%d job(s) no longer listed; reading them one by one.", len(unlisted))
                list(pool.map(lambda outcome: self._reread(hook, outcome, throttle), unlisted))
            self.log.info("Confirmation round %d: %s", rounds, _state_counts(outcomes))
        return []

    def _reread(self, hook: TuningJobHook, outcome: JobOutcome, throttle: Throttle) -> None:
        try:
            with throttle.guard():
                outcome.after = hook.get_job(outcome.job_id)
        except JobNotFoundError:
            outcome.error = "the job no longer exists (deleted after the cancel); it spends nothing"
        except TuningJobError as exc:  # read again next round
            self.log.warning("Reading %s to confirm failed: %s", outcome.job_id, exc)

    # -- outcome -----------------------------------------------------------------------
    def _report(
        self,
        context: Context,
        hook: TuningJobHook,
        job_filter: JobFilter,
        listed: int,
        outcomes: list[JobOutcome],
        problems: list[Problem],
    ) -> dict[str, Any]:
        """Log the table, build the XCom, and fail the task (after pushing it) if anything went wrong."""
        actions = Counter(o.action.value for o in outcomes)
        result = {
            "conn_id": self.conn_id,
            "platform": hook.platform.value,
            "dry_run": self.is_dry_run,
            "filter": job_filter.describe(),
            "listed": listed,
            "matched": len(outcomes),
            "counts": {action.value: actions.get(action.value, 0) for action in BulkAction},
            "states_after": dict(Counter(o.after.state.value for o in outcomes if o.after is not None)),
            "jobs": [o.to_xcom() for o in outcomes],
        }
        if outcomes:
            self.log.info("%s jobs matching %s:\n%s", hook.platform, job_filter.describe(), _table(outcomes))

        failed = [o for o in outcomes if o.action is BulkAction.FAILED]
        if failed:
            problems.insert(
                0,
                Problem(
                    f"{len(failed)} of {len(outcomes)} cancel(s) failed; first: {failed[0].error}.",
                    retryable=any(o.retryable for o in failed),
                ),
            )
        not_cancelled = [o for o in outcomes if o.ended_otherwise]
        if not_cancelled:
            message = (
                f"{len(not_cancelled)} job(s) ended {_state_counts(not_cancelled)} instead of CANCELLED: "
                "they finished before the cancellation took effect."
            )
            if self.fail_if_not_cancelled:
                problems.append(Problem(message, retryable=False))
            else:
                self.log.warning("%s", message)
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


@dataclass(frozen=True)
class Problem:
    """Why the task fails, and whether a later try could do better."""

    message: str
    retryable: bool


def _cancel_listed(hook: TuningJobHook, job: TuningJob) -> JobOutcome:
    """``cancel_flow`` with the listing as its read: cancel unless already cancelling.

    The listing may be stale, so a refusal is checked with one read: ended or cancelling
    counts as done (and says so); still active means the refusal stands.
    """
    if job.state is TuningJobState.CANCELLING:
        return JobOutcome(job, BulkAction.ALREADY_CANCELLING, after=job)
    try:
        return JobOutcome(job, BulkAction.CANCEL_SENT, after=hook.cancel_job(job.job_id))
    except JobNotCancellableError:
        current = hook.get_job(job.job_id)
        if current.is_terminal:
            return JobOutcome(job, BulkAction.ALREADY_ENDED, after=current)
        if current.state is TuningJobState.CANCELLING:
            return JobOutcome(job, BulkAction.ALREADY_CANCELLING, after=current)
        raise


def _templated(value: Any) -> bool:
    """Whether a field value still holds a Jinja expression (so it can only be checked at run time)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_templated(v) for v in value)
    return False


def _state_counts(outcomes: list[JobOutcome]) -> str:
    counts = Counter((o.after or o.before).state.value for o in outcomes)
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def _table(outcomes: Sequence[JobOutcome]) -> str:
    """A fixed-width table for the task log; the error column is last and unpadded."""
    lines = [("job_id", "display_name", "before", "after", "action", "error")]
    for o in outcomes:
        after = o.after.state.value if o.after is not None else "-"
        name = _clip(o.before.display_name or "-")
        lines.append((_clip(o.job_id), name, o.before.state.value, after, o.action.value, o.error or ""))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[5]]).rstrip()
        for line in lines
    )


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
