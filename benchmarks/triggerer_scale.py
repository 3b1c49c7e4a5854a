"""Triggerer scale: thousands of ``TuningJobStateTrigger``s in one process, as the triggerer runs them.

Each measurement is a fresh worker process that runs Airflow's own ``TriggerRunner``
(``airflow.jobs.triggerer_job_runner``): triggers arrive as ``RunTrigger`` workloads with
Fernet-encrypted kwargs, ``create_triggers()`` inflates them and starts
``run_trigger()`` for each (greenback portal, log context, span, ``async for event in
trigger.run()``, ``cleanup()``), and a loop like ``TriggerRunner.arun`` collects events and
finished triggers every second. Only the supervisor side (database, the socket to the
parent process) is left out.

Workload: ``--triggers`` Vertex AI jobs on the emulator (own process, 50 ms added latency),
one trigger each, all on one connection (a service-account key) with the provider's default
HTTP settings. The triggers arrive all at once, as after a triggerer restart, and the runner
starts them as fast as the process can, for at most ``--ramp`` seconds (a process that cannot
start them all in that time is measured with those it started, and says so). Every trigger
polls every ``--interval`` seconds (``min_poll_interval = poll_interval``, default 10 s):
three times the steady-state load of the default schedule (which backs off from 1 s to 30 s
within five minutes), so that every trigger polls at least once in a window that fits the
time budget; what one poll costs does not depend on the interval. From one second after
the last start until ``--ramp + --window`` seconds after the first, the worker measures:

- resident memory per trigger: RSS at the end of the window minus RSS before the first
  trigger (after one warm-up trigger ran, so that imports are not counted), over N;
- CPU per poll: the process's CPU time in the window over the polls in it: job states handed to
  triggers (the shared watcher answers most from listings, so requests per poll are printed too);
- open connections: sockets among the process's file descriptors, sampled twice a second;
- event-loop lag: oversleep of a 100 ms ticker (what the triggerer's ``block_watchdog`` watches);
- how many of the expected polls happened (falls below 100 % when something saturates), and
  the emulator's own CPU load, to tell the client's limits from the emulator's.

Then the jobs end, and every trigger must yield exactly one ``reached`` event within an
interval and 5 s (the comparison variant gets 10 s in all, as it cannot keep up anyway).

The comparison, ``PerPollClientTrigger``, is the same trigger reading its own job (not through
the shared watcher), and every poll opens its own ``httpx.AsyncClient`` (connection pool, TCP
connection) and closes it, the pattern of triggers that do ``async with <client>`` inside their
polling loop.

Run alone: ``python -m benchmarks.triggerer_scale [--quick] [--sizes 1000,5000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.common import (
    Row,
    emit,
    emulator_process,
    fmt_compare,
    lazy_classes,
    median,
    open_sockets,
    percentile,
    prepare_env,
    print_rows,
    quiet_structlog,
    rss_bytes,
    run_worker,
    verdict,
    watcher_counts,
)

if TYPE_CHECKING:
    from airflow_ft_provider.jobs import TuningJob

PLATFORM = "vertex_ai"
LATENCY = 0.05
CONN_ID = "bench_triggerer"
TARGET_KB = 20.0
TARGET_CPU_MS = 0.5
TARGET_LAG_MS = 100.0
VARIANTS = {
    "shared": "airflow_ft_provider.triggers.job_state.TuningJobStateTrigger",
    "per_poll": "benchmarks.triggerer_scale.PerPollClientTrigger",
}


# -- the comparison trigger ------------------------------------------------------------------


def _per_poll_trigger_class() -> type:
    """Built lazily so that importing this module never imports Airflow."""
    import httpx

    from airflow_ft_provider.transport import AsyncClientPool, AsyncTransport, RequestBudget
    from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger

    hook_classes: dict[type, type] = {}

    class PerPollClientTrigger(TuningJobStateTrigger):
        """``TuningJobStateTrigger`` with a new ``httpx.AsyncClient`` for every poll."""

        def _hook(self) -> Any:
            base = type(super()._hook())
            if base not in hook_classes:

                class PerPollClientHook(base):  # type: ignore[valid-type,misc]
                    async def aget_job(self, job_id: str, **kwargs: Any) -> TuningJob:
                        setup = await self.aprepare()
                        async with httpx.AsyncClient(verify=setup.settings.verify_tls) as client:
                            pool = AsyncClientPool([client], setup.settings.max_connections, setup.settings)
                            budget = RequestBudget(setup.settings.max_requests_per_minute)
                            transport = AsyncTransport(setup.dialect, setup.auth, setup.settings, pool, budget)
                            return await transport.call(setup.dialect.get_request(job_id), setup.dialect.parse_job)

                hook_classes[base] = PerPollClientHook
            return hook_classes[base](conn_id=self.conn_id)

        def _reads(self) -> Any:
            """Its own reads, as such a trigger does: not through the shared watcher."""
            return self._hook()

    PerPollClientTrigger.__module__ = __name__
    return PerPollClientTrigger


__getattr__ = lazy_classes(globals(), {"PerPollClientTrigger": _per_poll_trigger_class})


async def stop_runner(runner: Any, tasks: list[asyncio.Task[Any]]) -> None:
    """End a benchmark's TriggerRunner: its own tasks, then every trigger still running, then the
    provider's shared clients (each step bounded, so a stuck trigger cannot hold the benchmark)."""
    await asyncio.wait(tasks, timeout=30)
    left = [d["task"] for d in runner.triggers.values()]
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=30)
    from airflow_ft_provider.process_cache import process_cache

    await asyncio.wait_for(process_cache.aclose(), 10)


# -- the worker: one triggerer process --------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emulator_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def triggerer(args: argparse.Namespace) -> dict[str, Any]:
    from airflow.executors import workloads
    from airflow.jobs.triggerer_job_runner import TriggerRunner
    from airflow.models.trigger import Trigger

    from airflow_ft_provider.testing import JobScript, RemoteEmulator
    from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger
    from benchmarks.common import connection, set_connection

    remote = RemoteEmulator(args.url)
    set_connection(CONN_ID, connection(remote, PLATFORM))
    n, interval, ramp, window = args.triggers, args.interval, args.ramp, args.window
    classpath = VARIANTS[args.variant]
    runner = TriggerRunner()
    events: list[Any] = []
    failures: list[Any] = []
    stop = asyncio.Event()
    # create_triggers() yields between triggers: two callers would race for the same deque.
    creating = asyncio.Lock()

    def workload(trigger_id: int, job_id: str) -> Any:
        trigger = TuningJobStateTrigger(
            conn_id=CONN_ID, platform=PLATFORM, job_id=job_id, min_poll_interval=interval, poll_interval=interval
        )
        _, kwargs = trigger.serialize()
        return workloads.RunTrigger(
            id=trigger_id, classpath=classpath, encrypted_kwargs=Trigger.encrypt_kwargs(kwargs), ti=None
        )

    async def runner_loop() -> None:
        """What ``TriggerRunner.arun`` does each second, minus the supervisor round trip."""
        while True:
            await runner.cleanup_finished_triggers()
            while runner.events:
                events.append(runner.events.popleft())
            while runner.failed_triggers:
                failures.append(runner.failed_triggers.popleft())
            async with creating:
                await runner.create_triggers()
            await runner.cancel_triggers()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    lags: list[tuple[float, float]] = []
    samples: list[tuple[float, int, int]] = []

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.1)
            lags.append((before, time.monotonic() - before - 0.1))

    async def sampler() -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), rss_bytes(), open_sockets()))
            await asyncio.sleep(0.5)

    async def wait_for(count: int, seconds: float) -> None:
        """Until ``count`` triggers ended (events are collected by the runner loop each second)."""
        deadline = time.monotonic() + seconds
        while len(events) + len(failures) < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)

    floor_ms = await httpx_floor(remote)
    loop_task = asyncio.create_task(runner_loop())
    # Warm-up: one trigger on a job that has ended loads every lazily imported module and
    # opens the shared pool, so that neither counts as per-trigger cost.
    warm = remote.seed(PLATFORM, script=JobScript(running_s=0.0), project="bench-project")
    runner.to_create.append(workload(0, warm))
    await wait_for(1, 120)
    events.clear()
    failures.clear()
    await asyncio.sleep(1.5)  # let the warm-up trigger's task be cleaned up

    import gc

    gc.collect()
    rss_before, sockets_before = rss_bytes(), open_sockets()
    running_s = ramp + window + 2.0
    job_ids = remote.seed_many(PLATFORM, n, script=JobScript(running_s=running_s), project="bench-project")
    seeded = time.monotonic()
    tasks = [asyncio.create_task(ticker()), asyncio.create_task(sampler())]
    # In Airflow the deferring task builds and encrypts the workload; here it is built first
    # (its memory, freed as triggers start, is inside the RSS delta: a slight overestimate).
    pending = [workload(i, job_id) for i, job_id in enumerate(job_ids, start=1)]

    # All triggers arrive at once, as after a triggerer restart: the runner starts them as
    # fast as this process can, for at most --ramp seconds; a process that cannot start them
    # all in that time is measured with the triggers it started.
    created = 0
    for item in pending:
        if time.monotonic() > seeded + ramp:
            break
        runner.to_create.append(item)
        created += 1
        async with creating:
            await runner.create_triggers()
        await asyncio.sleep(0)
    del pending
    n = created
    ramp_done = time.monotonic()
    # The window runs to seeded + ramp + window (the jobs end 2 s later): a quick start leaves
    # a longer window. One second first, so that the last triggers' first polls are done.
    window_start = min(ramp_done, seeded + ramp) + 1.0
    window = seeded + ramp + window - window_start
    await asyncio.sleep(max(0.0, window_start - time.monotonic()))
    cpu_start, emu_start = cpu_seconds(), emulator_cpu(args.emulator_pid)
    counts_start = watcher_counts()
    await asyncio.sleep(window)
    window_end = time.monotonic()
    answered, listed = (now - then for now, then in zip(watcher_counts(), counts_start, strict=True))
    cpu_window, emu_window = cpu_seconds() - cpu_start, emulator_cpu(args.emulator_pid) - emu_start
    rss_end = rss_bytes()
    triggers_alive = len(runner.triggers)

    # The jobs end at seeded + running_s; every trigger sees it within one interval (a
    # saturated process takes longer: what is missing then is reported, not waited for).
    await wait_for(n, max(0.0, seeded + running_s - time.monotonic()) + args.drain)
    drained = time.monotonic()
    stop.set()
    await stop_runner(runner, [loop_task, *tasks])

    requests = [r for r in remote.requests(PLATFORM, since=window_start) if r.method == "GET" and r.time < window_end]
    single_gets = sum("tuningJobs/" in r.path for r in requests)
    remote.close()
    # TriggerEventEntry(trigger_id, event, ...) on Airflow 3.3, (trigger_id, event) before.
    statuses = Counter(entry[1].payload.get("status", "?") for entry in events)
    window_lags = [lag for at, lag in lags if window_start <= at < window_end]
    ramp_lags = [lag for at, lag in lags if at < window_start]
    window_samples = [s for s in samples if window_start <= s[0] < window_end]
    # A poll is a job state handed to a trigger: the shared watcher's answers (most from listings,
    # which are not GETs of one job), the comparison's own GETs.
    polls = answered if args.variant == "shared" else single_gets
    expected = n * window / interval
    return {
        "variant": args.variant,
        "triggers": n,
        "requested": args.triggers,
        "alive_in_window": triggers_alive,
        "ramp_s": ramp_done - seeded,
        "httpx_floor_ms": floor_ms,
        "interval": interval,
        "window": window,
        "rss_before": rss_before,
        "rss_end": rss_end,
        "kb_per_trigger": (rss_end - rss_before) / 1024 / n,
        "polls": polls,
        "requests": len(requests),
        "requests_per_poll": len(requests) / polls if polls else math.nan,
        "listed_pct": 100 * listed / answered if answered else 0.0,
        "expected_polls": expected,
        "poll_rate": polls / window,
        "cpu_window": cpu_window,
        "cpu_ms_per_poll": cpu_window * 1000 / polls if polls else math.nan,
        "emulator_cpu_share": emu_window / window,
        "sockets_max": max((s[2] for s in window_samples), default=0) - sockets_before,
        "sockets_median": median([s[2] for s in window_samples]) - sockets_before,
        "lag_ms_p50": median(window_lags) * 1000,
        "lag_ms_p99": percentile(window_lags, 99) * 1000,
        "lag_ms_max": max(window_lags, default=math.nan) * 1000,
        "ramp_lag_ms_max": max(ramp_lags, default=math.nan) * 1000,
        "events": dict(statuses),
        "failed_triggers": len(failures),
        "drain_s": drained - (seeded + running_s),
    }


async def httpx_floor(remote: Any, n: int = 200) -> float:
    """CPU ms of one GET with a bare ``httpx.AsyncClient``, sequentially, on this machine now:
    the floor under any httpx-based poll (the emulator adds no latency for these)."""
    import httpx

    from airflow_ft_provider.hooks.registry import hook_class_for_platform
    from airflow_ft_provider.testing import JobScript

    remote.set_latency(0.0, PLATFORM)
    job_id = remote.seed(PLATFORM, script=JobScript(running_s=0.0), project="bench-project")
    setup = await hook_class_for_platform(PLATFORM)(conn_id=CONN_ID).aprepare()
    url = setup.dialect.get_request(job_id).url
    headers = {"Authorization": f"Bearer {remote.api_key(PLATFORM)}"}
    async with httpx.AsyncClient() as client:
        await client.get(url, headers=headers)
        started = cpu_seconds()
        for _ in range(n):
            (await client.get(url, headers=headers)).raise_for_status()
        floor = (cpu_seconds() - started) * 1000 / n
    remote.set_latency(LATENCY, PLATFORM)
    return floor


# -- orchestration ---------------------------------------------------------------------------


def run(
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    interval: float | None = None,
    ramp: float | None = None,
    window: float | None = None,
) -> tuple[list[Row], list[str]]:
    sizes = sizes or ([20] if quick else [1000, 5000])
    interval = interval or (1.0 if quick else 10.0)
    ramp = ramp or (2.0 if quick else 15.0)
    window = window or (2.0 if quick else 10.0)
    # Seconds to wait for the events after the jobs end: one interval and 5 s. The client-per-poll
    # variant saturates at these sizes: it gets 10 s, and what it missed is shown.
    drain = {"shared": interval + 5.0, "per_poll": interval + 5.0 if quick else 10.0}
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with emulator_process() as emu:
        for n in sizes:
            for variant in VARIANTS:
                emu.remote.reset()
                emu.configure(PLATFORM, latency=LATENCY)
                args = [
                    *("--variant", variant, "--triggers", str(n), "--url", emu.url),
                    *("--interval", str(interval), "--ramp", str(ramp), "--window", str(window)),
                    *("--emulator-pid", str(emu.proc.pid), "--drain", str(drain[variant])),
                ]
                budget = 60 + ramp + window + drain[variant] + 60
                try:
                    results[(variant, n)] = run_worker("triggerer_scale", args, timeout=budget)
                except Exception as exc:  # a worker that never finishes is a result too
                    results[(variant, n)] = {"variant": variant, "error": str(exc).strip().splitlines()[-1][:300]}
    rows: list[Row] = []
    notes: list[str] = []
    for n in sizes:
        rows += _rows(n, interval, results[("shared", n)], results[("per_poll", n)], quick)
        for r in (results[("shared", n)], results[("per_poll", n)]):
            notes.append(_note(n, r))
    return rows, notes


def _rows(n: int, interval: float, s: dict[str, Any], p: dict[str, Any], quick: bool) -> list[Row]:
    title = f"{n} triggers, 1 poll/{interval:g} s each"

    def judged(ok: bool) -> str:
        return "" if quick else verdict(ok)

    def alt(text: Callable[[dict[str, Any]], str]) -> str:
        return f"client per poll {text(p)}" if "error" not in p else "client per poll: did not finish"

    def ratio(key: str, what: str) -> str:
        if "error" in p:
            return "n/a"
        return fmt_compare(p[key], s[key], what, "more")

    if "error" in s:
        return [Row("3 triggerer", title, alt(_events), f"did not finish: {s['error']}", "", "", judged(False), {})]
    if s["triggers"] < n:
        title += f" ({s['triggers']} started)"
    complete = s["triggers"] == n and s["events"].get("reached", 0) == n and not s["failed_triggers"]
    return [
        Row(
            "3 triggerer",
            f"{title}: RSS per trigger",
            alt(lambda r: f"{r['kb_per_trigger']:.1f} KB"),
            f"{s['kb_per_trigger']:.1f} KB",
            ratio("kb_per_trigger", "less"),
            f"≤ {TARGET_KB:g} KB",
            judged(s["kb_per_trigger"] <= TARGET_KB),
            {"shared": s, "per_poll": p},
        ),
        Row(
            "3 triggerer",
            f"{title}: CPU per poll",
            alt(lambda r: f"{r['cpu_ms_per_poll']:.2f} ms"),
            f"{s['cpu_ms_per_poll']:.2f} ms (bare httpx GET {s['httpx_floor_ms']:.2f} ms)",
            ratio("cpu_ms_per_poll", "less"),
            f"< {TARGET_CPU_MS:g} ms",
            judged(s["cpu_ms_per_poll"] < TARGET_CPU_MS),
        ),
        Row(
            "3 triggerer",
            f"{title}: open connections (max)",
            alt(lambda r: f"{r['sockets_max']:.0f}"),
            f"{s['sockets_max']:.0f}",
            ratio("sockets_max", "fewer"),
            "≤ pool (50)",
            judged(s["sockets_max"] <= 50),
        ),
        Row(
            "3 triggerer",
            f"{title}: loop lag p99 / max",
            alt(lambda r: f"{r['lag_ms_p99']:.0f} / {r['lag_ms_max']:.0f} ms"),
            f"{s['lag_ms_p99']:.0f} / {s['lag_ms_max']:.0f} ms",
            ratio("lag_ms_max", "less"),
            f"< {TARGET_LAG_MS:g} ms",
            judged(s["lag_ms_max"] < TARGET_LAG_MS),
        ),
        Row(
            "3 triggerer",
            f"{title}: polls done / expected, events",
            alt(lambda r: f"{r['polls'] / r['expected_polls']:.0%}, {_events(r)}"),
            f"{s['polls'] / s['expected_polls']:.0%}, {_events(s)}; {s['requests_per_poll']:.3f} requests "
            f"per poll, {s['listed_pct']:.0f} % from listings",
            "",
            f"{n} reached",
            judged(complete),
        ),
    ]


def _note(n: int, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['variant']} {n}: did not finish: {r['error']}"
    return (
        f"{r['variant']} {n}: {r['triggers']} of {r['requested']} triggers started, {r['poll_rate']:.0f} polls/s, "
        f"emulator CPU {r['emulator_cpu_share']:.0%} of a core, loop lag p50 {r['lag_ms_p50']:.1f} ms, "
        f"max while starting them {r['ramp_lag_ms_max']:.0f} ms (started in {r['ramp_s']:.1f} s), "
        f"median sockets {r['sockets_median']:.0f}, {r['alive_in_window']} triggers alive at the window's end, "
        f"RSS {r['rss_before'] / 2**20:.0f} -> {r['rss_end'] / 2**20:.0f} MB, "
        f"events {r['drain_s']:.1f} s after the jobs ended"
    )


def _events(result: dict[str, Any]) -> str:
    if "error" in result:
        return "did not finish"
    text = ", ".join(f"{n} {status}" for status, n in sorted(result["events"].items())) or "no events"
    if result["failed_triggers"]:
        text += f", {result['failed_triggers']} failed"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 triggers: checks that it works")
    parser.add_argument("--sizes", default=None, help="comma-separated trigger counts (default 1000,5000)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between polls (default 10)")
    parser.add_argument("--ramp", type=float, default=None, help="seconds at most to start the triggers (default 15)")
    parser.add_argument("--window", type=float, default=None, help="seconds measured after the ramp (default 10)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--triggers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--emulator-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drain", type=float, default=15.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    prepare_env()
    if args.worker:
        quiet_structlog()
        emit(asyncio.run(triggerer(args)))
        return 0
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else None
    rows, notes = run(args.quick, sizes, args.interval, args.ramp, args.window)
    print_rows("Triggerer scale", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
