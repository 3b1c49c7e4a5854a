"""Helpers of the hostile-server tests: bounded calls, contract errors by name, timed DAG runs.

Calls run in a daemon thread that the test waits for no longer than the bound it checks
plus :data:`MARGIN`, so a client that breaks its bound (today's code) fails the test at
once instead of holding the suite; the server's caps then end the stray call.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import airflow_ft_provider.errors as errors
from airflow_ft_provider.jobs import TuningJob

#: How much slower than a quiet machine this one is now (1 to 4, from the load per core when the
#: tests start): margins grow with it, bounds do not. A client that ignores a bound still fails:
#: the hostile answers last many times longer than any margin.
SLACK = min(4.0, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
#: Seconds allowed beyond a bound: machines are noisy, bounds are what the contract promises.
MARGIN = 2.0 * SLACK
#: Per-attempt timeout of the timeout tests (short: the suite sleeps for real).
TIMEOUT = 0.5
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    """How a call ended: a value, an error, or still running when the test stopped waiting."""

    value: Any = None
    error: BaseException | None = None
    elapsed: float = 0.0
    finished: bool = True

    def describe(self) -> str:
        if not self.finished:
            return f"still running after {self.elapsed:.1f} s"
        if self.error is not None:
            return f"{type(self.error).__name__} after {self.elapsed:.2f} s: {str(self.error)[:300]}"
        return f"returned {_show(self.value)} after {self.elapsed:.2f} s"


def _show(value: Any) -> str:
    if isinstance(value, TuningJob):
        return f"a job ({value.job_id[:60]}, {value.state})"
    if isinstance(value, list):
        return f"{len(value)} jobs"
    return repr(value)[:200]


def bounded(fn: Callable[[], Any], limit: float) -> Outcome:
    """Run ``fn`` in a daemon thread; give up waiting after ``limit`` seconds."""
    outcome = Outcome(finished=False, elapsed=limit)
    done = threading.Event()

    def run() -> None:
        started = time.monotonic()
        try:
            value, error = fn(), None
        except BaseException as exc:
            value, error = None, exc
        if not done.is_set():
            outcome.value, outcome.error, outcome.elapsed = value, error, time.monotonic() - started
            outcome.finished = True
            done.set()

    threading.Thread(target=run, daemon=True, name="hostile-call").start()
    if not done.wait(limit):
        done.set()  # a late end is not recorded: the test already judged it
    return outcome


def call(hook: Any, operation: str, *args: Any, mode: str = "sync", **kwargs: Any) -> Any:
    """``hook.<operation>`` (sync) or its async twin in a fresh event loop; listings are collected."""
    if mode == "sync":
        if operation == "list_jobs":
            return list(hook.list_jobs(**kwargs))
        return getattr(hook, operation)(*args, **kwargs)

    async def main() -> Any:
        try:
            if operation == "list_jobs":
                return [job async for job in hook.alist_jobs(**kwargs)]
            return await getattr(hook, f"a{operation}")(*args, **kwargs)
        finally:
            await close_async_clients()

    return asyncio.run(main())


async def close_async_clients() -> None:
    """Close the loop's pooled clients, if the transport has such a pool."""
    from airflow_ft_provider import transport

    closer = getattr(transport, "close_shared_async_clients", None)
    if closer is not None:
        await closer()


def contract_error(name: str) -> type[BaseException] | None:
    """An error class of the contract, or None while ``airflow_ft_provider.errors`` lacks it."""
    found = getattr(errors, name, None)
    return found if isinstance(found, type) else None


def expect_error(outcome: Outcome, name: str, within: float, secret: str | None = None) -> BaseException:
    """The call raised the contract's ``name`` error within ``within`` s (+ MARGIN), without ``secret``."""
    cls = contract_error(name)
    missing = "" if cls else " (not defined in airflow_ft_provider.errors yet)"
    assert outcome.finished and cls is not None and isinstance(outcome.error, cls), (
        f"expected {name}{missing} within {within} s, got: {outcome.describe()}"
    )
    assert outcome.elapsed <= within + MARGIN, f"{name} came too late: {outcome.describe()} (bound {within} s)"
    assert outcome.error is not None
    if secret is not None:
        assert secret not in str(outcome.error) and secret not in repr(outcome.error.args)
    return outcome.error


def expect_value(outcome: Outcome, within: float) -> Any:
    """The call returned within ``within`` s (+ MARGIN)."""
    assert outcome.finished and outcome.error is None, (
        f"expected an answer within {within} s, got: {outcome.describe()}"
    )
    assert outcome.elapsed <= within + MARGIN, f"answer came too late: {outcome.describe()} (bound {within} s)"
    return outcome.value


def expect_requests(server: Any, expected: int, operation: str | None = None, why: str = "") -> None:
    """The server was asked exactly ``expected`` times (of ``operation``, if given)."""
    count = server.count(operation)
    what = f"{operation} requests" if operation else "requests"
    assert count == expected, f"{count} {what}, expected {expected}{': ' + why if why else ''}"


def run(fn: Callable[[], Any], within: float) -> Outcome:
    """``bounded`` with the test's bound plus the margin (and a little for thread start-up)."""
    return bounded(fn, within + MARGIN + 0.5)


# -- DAG runs -----------------------------------------------------------------------------------
WARM_UP_DAG = """
from airflow.sdk import DAG, task

with DAG("hostile_warm_up", schedule=None) as dag:
    task(lambda: None, task_id="noop")()
"""
_warm = False


def warm_up() -> None:
    """Set up the database and run a no-op DAG once, so that no timed run pays Airflow's one-time
    costs (call it before scripting a server: a hostile window must not pass during it)."""
    global _warm
    from airflow_ft_provider.testing.dags import run_dag_source

    if not _warm:
        run_dag_source("hostile_warm_up", WARM_UP_DAG)
        _warm = True


def run_dag_timed(dag_id: str, source: str) -> tuple[Any, float]:
    """``airflow_ft_provider.testing.dags.run_dag_source`` with its wall time, after :func:`warm_up`."""
    from airflow_ft_provider.testing.dags import run_dag_source

    warm_up()
    started = time.monotonic()
    result = run_dag_source(dag_id, source)
    return result, time.monotonic() - started


# -- memory, measured in a child process --------------------------------------------------------
#: Peak RSS growth allowed beyond ``max_response_mb``: buffers, decoders, Python's own overhead.
RSS_MARGIN_MB = 40

#: A Python that imports Airflow once, then forks a fresh child per measurement (imports take
#: seconds; a fork, milliseconds). Each line on stdin is a spec; each answer a RESULT line.
PROBE = """
import json, os, resource, sys
import airflow.providers.common.compat.sdk  # Airflow itself, imported once before the forks
from airflow_ft_provider.hooks.registry import get_hook, hook_class_for_platform
from tests.hostile.support import measured_call

for platform in ("openai", "vertex_ai"):  # and the hooks a measurement uses
    hook_class_for_platform(platform)

def limit_heap(extra_mb):
    # A broken client must fail here, not take the machine down with a bomb: cap the heap.
    with open("/proc/self/status") as status:
        data_kb = next(int(line.split()[1]) for line in status if line.startswith("VmData:"))
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, ((data_kb << 10) + (extra_mb << 20), hard))

print("READY", flush=True)
for line in sys.stdin:
    spec = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ[f"AIRFLOW_CONN_{spec['conn_id'].upper()}"] = json.dumps(spec["conn"])
        report = measured_call(get_hook(spec["conn_id"]), spec, limit_heap)
        print("RESULT " + json.dumps(report), flush=True)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        print("RESULT " + json.dumps({"error": f"child ended with status {status}"}), flush=True)
"""


def measured_call(hook: Any, spec: dict[str, Any], limit_heap: Callable[[int], None]) -> dict[str, Any]:
    """In the child: a warm-up get (client, connection, imports), then the measured get, in one
    event loop when async; peak RSS (``ru_maxrss``, KiB) before and after the measured one."""
    import resource

    job_id = spec["job_id"]
    report: dict[str, Any] = {"error": None}

    def peak_kb() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def before() -> float:
        report["before_kb"] = peak_kb()
        limit_heap(spec["heap_limit_mb"])
        return time.monotonic()

    def after(started: float, exc: BaseException | None) -> None:
        report["elapsed"] = time.monotonic() - started
        report["after_kb"] = peak_kb()
        if exc is not None:
            report["error"], report["message"] = type(exc).__name__, str(exc)[:300]

    if spec["mode"] == "sync":
        hook.get_job(job_id)
        started, error = before(), None
        try:
            hook.get_job(job_id)
        except BaseException as exc:
            error = exc
        after(started, error)
        return report

    async def main() -> None:
        await hook.aget_job(job_id)
        started, error = before(), None
        try:
            await hook.aget_job(job_id)
        except BaseException as exc:
            error = exc
        after(started, error)
        await close_async_clients()

    asyncio.run(main())
    return report


class MemoryProbe:
    """The :data:`PROBE` process: ``measure()`` runs one ``get_job`` measurement in a fresh fork."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PROBE],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self._until("READY")

    def _until(self, prefix: str) -> str:
        for line in self.stdout:
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()
        raise AssertionError(f"the memory probe exited ({self.process.wait()}) before saying {prefix}")

    def measure(self, conn_id: str, conn: dict[str, Any], job_id: str, *, mode: str) -> dict[str, Any]:
        """``get_job`` twice in a fork: the report of the second (its error, time and RSS growth)."""
        spec = {"conn_id": conn_id, "conn": conn, "job_id": job_id, "mode": mode, "heap_limit_mb": 1024}
        self.stdin.write(json.dumps(spec) + "\n")
        self.stdin.flush()
        report = json.loads(self._until("RESULT "))
        assert "after_kb" in report, f"the measurement did not finish: {report}"
        report["growth_mb"] = (report["after_kb"] - report["before_kb"]) / 1024
        return report

    def close(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=30)
