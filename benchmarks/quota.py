"""Quota: N deferred waits on one connection under the platform's request quota (issue 11).

Each measurement is a fresh worker process that runs Airflow's own ``TriggerRunner`` (as
``triggerer_scale`` does: ``RunTrigger`` workloads with encrypted kwargs, ``create_triggers()``,
``run_trigger()`` per trigger, one event loop), on one connection with the provider's **default
request budget** (no ``max_requests_per_minute`` extra: Vertex AI 540/min, the others 600/min),
against an emulator (own process, 50 ms added latency) that meters the platform with a quota:

- Vertex AI: 600 requests per minute per project and region, fixed windows, whole-second
  ``Retry-After`` (what Vertex documents for its management API);
- OpenAI: 600 per minute per project, sliding window, exact hints (``retry-after-ms``);
- Together: 600 per minute per key, fixed windows, whole-second hints;
- DashScope: 600 per minute per workspace, fixed windows, no hint (DashScope sends none).

The project holds ``--waits`` running jobs (one deferred wait each, the trigger's default schedule:
1 s backing off to 30 s), ``2 x --waits`` older ended jobs, and a few jobs the provider cancels
during the run (``min(50, max(3, waits // 100))``; the emulator takes 2-10 s to end each cancel):
each is cancelled with the hook's ``acancel_job`` and gets the urgent wait the cancel operator
defers with. The running jobs end on a timeline spread over the middle of the run; the platform's
end time of every job is known (conservatively early: the instant before the seed call), so

- **staleness** = trigger event (seen within 0.1 s) - platform end, per background wait;
- **confirmation latency** = trigger event - end of the cancel, per cancelled job (where the
  cancel's answer already shows the end, as OpenAI's does, the end is when the cancel was sent);
- **requests per minute** and **% answered 429** come from the emulator's request log (windows
  from the moment the quota was set; "after the first minute" excludes the start-up burst);
- **CPU per state read**: process CPU from one second after the last trigger started to the end,
  over the job states handed to triggers (each answered read of a wait);
- **memory per trigger**: the highest RSS sampled between the last trigger's start and the first
  job's end, minus RSS before the first trigger, over the triggers started; **loop lag**: oversleep
  of a 100 ms ticker from one second after the last start.

Triggers start in chunks of 200 until all are running or 80 % of the time to the first job's end
has passed: a process too busy to start them all by then is measured with those it started (the
table says how many), as ``triggerer_scale`` does.

Variants, in the same run: ``watcher`` (the provider: each trigger asks the connection's shared
``JobWatcher``) and ``polling`` ("today's design": ``PollingTrigger`` below, the same trigger
reading its own job with the hook's ``aget_job`` on its own schedule, within the same budget).

Run alone: ``python -m benchmarks.quota [--quick] [--waits 2000] [--platforms vertex_ai,openai]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.common import (
    Row,
    emit,
    emulator_process,
    fmt_compare,
    lazy_classes,
    median,
    percentile,
    prepare_env,
    print_rows,
    quiet_structlog,
    rss_bytes,
    run_worker,
    set_connection,
    verdict,
    watcher_counts,
)
from benchmarks.triggerer_scale import cpu_seconds, stop_runner

CONN_ID = "bench_quota"
LATENCY = 0.05
PROJECT, LOCATION = "bench-quota", "us-central1"
VARIANTS = {
    "watcher": "airflow_ft_provider.triggers.job_state.TuningJobStateTrigger",
    "polling": "benchmarks.quota.PollingTrigger",
}
TARGETS = {"throttled_pct": 1.0, "stale_s": 60.0, "confirm_median_s": 2.0, "confirm_p90_s": 5.0}
TARGETS |= {"cpu_ms_per_read": 0.1, "kb_per_trigger": 20.0, "lag_ms_p99": 100.0}


@dataclass(frozen=True)
class PlatformQuota:
    """The quota the emulator enforces for one platform in this benchmark."""

    platform: str
    limit: int
    per: str
    sliding: bool
    hint: str
    #: The provider's default budget for the platform (requests per minute).
    budget: int

    def describe(self) -> str:
        kind = "sliding" if self.sliding else "fixed"
        return f"{self.limit}/min {kind} per {self.per}, hint {self.hint}"


QUOTAS = {
    "vertex_ai": PlatformQuota("vertex_ai", 600, "project", False, "seconds", 540),
    "openai": PlatformQuota("openai", 600, "project", True, "exact", 600),
    "together": PlatformQuota("together", 600, "key", False, "seconds", 600),
    "dashscope": PlatformQuota("dashscope", 600, "project", False, "none", 600),
}

#: Job states handed to ``PollingTrigger``s (what the watcher counts in ``stats.answered``).
POLLED_STATES = [0]


# -- today's design ----------------------------------------------------------------------------


def _polling_trigger_class() -> type:
    """Built lazily so that importing this module never imports Airflow."""
    from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger

    class _CountedReads:
        """The hook itself, counting the states it hands over."""

        def __init__(self, hook: Any) -> None:
            self.hook = hook

        async def aget_job(self, job_id: str, **kwargs: Any) -> Any:
            job = await self.hook.aget_job(job_id, **kwargs)
            POLLED_STATES[0] += 1
            return job

        def __getattr__(self, name: str) -> Any:
            return getattr(self.hook, name)

    class PollingTrigger(TuningJobStateTrigger):
        """``TuningJobStateTrigger`` reading its own job with the hook's ``aget_job``: no watcher."""

        def _reads(self) -> Any:
            return _CountedReads(self._hook())

    PollingTrigger.__module__ = __name__
    return PollingTrigger


__getattr__ = lazy_classes(globals(), {"PollingTrigger": _polling_trigger_class})


# -- the worker: one triggerer process ---------------------------------------------------------


def timeline(duration: float) -> tuple[float, float]:
    """When the running jobs end (and the cancels happen): from ``first`` to ``last`` seconds after
    seeding, leaving a minute (or a third of a short run) before and after."""
    margin = min(60.0, duration / 3)
    return margin, duration - margin


def states_read(variant: str) -> int:
    """Job states handed to triggers so far in this process (on the running loop)."""
    return read_counts(variant)[0]


def read_counts(variant: str) -> tuple[int, int]:
    """Job states handed to triggers so far in this process, and how many of them listings served."""
    if variant == "polling":
        # The trigger class lives in ``benchmarks.quota`` (this file may run as ``__main__``).
        from benchmarks import quota

        return quota.POLLED_STATES[0], 0
    return watcher_counts()


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    from airflow.executors import workloads
    from airflow.jobs.triggerer_job_runner import TriggerRunner
    from airflow.models.trigger import Trigger

    from airflow_ft_provider.hooks.registry import hook_class_for_platform
    from airflow_ft_provider.testing import JobScript, RemoteEmulator, airflow_connection
    from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger

    platform, n, duration = args.platform, args.waits, args.duration
    quota = QUOTAS[platform]
    located = {"project": PROJECT, "location": LOCATION} if platform == "vertex_ai" else {}
    remote = RemoteEmulator(args.url)
    # The provider's default budget: no max_requests_per_minute extra.
    set_connection(CONN_ID, airflow_connection(remote, platform, project=PROJECT, location=LOCATION))
    runner = TriggerRunner()
    creating = asyncio.Lock()  # create_triggers() yields between triggers: one caller at a time
    stop = asyncio.Event()
    seen: dict[int, tuple[float, str]] = {}  # trigger id -> (monotonic time seen, status)
    failed: list[Any] = []

    def workload(trigger_id: int, job_id: str, *, urgent: bool = False) -> Any:
        trigger = TuningJobStateTrigger(conn_id=CONN_ID, platform=platform, job_id=job_id, urgent=urgent)
        _, kwargs = trigger.serialize()
        encrypted = Trigger.encrypt_kwargs(kwargs)
        return workloads.RunTrigger(
            id=trigger_id, classpath=VARIANTS[args.variant], encrypted_kwargs=encrypted, ti=None
        )

    async def start(items: Sequence[Any]) -> None:
        async with creating:
            runner.to_create.extend(items)
            await runner.create_triggers()

    async def runner_loop() -> None:
        """What ``TriggerRunner.arun`` does each second, minus the supervisor round trip."""
        while not stop.is_set():
            await runner.cleanup_finished_triggers()
            while runner.failed_triggers:
                failed.append(runner.failed_triggers.popleft())
            async with creating:
                await runner.create_triggers()
            await runner.cancel_triggers()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def collector() -> None:
        """Events as soon as a trigger yields them (the runner loop would add up to a second)."""
        while not stop.is_set():
            while runner.events:
                entry = runner.events.popleft()  # TriggerEventEntry(trigger_id, event, ...)
                seen[entry[0]] = (time.monotonic(), entry[1].payload.get("status", "?"))
            await asyncio.sleep(0.1)

    lags: list[tuple[float, float]] = []
    rss: list[tuple[float, int]] = []

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.1)
            lags.append((before, time.monotonic() - before - 0.1))
            if len(lags) % 5 == 0:
                rss.append((before, rss_bytes()))

    tasks = [asyncio.create_task(runner_loop()), asyncio.create_task(collector())]
    # Warm-up: one wait on an ended job loads the lazily imported modules, the pool and the token.
    warm = remote.seed(platform, script=JobScript(running_s=0.0), **located)
    await start([workload(0, warm)])
    deadline = time.monotonic() + 120
    while 0 not in seen and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    first, last = timeline(duration)
    cancels = min(50, max(3, n // 100))
    remote.seed_many(
        platform,
        2 * n,
        display_name="old",
        script=JobScript(running_s=3600),
        created_ago_s=3 * 3600,
        created_over_s=86_400,
        **located,
    )
    targets = [
        remote.seed(platform, script=JobScript(running_s=None, cancel_s=2.0 + 8.0 * i / max(1, cancels - 1)), **located)
        for i in range(cancels)
    ]
    gc.collect()
    rss_before = rss_bytes()
    seeded = time.monotonic()  # before the seed call: every end below is at or after the platform's
    job_ids = remote.seed_many(
        platform,
        n,
        display_name="live",
        script=JobScript(running_s=None),
        end_in_s=first,
        end_spread_s=last - first,
        **located,
    )
    ends = {job_id: seeded + first + (last - first) * i / max(1, n - 1) for i, job_id in enumerate(job_ids)}
    remote.set_quota(platform, quota.limit, per=quota.per, sliding=quota.sliding, hint=quota.hint)  # type: ignore[arg-type]
    metered = time.monotonic()
    counts_at_metered = read_counts(args.variant)
    tasks.append(asyncio.create_task(ticker()))
    ids = {i: job_id for i, job_id in enumerate(job_ids, start=1)}
    # As a triggerer takes them from the database: in chunks, yielding between them. A process that
    # cannot start them all before the first jobs end is measured with those it started, and says so.
    batch, started = 200, 0
    while started < n and time.monotonic() < seeded + 0.8 * first:
        await start([workload(i, ids[i]) for i in range(started + 1, min(n, started + batch) + 1)])
        started = min(n, started + batch)
        await asyncio.sleep(0)
    ids = {i: ids[i] for i in range(1, started + 1)}
    ramp_done = time.monotonic()
    await asyncio.sleep(1.0)
    cpu_start, reads_start, window_start = cpu_seconds(), states_read(args.variant), time.monotonic()

    hook = hook_class_for_platform(platform)(conn_id=CONN_ID)
    cancel_ends: dict[int, float] = {}
    cancel_errors: list[str] = []

    async def cancel(i: int, job_id: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        sent = time.monotonic()
        try:
            answer = await hook.acancel_job(job_id)
        except Exception as exc:  # counted, not hidden
            cancel_errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        trigger_id = n + 1 + i
        # A platform without a cancelling state (OpenAI) answers the cancel with the end itself.
        at_once = answer is not None and answer.is_terminal
        cancel_ends[trigger_id] = sent + (0.0 if at_once else 2.0 + 8.0 * i / max(1, cancels - 1))
        await start([workload(trigger_id, job_id, urgent=True)])

    span = last - first
    cancel_tasks = [
        asyncio.create_task(cancel(i, job_id, seeded + first + span * i / max(1, cancels - 1)))
        for i, job_id in enumerate(targets)
    ]
    end_at = seeded + duration
    while time.monotonic() < end_at and len(seen) < started + cancels + 1:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    stopped = time.monotonic()
    cpu_window = cpu_seconds() - cpu_start
    reads = states_read(args.variant) - reads_start
    answered, listed = (now - then for now, then in zip(read_counts(args.variant), counts_at_metered, strict=True))
    stop.set()
    for task in cancel_tasks:
        task.cancel()
    await stop_runner(runner, tasks)

    records = [r for r in remote.requests(platform, since=metered) if r.time <= stopped]
    remote.set_quota(platform, None)
    remote.close()
    stale = [seen[i][0] - ends[ids[i]] for i in ids if i in seen]
    unseen_ended = [stopped - ends[ids[i]] for i in ids if i not in seen and ends[ids[i]] < stopped]
    confirm = [seen[i][0] - end for i, end in cancel_ends.items() if i in seen]
    statuses = Counter(status for i, (_, status) in seen.items() if i != 0)
    steady_rss = [value for at, value in rss if ramp_done <= at < seeded + first] or [rss_bytes()]
    return {
        "variant": args.variant,
        "platform": platform,
        "waits": n,
        "started": started,
        "ended_jobs": 2 * n,
        "cancels": cancels,
        "quota": quota.describe(),
        "budget": quota.budget,
        "duration": stopped - metered,
        "ramp_s": ramp_done - seeded,
        **request_figures(records, metered, stopped),
        "stale_s": stale,
        "unseen_ended": len(unseen_ended),
        "unseen_min_stale_s": min(unseen_ended, default=math.nan),
        "unseen_max_stale_s": max(unseen_ended, default=math.nan),
        "confirm_s": confirm,
        "cancel_errors": cancel_errors[:3],
        "cancels_done": len(cancel_ends),
        "events": dict(statuses),
        "failed_triggers": len(failed),
        "cpu_window": cpu_window,
        "states_read": reads,
        # Counts over the whole metered time (the requests' window): what the times above rest on.
        "requests_per_read": len(records) / answered if answered else math.nan,
        "listed_pct": 100 * listed / answered if answered else 0.0,
        "cpu_ms_per_read": cpu_window * 1000 / reads if reads else math.nan,
        "kb_per_trigger": (max(steady_rss) - rss_before) / 1024 / max(1, started),
        "lag_ms_p99": percentile([lag for at, lag in lags if at >= window_start], 99) * 1000,
        "lag_ms_max": max((lag for at, lag in lags if at >= window_start), default=math.nan) * 1000,
        "ramp_lag_ms_max": max((lag for at, lag in lags if at < window_start), default=math.nan) * 1000,
    }


def request_figures(records: Sequence[Any], started: float, stopped: float) -> dict[str, Any]:
    """Requests per minute (windows from ``started``) and the share answered 429."""
    minutes = max(1, math.ceil((stopped - started) / 60))
    per_minute = [0] * minutes
    for r in records:
        per_minute[min(minutes - 1, int((r.time - started) // 60))] += 1
    later = [r for r in records if r.time >= started + 60]
    throttled_later = sum(1 for r in later if r.status == 429)
    return {
        "requests": len(records),
        "throttled": sum(1 for r in records if r.status == 429),
        "per_minute": per_minute,
        "rate_per_min": len(records) * 60 / (stopped - started) if stopped > started else math.nan,
        "requests_after_1min": len(later),
        "throttled_pct_after_1min": 100 * throttled_later / len(later) if later else 0.0,
    }


# -- orchestration ---------------------------------------------------------------------------


def run(
    quick: bool = False,
    waits: int | None = None,
    platforms: Sequence[str] | None = None,
    duration: float | None = None,
) -> tuple[list[Row], list[str]]:
    platforms = platforms or (["vertex_ai"] if quick else list(QUOTAS))
    duration = duration or (24.0 if quick else 180.0)
    sizes = {p: waits or (20 if quick else (2000 if p == "vertex_ai" else 1000)) for p in platforms}
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with emulator_process() as emu:
        for platform in platforms:
            for variant in VARIANTS:
                emu.remote.reset()
                emu.remote.set_latency(LATENCY, platform)
                args = ["--variant", variant, "--platform", platform, "--waits", str(sizes[platform])]
                args += ["--duration", str(duration), "--url", emu.url]
                try:
                    results[(platform, variant)] = run_worker("quota", args, timeout=duration + 300)
                except Exception as exc:  # a worker that never finishes is a result too
                    results[(platform, variant)] = {"error": str(exc).strip().splitlines()[-1][:300]}
    rows: list[Row] = []
    notes: list[str] = []
    for platform in platforms:
        w, p = results[(platform, "watcher")], results[(platform, "polling")]
        rows += _rows(platform, sizes[platform], w, p, quick)
        notes += [_note(platform, name, r) for name, r in (("watcher", w), ("polling", p))]
    return rows, notes


def _stale(r: dict[str, Any]) -> str:
    text = (
        f"{median(r['stale_s']):.1f} / {percentile(r['stale_s'], 90):.1f} / {max(r['stale_s'], default=math.nan):.1f} s"
    )
    if r["unseen_ended"]:
        text += f", {r['unseen_ended']} ended unseen (>{r['unseen_min_stale_s']:.0f} s)"
    return text


MEASURES: list[tuple[str, str, Any, Any]] = [
    # (measure, target text, cell, met)
    (
        "requests/min (mean; busiest minute) vs budget",
        "≤ budget",
        lambda r: f"{r['rate_per_min']:.0f}; {max(r['per_minute'])} (budget {r['budget']})",
        lambda r: r["rate_per_min"] <= r["budget"] * 1.02,
    ),
    (
        "% answered 429 after the first minute",
        "≤ 1 %",
        lambda r: f"{r['throttled_pct_after_1min']:.2f} % of {r['requests_after_1min']} ({r['throttled']} in all)",
        lambda r: r["throttled_pct_after_1min"] <= TARGETS["throttled_pct"],
    ),
    (
        "staleness, platform end → event (median / p90 / max)",
        "≤ 60 s",
        _stale,
        lambda r: not r["unseen_ended"] and max(r["stale_s"], default=math.inf) <= TARGETS["stale_s"],
    ),
    (
        "confirmation of provider cancels (median / p90)",
        "≤ 2 s / ≤ 5 s",
        lambda r: (
            f"{median(r['confirm_s']):.2f} / {percentile(r['confirm_s'], 90):.2f} s "
            f"({len(r['confirm_s'])} of {r['cancels']})"
        ),
        lambda r: (
            len(r["confirm_s"]) == r["cancels"]
            and median(r["confirm_s"]) <= TARGETS["confirm_median_s"]
            and percentile(r["confirm_s"], 90) <= TARGETS["confirm_p90_s"]
        ),
    ),
    (
        "requests per state read; share of reads served by listings",
        "≥ 90 % by listings",
        lambda r: f"{r['requests_per_read']:.3f}; {r['listed_pct']:.1f} %",
        lambda r: r["listed_pct"] >= 90.0,
    ),
    (
        "CPU per watched job per state read",
        "≤ 0.1 ms",
        lambda r: f"{r['cpu_ms_per_read']:.3f} ms ({r['states_read']} reads)",
        lambda r: r["cpu_ms_per_read"] <= TARGETS["cpu_ms_per_read"],
    ),
    (
        "memory per trigger",
        "≤ 20 KB",
        lambda r: f"{r['kb_per_trigger']:.1f} KB",
        lambda r: r["kb_per_trigger"] <= TARGETS["kb_per_trigger"],
    ),
    (
        "loop lag p99 (max)",
        "< 100 ms",
        lambda r: f"{r['lag_ms_p99']:.0f} ms ({r['lag_ms_max']:.0f})",
        lambda r: r["lag_ms_p99"] < TARGETS["lag_ms_p99"],
    ),
]
#: Smaller is better for these (keys of the worker's result), for the ratio column.
RATIO_KEYS = {
    "% answered 429 after the first minute": "throttled_pct_after_1min",
    "CPU per watched job per state read": "cpu_ms_per_read",
    "memory per trigger": "kb_per_trigger",
    "loop lag p99 (max)": "lag_ms_p99",
}


def _rows(platform: str, n: int, w: dict[str, Any], p: dict[str, Any], quick: bool) -> list[Row]:
    title = f"{n} waits {platform}"
    if "error" not in w and w.get("started", n) < n:
        title += f" ({w['started']} started)"
    if "error" in w:
        return [Row("5 quota", title, "", f"did not finish: {w['error']}", "", "", "" if quick else "MISSED")]
    rows = []
    for measure, target, cell, met in MEASURES:
        alt = "polling: did not finish" if "error" in p else f"polling{_started(p, n)} {cell(p)}"
        key = RATIO_KEYS.get(measure)
        ratio = "" if key is None or "error" in p else fmt_compare(p[key], w[key], "less", "more")
        rows.append(
            Row("5 quota", f"{title}: {measure}", alt, cell(w), ratio, target, "" if quick else verdict(met(w)))
        )
    rows[0].data = {"watcher": w, "polling": p}
    return rows


def _started(r: dict[str, Any], n: int) -> str:
    return f" ({r['started']} started)" if r.get("started", n) < n else ""


def _note(platform: str, variant: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{platform} {variant}: did not finish: {r['error']}"
    return (
        f"{platform} {variant}: {r.get('started', r['waits'])} of {r['waits']} waits started "
        f"(max loop lag while starting {r.get('ramp_lag_ms_max', math.nan):.0f} ms) + {r['cancels']} cancelled, "
        f"{r['ended_jobs']} ended jobs, quota "
        f"{r['quota']}, default budget {r['budget']}/min; triggers started in {r['ramp_s']:.1f} s; "
        f"{r['requests']} requests in {r['duration']:.0f} s, per minute {r['per_minute']}; events {r['events']}, "
        f"{r['failed_triggers']} failed triggers; cancels sent {r['cancels_done']}"
        + (f", cancel errors {r['cancel_errors']}" if r["cancel_errors"] else "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 waits on Vertex AI: checks that it works")
    parser.add_argument("--waits", type=int, default=None, help="waits per platform (default 2000 Vertex, 1000 others)")
    parser.add_argument("--platforms", default=None, help=f"comma-separated subset of {','.join(QUOTAS)}")
    parser.add_argument("--duration", type=float, default=None, help="seconds per variant (default 180)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--platform", choices=tuple(QUOTAS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    prepare_env()
    if args.worker:
        quiet_structlog()
        emit(asyncio.run(worker(args)))
        return 0
    platforms = [p for p in (args.platforms or "").split(",") if p] or None
    rows, notes = run(args.quick, args.waits, platforms, args.duration)
    print_rows("Quota", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
