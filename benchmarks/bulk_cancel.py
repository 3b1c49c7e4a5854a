"""Bulk cancel: the provider's ``BulkCancelTuningJobsOperator`` against each platform SDK's loop.

Per platform (Vertex AI, Together, DashScope), ``--jobs`` running jobs on the emulator (in
its own process) with ``--latency`` added to every answer and a token-bucket rate limit:

- **SDK loop**, what the platforms document: list every job, cancel the active ones one by
  one (google-genai ``client.tunings.list()`` + ``cancel``; together ``fine_tuning.list()`` +
  ``cancel``; dashscope ``FineTunes.list`` paging + ``cancel``), with each SDK's default
  retries. A failed cancel is counted, not hidden (a user's loop would stop there).
- **Provider**: ``BulkCancelTuningJobsOperator(task_id=..., conn_id=...).execute(context)`` with
  default settings, which lists, cancels 32 at a time under its adaptive limit, and confirms
  the ends. ``execute()`` is called directly rather than through ``dag.test()``: the DAG run's
  fixed cost (database, serialization: seconds) is the same whatever the operator does and
  is not what a user waits for in a bulk clean-up.

Each side runs in worker processes (the SDK loops of the three platforms at once, as they
are latency-bound; the provider one platform at a time, as it needs CPU); every phase starts
from an emptied emulator. The benchmark then reads the emulator's request log (how many requests,
how many 429s, whether each 429 was followed by a successful retry of the same request) and
checks every job's state. Cancellations take effect at once (``cancel_s=0``): what is
compared is getting 1,000 cancels accepted, not the platforms' own speed.

Run alone: ``python -m benchmarks.bulk_cancel [--quick]``.
"""

from __future__ import annotations

import argparse
import logging
import math
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from benchmarks.common import (
    Row,
    emit,
    emulator_process,
    finish_worker,
    fmt_ratio,
    fmt_s,
    prepare_env,
    print_rows,
    start_worker,
    verdict,
)

PLATFORMS = ("vertex_ai", "together", "dashscope")
SDK_NAMES = {"vertex_ai": "google-genai", "together": "together", "dashscope": "dashscope"}
TARGET_RATIO = 10.0
VERTEX_PROJECT = "bench-bulk"


@dataclass(frozen=True)
class Limit:
    """A token bucket on the emulator: ``per_second`` refill, ``burst`` size."""

    per_second: float
    burst: float

    @classmethod
    def parse(cls, text: str) -> Limit:
        rate, _, burst = text.partition(":")
        return cls(float(rate), float(burst or rate))

    def __str__(self) -> str:
        return f"{self.per_second:g}/s burst {self.burst:g}"


def cpu_seconds() -> float:
    """CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the SDK loops (worker side) -------------------------------------------------------------


def sdk_loop(platform: str, url: str) -> dict[str, Any]:
    """The documented "cancel every running job" loop of ``platform``'s SDK; returns what happened."""
    from airflow_ft_provider.testing import RemoteEmulator

    remote = RemoteEmulator(url)
    failures: Counter[str] = Counter()
    sample: list[str] = []
    cancelled = 0
    import_sdk(platform)  # not timed: neither side's module imports are
    cpu_started = cpu_seconds()

    def failed(kind: str, message: str) -> None:
        failures[kind] += 1
        if len(sample) < 3:
            sample.append(message[:200])

    if platform == "vertex_ai":
        from google import genai
        from google.genai import errors, types
        from google.oauth2 import service_account

        info = remote.service_account_info(VERTEX_PROJECT)
        started = time.perf_counter()
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        genai_client = genai.Client(
            vertexai=True,
            project=VERTEX_PROJECT,
            location="us-central1",
            credentials=credentials,
            http_options=types.HttpOptions(base_url=remote.platform_url("vertex_ai")),
        )
        running = (types.JobState.JOB_STATE_RUNNING, types.JobState.JOB_STATE_PENDING, types.JobState.JOB_STATE_QUEUED)
        for job in genai_client.tunings.list():
            if job.state in running:
                try:
                    genai_client.tunings.cancel(name=str(job.name))
                    cancelled += 1
                except errors.APIError as exc:
                    failed(str(exc.code), str(exc))
    elif platform == "together":
        import together

        started = time.perf_counter()
        together_client = together.Together(
            api_key=remote.api_key("together"), base_url=remote.platform_url("together")
        )
        for item in together_client.fine_tuning.list().data:
            if item.status in ("pending", "queued", "running"):
                try:
                    together_client.fine_tuning.cancel(item.id)
                    cancelled += 1
                except together.APIStatusError as exc:
                    failed(str(exc.status_code), str(exc))
                except together.APIError as exc:
                    failed(type(exc).__name__, str(exc))
    elif platform == "dashscope":
        import dashscope
        from dashscope import FineTunes

        dashscope.base_http_api_url = remote.base_url("dashscope")
        key = remote.api_key("dashscope")
        started = time.perf_counter()
        page_no, page_size = 1, 100
        while True:
            page = FineTunes.list(page_no=page_no, page_size=page_size, api_key=key)
            if page.status_code != 200:
                failed(str(page.status_code), f"list page {page_no}: {page.code} {page.message}")
                break
            for job in page.output.jobs:
                if job.status in ("RUNNING", "PENDING", "QUEUING"):
                    answer = FineTunes.cancel(job.job_id, api_key=key)
                    if answer.status_code == 200:
                        cancelled += 1
                    else:
                        failed(str(answer.status_code), f"{answer.code}: {answer.message}")
            if page_no * page_size >= page.output.total:
                break
            page_no += 1
    else:
        raise ValueError(platform)
    elapsed = time.perf_counter() - started
    remote.close()
    return {
        "elapsed": elapsed,
        "cpu": cpu_seconds() - cpu_started,
        "cancelled": cancelled,
        "failures": dict(failures),
        "sample": sample,
    }


def import_sdk(platform: str) -> None:
    if platform == "vertex_ai":
        import google.genai
        import google.oauth2.service_account  # noqa: F401
    elif platform == "together":
        import together  # noqa: F401
    else:
        import dashscope  # noqa: F401


# -- the provider (worker side) --------------------------------------------------------------


class _TaskInstance:
    """The one thing ``execute`` needs from the context: somewhere to push XCom on failure."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def provider_run(platform: str, url: str, budget: str = "lifted") -> dict[str, Any]:
    """``budget``: "lifted" (1e6 requests a minute), "default" (no extra: the provider's default
    budget) or a number, the connection's ``max_requests_per_minute``."""
    from airflow_ft_provider.testing import RemoteEmulator, airflow_connection
    from benchmarks.common import connection, quiet_structlog, set_connection

    quiet_structlog(logging.ERROR)  # execute() outside a task runner warns
    remote = RemoteEmulator(url)
    extra: dict[str, Any] = {"project": VERTEX_PROJECT} if platform == "vertex_ai" else {}
    if budget == "default":
        conn = airflow_connection(remote, platform, **extra)
    else:
        if budget != "lifted":
            extra["max_requests_per_minute"] = int(budget)
        conn = connection(remote, platform, **extra)
    conn_id = set_connection(f"bench_bulk_{platform}", conn)
    remote.close()

    from airflow_ft_provider.hooks.registry import hook_class_for_platform
    from airflow_ft_provider.operators.bulk_cancel import BulkCancelTuningJobsOperator

    # Imported before the clock starts, as the SDKs are: execute() imports its hook lazily.
    hook_class_for_platform(platform)
    if platform == "vertex_ai":
        import google.auth.transport.requests
        import google.oauth2.service_account  # noqa: F401

    ti = _TaskInstance()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    operator = BulkCancelTuningJobsOperator(task_id="cancel_all", conn_id=conn_id)
    error = None
    try:
        result = operator.execute(cast(Any, {"ti": ti}))
    except Exception as exc:  # the task failed: its report is in XCom
        error = f"{type(exc).__name__}: {exc}"
        result = ti.xcom.get("return_value") or {}
    elapsed = time.perf_counter() - started
    from airflow_ft_provider.hooks.registry import get_hook

    budget = get_hook(conn_id).get_conn().budget  # the process's budget of this connection: the task's
    return {
        "elapsed": elapsed,
        "cpu": cpu_seconds() - cpu_started,
        "budget": {name: getattr(budget, name) for name in ("granted", "wakeups", "throttled", "pauses", "cuts")},
        "error": error[:500] if error else None,
        "counts": result.get("counts", {}),
        "states_after": result.get("states_after", {}),
        "matched": result.get("matched"),
    }


# -- orchestration ---------------------------------------------------------------------------


def analyse_requests(records: Sequence[Any]) -> dict[str, Any]:
    """Requests sent, 429s received, and 429s never followed by a success of the same request."""
    answered_later: dict[tuple[str, str, str], float] = {}
    for r in records:
        if r.status is not None and r.status != 429:
            key = (r.method, r.path, r.query)
            answered_later[key] = max(answered_later.get(key, -math.inf), r.time)
    throttled = [r for r in records if r.status == 429]
    unretried = [r for r in throttled if answered_later.get((r.method, r.path, r.query), -math.inf) < r.time]
    cancels = [r for r in records if r.method == "POST" and "cancel" in r.path]
    return {
        "requests": len(records),
        "cancels": len(cancels),
        "cancels_admitted": sum(1 for r in cancels if r.status != 429),
        # From the first cancel the platform counted to the last one it admitted.
        "cancel_phase_s": max((r.time for r in cancels if r.status != 429), default=0.0)
        - min((r.time for r in cancels), default=0.0),
        "lists": sum(1 for r in records if r.method == "GET"),
        "throttled": len(throttled),
        "unretried": len(unretried),
    }


def run_phase(
    emu: Any,
    variant: str,
    jobs: int,
    limit: Limit,
    latency: float,
    timeout: float,
    parallel: bool,
    *,
    meter: Callable[[str], None] | None = None,
    budget: str = "lifted",
    platforms: Sequence[str] = PLATFORMS,
) -> dict[str, Any]:
    """One variant on the platforms, from an emptied emulator: at once (``parallel``) or one
    platform after the other. ``meter(platform)`` replaces ``limit`` with another metering."""
    from airflow_ft_provider.testing import JobScript

    remote = emu.remote
    remote.reset()
    seeded: dict[str, set[str]] = {}
    for platform in platforms:
        emu.configure(platform, latency=latency, per_second=limit.per_second, burst=limit.burst)
        if meter is not None:
            meter(platform)
        extra = {"project": VERTEX_PROJECT} if platform == "vertex_ai" else {}
        seeded[platform] = set(
            remote.seed_many(platform, jobs, display_name="bulk", script=JobScript(running_s=None), **extra)
        )
    since = time.monotonic()  # CLOCK_MONOTONIC is system-wide on Linux: the emulator logs on the same clock

    def start(platform: str) -> tuple[Any, Any]:
        args = ["--variant", variant, "--platform", platform, "--url", emu.url, "--budget", budget]
        return start_worker("bulk_cancel", args)

    started = {p: start(p) for p in platforms} if parallel else {}
    results: dict[str, Any] = {}
    for platform in platforms:
        proc, log_path = started[platform] if parallel else start(platform)
        result = finish_worker(proc, log_path, timeout)
        phases = Counter(j["phase"] for j in remote.jobs(platform) if j["job_id"] in seeded[platform])
        result["phases"] = dict(phases)
        result["all_cancelled"] = phases.get("cancelled", 0) == jobs
        result.update(analyse_requests(remote.requests(platform, since=since)))
        results[platform] = result
    return results


def describe(result: dict[str, Any], jobs: int) -> str:
    """Seconds, then what the run left behind: throttling, failures, unconfirmed jobs."""
    parts = [fmt_s(result["elapsed"]), f"{result['requests']} requests"]
    if result.get("throttled"):
        retried = result["throttled"] - result["unretried"]
        parts.append(f"{result['throttled']}x429 ({retried} retried)")
    budget = result.get("budget")
    if budget and budget["granted"]:
        parts.append(f"{budget['wakeups'] / budget['granted']:.2f} budget wake-ups/request")
    failures = result.get("failures") or {}
    if failures:
        parts.append("failed: " + ", ".join(f"{n}x{kind}" for kind, n in sorted(failures.items())))
    if result.get("error"):
        parts.append("task failed")
    cancelled = result["phases"].get("cancelled", 0)
    if cancelled != jobs:
        parts.append(f"{jobs - cancelled} not cancelled")
    return ", ".join(parts)


def run(
    quick: bool = False,
    jobs: int | None = None,
    latency: float = 0.05,
    limits: Sequence[Limit] = (Limit(50, 50),),
) -> tuple[list[Row], list[str]]:
    jobs = jobs or (12 if quick else 1000)
    timeout = 120.0 if quick else 900.0
    rows: list[Row] = []
    notes: list[str] = []
    with emulator_process() as emu:
        # The SDK loops are sequential (one request per latency + SDK overhead, a few % of a
        # core), so the three run at once without slowing each other, and they stay far below
        # every limit used here: one measurement holds for each limit. The provider runs 16
        # requests at a time and needs CPU for it: one platform at a time, so that it does not
        # compete with itself on a small machine.
        sdk = run_phase(emu, "sdk", jobs, limits[0], latency, timeout, parallel=True)
        providers = [
            (limit, run_phase(emu, "provider", jobs, limit, latency, timeout, parallel=False)) for limit in limits
        ]
    for limit, provider in providers:
        for platform in PLATFORMS:
            s, p = sdk[platform], provider[platform]
            ratio = s["elapsed"] / p["elapsed"] if p["elapsed"] > 0 else math.nan
            clean = p["all_cancelled"] and p["unretried"] == 0 and not p.get("error")
            floor = max(0.0, (jobs - limit.burst) / limit.per_second)
            rows.append(
                Row(
                    benchmark="2 bulk cancel",
                    measure=f"{jobs} jobs {platform}, {latency * 1000:g} ms, {limit}",
                    alternative=f"{SDK_NAMES[platform]} loop {describe(s, jobs)}",
                    provider=describe(p, jobs),
                    ratio=fmt_ratio(ratio, "faster"),
                    target=f"≥{TARGET_RATIO:g}x, all cancelled, 0 unretried 429",
                    verdict="" if quick else verdict(ratio >= TARGET_RATIO and clean),
                    data={
                        "platform": platform,
                        "limit": str(limit),
                        "sdk": s,
                        "provider": p,
                        "ratio": ratio,
                        "rate_limit_floor_s": floor,
                        "best_possible_ratio": s["elapsed"] / floor if floor else None,
                    },
                )
            )
            if floor and not quick:
                notes.append(
                    f"{platform} at {limit}: {jobs} cancels cannot take less than {floor:.1f} s, so no client "
                    f"can beat the SDK loop by more than {s['elapsed'] / floor:.1f}x "
                    f"(provider: {p['elapsed']:.1f} s = {floor / p['elapsed']:.0%} of the limit's throughput)."
                )
    return rows, notes


# -- issue 11: under quotas, with the request budget -------------------------------------------

#: 200 requests in any one-second span (a sliding window), whose 429s carry whole-second hints
#: (``Retry-After: 1``): the shape real quotas have, and the one that punishes bursts.
HINTED = Limit(200, 200)
#: Vertex AI's documented quota: 600 requests a minute per project and region, fixed windows.
PER_MINUTE = 600


def run_quota(
    quick: bool = False, jobs: int | None = None, latency: float = 0.05, default_budget: bool = True
) -> tuple[list[Row], list[str]]:
    """The provider with a request budget matching the platform's limit (``max_requests_per_minute``):
    against 200 req/s with whole-second hints (and the SDK loops under the same limit), then against
    600 requests a minute in fixed windows; with ``default_budget`` also Vertex AI with no budget
    extra (540 a minute: 1,000 cancels take at least 111 s by design)."""
    jobs = jobs or (12 if quick else 1000)
    timeout = 120.0 if quick else 900.0
    no_limit = Limit(1e9, 1e9)

    def hinted(platform: str, emu: Any) -> None:
        emu.remote.set_quota(
            platform, int(HINTED.per_second), window_s=1.0, per="project", sliding=True, hint="seconds"
        )

    def windowed(platform: str, emu: Any) -> None:
        emu.remote.set_rate_limit(platform, None)
        emu.remote.set_quota(platform, PER_MINUTE, per="project", hint="seconds")

    rows: list[Row] = []
    notes: list[str] = []
    with emulator_process() as emu:

        def provider(meter: Callable[[str, Any], None], budget: str, platforms: Sequence[str] = PLATFORMS) -> Any:
            return run_phase(
                emu,
                "provider",
                jobs,
                no_limit,
                latency,
                timeout,
                False,
                meter=lambda p: meter(p, emu),
                budget=budget,
                platforms=platforms,
            )

        sdk = run_phase(emu, "sdk", jobs, no_limit, latency, timeout, True, meter=lambda p: hinted(p, emu))
        fast = provider(hinted, str(int(HINTED.per_second * 60)))
        slow = provider(windowed, str(PER_MINUTE))
        default = provider(windowed, "default", ("vertex_ai",)) if default_budget else {}
    judged = (lambda ok: "") if quick else verdict
    for platform in PLATFORMS:
        s, p = sdk[platform], fast[platform]
        share = cancel_share(p, HINTED.per_second)
        throttled = p["throttled"] / p["requests"] if p["requests"] else 0.0
        ratio = s["elapsed"] / p["elapsed"]
        ok = share >= 0.9 and throttled <= 0.05 and ratio >= TARGET_RATIO and p["all_cancelled"]
        rows.append(
            Row(
                "2b bulk quota",
                f"{jobs} jobs {platform}, {latency * 1000:g} ms, {HINTED.per_second:g} per 1 s sliding window, "
                "hint 1 s, budget 12000/min",
                f"{SDK_NAMES[platform]} loop {describe(s, jobs)}",
                f"{describe(p, jobs)}; {share:.0%} of the limit in the cancel phase, {throttled:.1%} 429",
                fmt_ratio(ratio, "faster"),
                "≥90 % of limit, ≤5 % 429, ≥10x",
                judged(ok),
                {"platform": platform, "sdk": s, "provider": p, "share": share, "throttled_share": throttled},
            )
        )
    from airflow_ft_provider.platforms.registry import record_for

    own = record_for("vertex_ai").requests_per_minute  # the default budget: below the quota, by design
    for label, results, per_minute in (
        ("budget 600/min", slow, PER_MINUTE),
        (f"default budget ({own}/min)", default, own),
    ):
        for platform, p in results.items():
            admitted = p["requests"] - p["throttled"]
            imposed = admitted * 60 / PER_MINUTE  # the quota's sustained rate
            window_floor = 60.0 * ((admitted - 1) // PER_MINUTE)  # fixed windows: a burst at each start
            # Within 5 % of N/R, R the budget's rate (the quota's, or the default budget's below it).
            ok = p["elapsed"] <= 1.05 * admitted * 60 / per_minute and p["all_cancelled"]
            rows.append(
                Row(
                    "2b bulk quota",
                    f"{jobs} jobs {platform}, {PER_MINUTE}/min fixed windows per project, hint 1 s, {label}",
                    f"quota's rate: {admitted} requests need {fmt_s(imposed)} "
                    f"(fixed-window floor {fmt_s(window_floor)})",
                    f"{describe(p, jobs)}; {cancel_share(p, PER_MINUTE / 60):.0%} of the quota in the cancel phase",
                    f"{p['elapsed'] / imposed:.2f}x the quota's time" if imposed else "n/a",
                    f"≤ {1.05 * PER_MINUTE / per_minute:.2f}x",
                    judged(ok),
                    {"platform": platform, "provider": p, "imposed_s": imposed, "window_floor_s": window_floor},
                )
            )
    notes.append(
        f"{PER_MINUTE}/min in fixed windows lets {PER_MINUTE} requests through at the start of each window, so a "
        "client that bursts could finish in about one window; the budget is a token bucket (a second's worth "
        "of burst), so it paces at the quota's sustained rate: the target is measured against that."
    )
    notes.append(
        "Share of the limit in the cancel phase: cancels the platform admitted, over what the limit allows "
        "from the first cancel it counted to the last one it admitted."
    )
    return rows, notes


def cancel_share(result: dict[str, Any], per_second: float) -> float:
    """The share of a ``per_second`` limit the admitted cancels used during the cancel phase."""
    phase = result.get("cancel_phase_s") or 0.0
    return result["cancels_admitted"] / (per_second * phase) if phase > 0 else math.nan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few jobs: checks that it works, measures nothing")
    parser.add_argument("--jobs", type=int, default=None, help="running jobs per platform (default 1000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every answer (default 0.05)")
    parser.add_argument(
        "--limits",
        default="50:50",
        help="comma-separated rate limits per platform as RATE:BURST; the provider runs under each (default 50:50)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=("sdk", "provider"), help=argparse.SUPPRESS)
    parser.add_argument("--platform", choices=PLATFORMS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--budget", default="lifted", help=argparse.SUPPRESS)
    parser.add_argument(
        "--quota", action="store_true", help="issue 11: 200 req/s with whole-second hints, and 600 requests a minute"
    )
    args = parser.parse_args(argv)
    prepare_env()
    if args.worker:
        if args.variant == "sdk":
            emit(sdk_loop(args.platform, args.url))
        else:
            emit(provider_run(args.platform, args.url, args.budget))
        return 0
    if args.quota:
        rows, notes = run_quota(args.quick, args.jobs, args.latency)
        print_rows("Bulk cancel under quotas", rows, notes)
        return 0
    limits = [Limit.parse(text) for text in args.limits.split(",") if text]
    rows, notes = run(args.quick, args.jobs, args.latency, limits)
    print_rows("Bulk cancel", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
