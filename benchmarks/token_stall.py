"""Token stall: a token endpoint that stops answering holds only the waits that need its credential.

One asyncio loop, as in a triggerer, runs ``--waits`` ``TuningJobStateTrigger`` waits on a
Vertex AI connection (a real service-account key, google-auth's JWT grant) and as many on an
OpenAI connection, all against the emulator (own process); every job stays running. The Vertex
AI key's ``token_uri`` is a small token endpoint in this process that passes the grant to the
emulator and shortens the token's life to ``--token-life`` seconds, so tokens expire mid-run.
At ``--stall-at`` seconds the endpoint stops answering: it accepts each request and never
answers (the connection's ``timeout`` is the default 30 s). Each Vertex AI wait has its own
deadline, spread evenly between ``--deadline-from`` and ``--deadline-to`` seconds after the start.
Every wait reads its own job every ``POLL`` seconds as a confirmation does (``urgent``: no
gathering into the watcher's listings), so that each connection's reads are many and timed one by one.

Measured:

- every read of the OpenAI connection (``AsyncTransport.call``, whoever makes it: the shared
  watcher's listings or single reads), its latency before the stall and while it lasts (from the
  first held token request until the last Vertex AI wait ended);
- how each Vertex AI wait ended: its event, and how late after its deadline;
- token requests, and the most credential-fetch threads (``ft-credential-*``) alive at once;
- event-loop lag (oversleep of a 100 ms ticker).

Run alone: ``python -m benchmarks.token_stall [--quick] [--waits 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.common import Row, emulator_process, percentile, prepare_env, print_rows, quiet_structlog, verdict

VERTEX_CONN, OPENAI_CONN = "bench_stall_vertex", "bench_stall_openai"
#: The other connection's reads must keep their schedule: p99 during the stall within this.
TARGET_P99_S = 1.0


@dataclass
class Plan:
    waits: int
    #: Seconds between a wait's reads.
    poll: float
    #: The life of each token the endpoint grants (refreshed a fifth of it before it ends).
    token_life: float
    #: When the token endpoint stops answering (it is asked again once the token is stale).
    stall_at: float
    deadline_from: float
    deadline_to: float


FULL = {"waits": 200, "poll": 2.0, "token_life": 15.0, "stall_at": 8.0, "deadline_from": 20.0, "deadline_to": 30.0}
QUICK = {"waits": 20, "poll": 1.0, "token_life": 5.0, "stall_at": 2.0, "deadline_from": 6.0, "deadline_to": 8.0}


class TokenEndpoint:
    """Google's token endpoint in front of the emulator's: the grant passes through, the token's
    life is cut to ``life`` seconds; after :meth:`stall`, requests are accepted and never answered."""

    def __init__(self, upstream: str, life: float) -> None:
        import httpx

        self.upstream, self.life = upstream, life
        self.stalled = threading.Event()
        self.stopping = threading.Event()
        self.requests = 0
        self.held = 0
        self.first_held: float | None = None  # time.monotonic()
        self._client = httpx.Client(timeout=10)
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with endpoint._lock:
                    endpoint.requests += 1
                    stalled = endpoint.stalled.is_set()
                    if stalled:
                        endpoint.held += 1
                        endpoint.first_held = endpoint.first_held or time.monotonic()
                if stalled:
                    endpoint.stopping.wait()  # accepted, never answered
                    return
                answer = endpoint._client.post(
                    endpoint.upstream, content=body, headers={"Content-Type": self.headers["Content-Type"]}
                )
                granted = answer.json()
                if "expires_in" in granted:
                    granted["expires_in"] = int(endpoint.life)
                data = json.dumps(granted).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def stall(self) -> None:
        self.stalled.set()

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


@dataclass
class Reads:
    """The OpenAI connection's reads: (started, seconds) as ``time.monotonic()``."""

    done: list[tuple[float, float]] = field(default_factory=list)
    failed: int = 0


def record_reads(platform: str, reads: Reads) -> Any:
    """Wrap ``AsyncTransport.call`` to time every call of ``platform``; returns the undo."""
    from airflow_ft_provider.transport.aio import AsyncTransport

    original = AsyncTransport.call

    async def call(self: Any, request: Any, parse: Any, **kwargs: Any) -> Any:
        if self.dialect.platform != platform:
            return await original(self, request, parse, **kwargs)
        started = time.monotonic()
        try:
            result = await original(self, request, parse, **kwargs)
        except Exception:
            reads.failed += 1
            raise
        reads.done.append((started, time.monotonic() - started))
        return result

    AsyncTransport.call = call  # type: ignore[method-assign]
    return lambda: setattr(AsyncTransport, "call", original)


def credential_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("ft-credential-"))


async def triggerer(plan: Plan, remote: Any, endpoint: TokenEndpoint) -> dict[str, Any]:
    from airflow_ft_provider.process_cache import process_cache
    from airflow_ft_provider.testing import JobScript
    from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger
    from benchmarks.common import connection, set_connection

    vertex = connection(remote, "vertex_ai")
    key = json.loads(vertex["password"])
    key["token_uri"] = endpoint.url
    vertex["password"] = json.dumps(key)
    set_connection(VERTEX_CONN, vertex)
    set_connection(OPENAI_CONN, connection(remote, "openai"))
    forever = JobScript(running_s=None)
    vertex_jobs = remote.seed_many("vertex_ai", plan.waits, script=forever, project="bench-project")
    openai_jobs = remote.seed_many("openai", plan.waits, script=forever)

    # Warm up as a running triggerer is: both connections read, imports done, the first token
    # granted (its life runs from here).
    from airflow_ft_provider.hooks.api_key import OpenAITuningHook
    from airflow_ft_provider.hooks.vertex_ai import VertexAITuningHook

    await VertexAITuningHook(VERTEX_CONN).aget_job(vertex_jobs[0])
    await OpenAITuningHook(OPENAI_CONN).aget_job(openai_jobs[0])

    reads = Reads()
    undo = record_reads("openai", reads)
    ended: dict[str, tuple[str, float]] = {}  # Vertex AI job -> (event status, seconds after its deadline)
    lags: list[float] = []
    most_threads = 0
    stop = asyncio.Event()
    t0 = time.monotonic()
    wall0 = time.time()

    async def ticker() -> None:
        nonlocal most_threads
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.1)
            lags.append(time.monotonic() - before - 0.1)
            most_threads = max(most_threads, credential_threads())

    async def stall_later() -> None:
        await asyncio.sleep(plan.stall_at)
        endpoint.stall()

    async def vertex_wait(i: int, job_id: str) -> None:
        spread = plan.deadline_to - plan.deadline_from
        deadline = wall0 + plan.deadline_from + spread * i / max(1, plan.waits - 1)
        trigger = TuningJobStateTrigger(
            conn_id=VERTEX_CONN, platform="vertex_ai", job_id=job_id, deadline=deadline,
            min_poll_interval=plan.poll, poll_interval=plan.poll, urgent=True,
        )  # fmt: skip
        events = [event.payload async for event in trigger.run()]
        await trigger.cleanup()
        status = events[0]["status"] if len(events) == 1 else f"{len(events)} events"
        ended[job_id] = (status, time.time() - deadline)

    async def openai_wait(job_id: str) -> None:
        trigger = TuningJobStateTrigger(
            conn_id=OPENAI_CONN, platform="openai", job_id=job_id,
            min_poll_interval=plan.poll, poll_interval=plan.poll, urgent=True,
        )  # fmt: skip
        try:
            async for _ in trigger.run():
                pass
        finally:
            await trigger.cleanup()

    helpers = [asyncio.create_task(ticker()), asyncio.create_task(stall_later())]
    others = [asyncio.create_task(openai_wait(job)) for job in openai_jobs]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(vertex_wait(i, job) for i, job in enumerate(vertex_jobs))),
            plan.deadline_to + 60,
        )
        vertex_over = time.monotonic()
        await asyncio.sleep(1.0)  # the other connection's reads just after
    finally:
        stop.set()
        for task in others:
            task.cancel()
        await asyncio.gather(*helpers, *others, return_exceptions=True)
        undo()
        await asyncio.wait_for(process_cache.aclose(), 10)

    stall_from = endpoint.first_held
    before = [s for started, s in reads.done if started - t0 >= 1.0 and (stall_from is None or started < stall_from)]
    during = [s for started, s in reads.done if stall_from is not None and stall_from <= started < vertex_over]
    late = [after for _, after in ended.values()]
    return {
        "waits": plan.waits,
        "vertex_events": dict(Counter(status for status, _ in ended.values())),
        "vertex_ended": len(ended),
        "late_p50_s": percentile(late, 50) if late else None,
        "late_max_s": max(late) if late else None,
        "early_min_s": min(late) if late else None,
        "openai_before": summary(before),
        "openai_during": summary(during),
        "openai_failed": reads.failed,
        "stall_s": None if stall_from is None else vertex_over - stall_from,
        "token_requests": endpoint.requests,
        "token_requests_held": endpoint.held,
        "credential_threads_max": most_threads,
        "lag_max_ms": max(lags) * 1000 if lags else 0.0,
        "lag_p99_ms": percentile(lags, 99) * 1000 if lags else 0.0,
    }


def summary(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"reads": 0}
    return {
        "reads": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def measure(plan: Plan) -> dict[str, Any]:
    with emulator_process() as emu:
        endpoint = TokenEndpoint(emu.remote.service_account_info("bench-project")["token_uri"], plan.token_life)
        try:
            return asyncio.run(triggerer(plan, emu.remote, endpoint))
        finally:
            endpoint.close()


def fmt_reads(reads: dict[str, Any]) -> str:
    if not reads.get("reads"):
        return "no reads"
    return f"p50 {reads['p50_ms']:.0f} ms, p99 {reads['p99_ms']:.0f} ms ({reads['reads']} reads)"


def run(quick: bool = False, waits: int | None = None) -> tuple[list[Row], list[str]]:
    values = dict(QUICK if quick else FULL)
    if waits:
        values["waits"] = waits
    plan = Plan(**values)  # type: ignore[arg-type]
    result = measure(plan)
    title = "6 token stall"
    during, before = result["openai_during"], result["openai_before"]
    all_timeout = result["vertex_events"] == {"timeout": plan.waits}
    kept = bool(during.get("reads")) and during["p99_ms"] <= TARGET_P99_S * 1000
    rows = [
        Row(
            title,
            f"OpenAI read latency, {plan.waits} waits, before / during the stall",
            fmt_reads(before),
            fmt_reads(during),
            "",
            f"p99 during <= {TARGET_P99_S:g} s",
            verdict(kept),
            {"result": result, "plan": values},
        ),
        Row(
            title,
            f"Vertex AI waits ({plan.waits}): how they ended",
            f"deadlines {plan.deadline_from:g}-{plan.deadline_to:g} s",
            ", ".join(f"{n} {status}" for status, n in sorted(result["vertex_events"].items())),
            "",
            "every one: timeout at its deadline (+1 s)",
            verdict(all_timeout and (result["late_max_s"] or 0) <= 1.0),
            {},
        ),
        Row(
            title,
            "Vertex AI: after the deadline (p50 / max); token requests; credential threads",
            f"token life {plan.token_life:g} s, stall from {plan.stall_at:g} s",
            f"{result['late_p50_s']:.2f} / {result['late_max_s']:.2f} s; {result['token_requests']} "
            f"({result['token_requests_held']} held); {result['credential_threads_max']} thread(s)",
            "",
            "1 thread",
            verdict(result["credential_threads_max"] <= 1),
            {},
        ),
    ]
    notes = [
        f"stall: {result['stall_s']:.1f} s from the first held token request to the last Vertex AI wait's end"
        if result["stall_s"] is not None
        else "the token endpoint was never asked during the stall (tokens did not expire in time)",
        f"OpenAI reads that failed: {result['openai_failed']}; loop lag p99 {result['lag_p99_ms']:.0f} ms, "
        f"max {result['lag_max_ms']:.0f} ms",
        f"earliest end relative to its deadline: {result['early_min_s']:+.2f} s",
    ]
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.token_stall", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 waits, a few seconds (figures mean little)")
    parser.add_argument("--waits", type=int, default=None, help="waits per connection (default 200)")
    args = parser.parse_args(argv)
    prepare_env()
    quiet_structlog()
    import logging

    logging.getLogger("airflow_ft_provider").setLevel(logging.CRITICAL)  # 200 waits' retry warnings
    rows, notes = run(args.quick, args.waits)
    print_rows("Token stall", rows, notes)
    print(json.dumps(rows[0].data["result"], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
