"""Confirmation latency: how soon a cancelled job is confirmed, and what the wait costs.

Jobs whose cancellation takes ``--spread`` seconds (default evenly 2 to 30 s) on the Vertex AI
emulator (own process, 50 ms added latency). Each job gets one ``CancelTuningJobOperator``
task, run with ``execute(context)`` in its own thread (the operator's work, without a
DAG run's fixed overhead):

- **provider**: default settings (polls 1 s apart at first, backing off to 30 s);
- **fixed poke**: the same operator with ``min_poll_interval = poll_interval = 60``, i.e. a
  fixed 60 s poke interval, the usual sensor setting.

Both sets run at the same time. For each job the benchmark takes the moment the emulator
accepted the cancel (from its request log; same monotonic clock) plus the job's scripted
cancellation time, which is when it became CANCELLED, and subtracts it from the moment
``execute`` returned. Requests per job are counted in the emulator's log.

The steady-state cost (a wait that lasts an hour) is *computed*, not timed: the provider's
own ``wait_flow`` is driven with a simulated clock against a job that never ends, and the
GETs it asks for are counted.

Run alone: ``python -m benchmarks.confirmation_latency [--quick]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, cast

from benchmarks.common import (
    Row,
    emulator_process,
    fmt_ratio,
    median,
    percentile,
    prepare_env,
    print_rows,
    quiet_structlog,
    verdict,
)

PLATFORM = "vertex_ai"
LATENCY = 0.05
TARGET_MEDIAN_S = 2.0
TARGET_STEADY_PER_30S = 1.0


class _TaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def simulated_gets(minimum: float, maximum: float, horizon: float, ramp: float = 0.1) -> list[float]:
    """When ``wait_flow`` reads a job that never ends over ``horizon`` seconds (simulated clock)."""
    from airflow_ft_provider.flows import GetJob, PollSchedule, Sleep, wait_flow
    from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState

    running = TuningJob(platform=Platform.VERTEX_AI, job_id="j", state=TuningJobState.RUNNING, native_state="R")
    now = [0.0]
    flow = wait_flow("j", deadline=None, schedule=PollSchedule(minimum, maximum, ramp), clock=lambda: now[0])
    step = next(flow)
    gets: list[float] = []
    while now[0] < horizon:
        if isinstance(step, GetJob):
            gets.append(now[0])
            step = flow.send(running)
        elif isinstance(step, Sleep):
            now[0] += step.seconds
            step = flow.send(None)
        else:
            raise AssertionError(step)
    return gets


def steady_rate(gets: Sequence[float], since: float, until: float) -> float:
    """Requests per 30 s between ``since`` and ``until``."""
    inside = [t for t in gets if since <= t < until]
    return len(inside) * 30.0 / (until - since)


def run(
    quick: bool = False, jobs: int | None = None, spread: tuple[float, float] | None = None, poke: float | None = None
) -> tuple[list[Row], list[str]]:
    from airflow_ft_provider.testing import JobScript
    from benchmarks.common import connection, set_connection

    jobs = jobs or (3 if quick else 15)
    low, high = spread or ((0.5, 1.5) if quick else (2.0, 30.0))
    poke = poke or (3.0 if quick else 60.0)
    delays = [low + (high - low) * i / max(1, jobs - 1) for i in range(jobs)]
    variants: dict[str, dict[str, Any]] = {
        "provider": {},
        "fixed": {"min_poll_interval": poke, "poll_interval": poke},
    }

    from airflow_ft_provider.hooks.registry import get_hook
    from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

    finished: dict[tuple[str, str], float] = {}
    errors: list[str] = []
    with emulator_process() as emu:
        remote = emu.remote
        emu.configure(PLATFORM, latency=LATENCY)
        conn_id = set_connection("bench_confirm", connection(remote, PLATFORM))
        get_hook(conn_id).close()  # reads the connection and imports the hook before the clock starts
        seeded = {
            name: [
                remote.seed(PLATFORM, script=JobScript(running_s=None, cancel_s=d), project="bench-project")
                for d in delays
            ]
            for name in variants
        }

        def task(name: str, job_id: str) -> None:
            try:
                operator = CancelTuningJobOperator(task_id="cancel", conn_id=conn_id, job_id=job_id, **variants[name])
                operator.execute(cast(Any, {"ti": _TaskInstance()}))
                finished[(name, job_id)] = time.monotonic()
            except Exception as exc:
                errors.append(f"{name} {job_id}: {type(exc).__name__}: {exc}")

        since = time.monotonic()
        threads = [
            threading.Thread(target=task, args=(name, job_id), daemon=True)
            for name, ids in seeded.items()
            for job_id in ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(high + poke + 120)
        records = remote.requests(PLATFORM, since=since)

    results: dict[str, dict[str, Any]] = {}
    for name, ids in seeded.items():
        latencies, requests = [], []
        for job_id, delay in zip(ids, delays, strict=True):
            native = job_id.rsplit("/", 1)[-1]
            mine = [r for r in records if r.path.split("/")[-1].split(":")[0] == native]
            cancel = next((r for r in mine if r.method == "POST" and r.path.endswith(":cancel")), None)
            if cancel is None or (name, job_id) not in finished:
                continue
            cancelled_at = cancel.time + LATENCY + delay
            latencies.append(finished[(name, job_id)] - cancelled_at)
            requests.append(len(mine))
        results[name] = {"latencies": latencies, "requests": requests}

    horizon = 3600.0
    default_gets = simulated_gets(1.0, 30.0, horizon)
    fixed_gets = simulated_gets(poke, poke, horizon, ramp=0.0)
    steady = steady_rate(default_gets, 600.0, horizon)
    p, f = results["provider"], results["fixed"]
    p_med, f_med = median(p["latencies"]), median(f["latencies"])
    complete = len(p["latencies"]) == jobs and len(f["latencies"]) == jobs
    judged = "" if quick else verdict(p_med < TARGET_MEDIAN_S and steady <= TARGET_STEADY_PER_30S and complete)
    rows = [
        Row(
            "4 confirmation",
            f"{jobs} jobs, cancel takes {low:g}-{high:g} s: CANCELLED → task done (median, p90)",
            f"fixed {poke:g} s poke {f_med:.1f} s, {percentile(f['latencies'], 90):.1f} s",
            f"{p_med:.2f} s, {percentile(p['latencies'], 90):.2f} s",
            fmt_ratio(f_med / p_med if p_med > 0 else float("nan"), "sooner"),
            f"median < {TARGET_MEDIAN_S:g} s",
            judged if complete else "MISSED",
            {"provider": p, "fixed": f, "delays": delays, "errors": errors},
        ),
        Row(
            "4 confirmation",
            "requests per job during it (median; read + cancel included)",
            f"fixed {poke:g} s poke {median(f['requests']):.0f}",
            f"{median(p['requests']):.0f}",
            fmt_ratio(median(p["requests"]) / median(f["requests"]), "as many"),
            "",
            "",
        ),
        Row(
            "4 confirmation",
            "steady wait: requests per 30 s per job (computed, 10-60 min)",
            f"fixed {poke:g} s poke {steady_rate(fixed_gets, 600.0, horizon):.2f}",
            f"{steady:.2f} ({len(default_gets)} in the 1st hour, {sum(t < 600 for t in default_gets)} in 10 min)",
            fmt_ratio(steady / steady_rate(fixed_gets, 600.0, horizon), "as many"),
            f"≤ {TARGET_STEADY_PER_30S:g}",
            "" if quick else verdict(steady <= TARGET_STEADY_PER_30S),
        ),
    ]
    notes = [f"errors: {'; '.join(errors)}"] if errors else []
    if not complete:
        notes.append(f"only {len(p['latencies'])} + {len(f['latencies'])} of {jobs} + {jobs} tasks finished")
    notes.append(
        "provider latencies (s) by cancel time: "
        + ", ".join(f"{d:.0f}→{lat:.2f}" for d, lat in zip(delays, p["latencies"], strict=False))
    )
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 short jobs and a 3 s poke: checks that it works")
    parser.add_argument("--jobs", type=int, default=None, help="jobs per variant (default 15)")
    parser.add_argument("--spread", default=None, help="cancellation times LOW:HIGH in seconds (default 2:30)")
    parser.add_argument("--poke", type=float, default=None, help="the fixed poke interval compared (default 60)")
    args = parser.parse_args(argv)
    prepare_env()
    quiet_structlog(logging.ERROR)  # execute() outside a task runner warns once per task
    spread = tuple(float(x) for x in args.spread.split(":")) if args.spread else None
    rows, notes = run(args.quick, args.jobs, spread, args.poke)  # type: ignore[arg-type]
    print_rows("Confirmation latency", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
