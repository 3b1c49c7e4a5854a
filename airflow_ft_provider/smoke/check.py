"""The smoke check: one connection against its real platform, reading only, before production.

It reads the connection the way the hooks do (``hooks.registry.get_hook``: environment variables,
secrets backends, the metadata database), lists one page of jobs and reads one job through the
same transport every operator uses, and reports what the platform answered. It cannot cancel:
every request it makes is a listing or a read (:func:`_read_only`), and the hook's own cancel is
never called.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.hooks.registry import get_hook
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Operation, Page
from airflow_ft_provider.server_text import clean
from airflow_ft_provider.smoke.report import CheckReport, Exchange, Failure
from airflow_ft_provider.task_errors import task_failure

if TYPE_CHECKING:
    import httpx

    from airflow_ft_provider.hooks.base import TuningJobHook
    from airflow_ft_provider.transport import SyncTransport

__all__ = ["CHECK_SECONDS", "PAGE_SIZE", "run_check"]

#: The only operations the check sends.
READ_OPERATIONS = frozenset({Operation.LIST, Operation.GET})
#: Jobs asked for on the one listed page (the platform's largest page, if smaller).
PAGE_SIZE = 10
#: The whole check ends within this time, retries included.
CHECK_SECONDS = 120.0
#: Answer headers about the platform's rate limits (``x-ratelimit-*``, ``retry-after(-ms)``...).
_RATE_LIMIT_WORDS = ("ratelimit", "rate-limit", "retry-after")
#: At most this many unread field names are reported.
MAX_FIELDS = 30


def run_check(conn_id: str, job_id: str | None = None) -> CheckReport:
    """List one page of ``conn_id``'s jobs and read ``job_id`` (else the first listed); never cancel."""
    report = CheckReport(conn_id)
    step = "reading the connection"
    hook: TuningJobHook | None = None
    try:
        hook = get_hook(conn_id)
        setup = hook.prepare()
        report.platform, report.base_url, report.credential_kind = (
            hook.platform,
            setup.dialect.base_url,
            setup.credential_kind,
        )
        transport = hook.get_conn()
        recorder = _Recorder(report)
        recorder.attach(transport.client)
        deadline = time.time() + CHECK_SECONDS
        step = "listing jobs"
        listed = _first_page(transport, recorder, report, deadline)
        target = job_id or (listed[0].job_id if listed else None)
        seen = list(listed)
        if target:
            step = "reading a job"
            recorder.expect(_read_only(transport.dialect.get_request(target)))
            job = hook.get_job(target, deadline=deadline)
            report.job_id, report.job_state, report.job_native_state = job.job_id, job.state.value, job.native_state
            seen.append(job)
        report.unknown_states = list(dict.fromkeys(j.native_state for j in seen if j.state is TuningJobState.UNKNOWN))
    except AirflowNotFoundException:
        report.failure = _not_defined(conn_id, step)
    except TuningJobError as exc:
        report.failure = Failure(step, type(exc).__name__, exc.message, str(task_failure(exc, conn_id)), exc.retryable)
    finally:
        if hook is not None:
            hook.close()
    return report


def _read_only(request: ApiRequest) -> ApiRequest:
    """``request``, if it only reads: the check refuses to send anything else."""
    if request.operation not in READ_OPERATIONS:
        raise RuntimeError(f"The smoke check sends only reads, not {request.operation.value} requests.")
    return request


def _first_page(transport: SyncTransport, recorder: _Recorder, report: CheckReport, deadline: float) -> list[TuningJob]:
    """The first page of the listing, parsed as every listing is (``Dialect.parse_page``); its
    records are also read once more to see which of their fields the dialect never looks at."""
    dialect = transport.dialect
    request = recorder.expect(_read_only(dialect.list_request(None, PAGE_SIZE)))

    def parse(answer: ApiResponse) -> tuple[ApiResponse, Page]:
        # Parsed inside the call, as the hooks' listings are: a malformed answer is retried alike.
        return answer, dialect.parse_page(answer, request)

    answer, page = transport.call(request, parse, deadline=deadline)
    jobs = page.jobs
    unread: set[str] = set()
    for item in dialect.read_page(answer, request).items:
        if isinstance(item, dict):
            watched = _ReadKeys(item)
            dialect.job_from_json(watched, answer)
            unread.update(watched.unread())
    report.listed = len(jobs)
    report.native_states = dict(Counter(job.native_state for job in jobs))
    report.unread_fields = sorted(clean(name, 60) for name in unread)[:MAX_FIELDS]
    return jobs


def _not_defined(conn_id: str, step: str) -> Failure:
    hint = (
        f"Connection {conn_id!r} is not defined where Airflow looks for it from here: environment "
        f"variables (AIRFLOW_CONN_{conn_id.upper()}), the configured secrets backends, or the metadata "
        "database. Run the check where Airflow runs, with the same configuration, or define the connection."
    )
    return Failure(step, "AirflowNotFoundException", f"The conn_id {conn_id!r} isn't defined", hint)


class _ReadKeys(dict[str, Any]):
    """A job record that notes which of its top-level fields the dialect reads."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(item)
        self._read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._read.add(key)
        return super().__contains__(key)

    def unread(self) -> set[str]:
        return set(self) - self._read


class _Recorder:
    """Notes every HTTP request the check's client sends and how it was answered (httpx event hooks)."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        #: The platform request now being sent; any other URL is the auth's (a token exchange).
        self._expected: ApiRequest | None = None
        self._open: dict[int, tuple[Exchange, float]] = {}

    def attach(self, client: httpx.Client) -> None:
        hooks: dict[str, list[Callable[..., Any]]] = client.event_hooks
        client.event_hooks = {
            "request": [*hooks.get("request", []), self.on_request],
            "response": [*hooks.get("response", []), self.on_response],
        }

    def expect(self, request: ApiRequest) -> ApiRequest:
        self._expected = request
        return request

    def on_request(self, request: httpx.Request) -> None:
        url = urlunsplit(urlsplit(str(request.url))._replace(query=""))
        expected = self._expected
        ours = expected is not None and url == urlunsplit(urlsplit(expected.url)._replace(query=""))
        purpose = expected.operation.value if ours and expected is not None else "credential"
        exchange = Exchange(purpose, request.method, clean(url, 300))
        self.report.exchanges.append(exchange)
        self._open[id(request)] = (exchange, time.monotonic())

    def on_response(self, response: httpx.Response) -> None:
        found = self._open.pop(id(response.request), None)
        if found is None:
            return
        exchange, started = found
        exchange.status = response.status_code
        exchange.seconds = round(time.monotonic() - started, 4)
        exchange.rate_limit_headers = {
            clean(name.lower(), 60): clean(value, 120)
            for name, value in response.headers.items()
            if any(word in name.lower() for word in _RATE_LIMIT_WORDS)
        }
