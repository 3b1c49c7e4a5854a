"""Credential exchanges against hostile servers: Google's token endpoint and AWS STS.

A Vertex AI connection holds a service-account key (an RSA key made here) whose ``token_uri``
points at a hostile server; a Bedrock connection assumes ``role_arn`` through an STS at
``sts_endpoint_url`` on one. A token endpoint that never answers, or trickles a byte a second,
ends the call at the connection's ``timeout`` (the exchange runs on the transport's bounds); a
gzip bomb there, or in the body of a 401 read before the credential retry, is refused at
``max_response_mb``; a refresh is single-flight, in one thread per credential; and a stalled
token endpoint delays only the calls that need that credential.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.process_cache import process_cache
from tests.hostile.conftest import QUICK, Target
from tests.hostile.servers import (
    LOCATION,
    PROJECT,
    Answer,
    HostileServer,
    delayed,
    google_token,
    gzip_bomb,
    hang,
    platform_answer,
    reply,
    sts_assumed_role,
    trickle,
)
from tests.hostile.support import (
    MARGIN,
    PROBE,
    ROOT,
    RSS_MARGIN_MB,
    SLACK,
    MemoryProbe,
    expect_error,
    expect_value,
    run,
    run_dag_timed,
)

ROLE = "arn:aws:iam::123456789012:role/hostile"
#: The attempt timeout of these tests: a token exchange is one attempt's worth of waiting. Scaled
#: with the load: building the library's client (botocore's STS client loads its service model)
#: is part of the exchange's time, and on a loaded machine a second went by before it sent anything.
TIMEOUT = 1.0 * SLACK
#: A job name Bedrock accepts (its server is never reached when the credential cannot be had).
BEDROCK_JOB = "hostile-job-1"
CREDENTIAL_THREAD = "ft-credential-"


@pytest.fixture(autouse=True)
def _fresh_process_cache() -> Iterator[None]:
    process_cache.reset()
    yield
    process_cache.reset()


@pytest.fixture(scope="module")
def private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_key(private_key: str, token_uri: str) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "hostile1",
        "private_key": private_key,
        "client_email": "tuner@hostile-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


@dataclass
class Exchange:
    """A connection whose credential is minted by a hostile endpoint."""

    target: Target
    #: The token endpoint (Google) or STS (AWS).
    token: HostileServer
    job_id: str
    platform: Platform

    @property
    def conn_id(self) -> str:
        return self.target.conn_id

    def hook(self) -> Any:
        return self.target.hook()


@pytest.fixture
def exchange(hostile, private_key, monkeypatch) -> Iterator[Callable[..., Exchange]]:
    """``exchange("vertex_ai" | "bedrock", token_answer, **extras)``: a platform server, a token
    endpoint answering ``token_answer`` (after ``first``, if given) and a connection using both."""
    servers: list[HostileServer] = []

    def make(
        platform: str,
        token_answer: Answer,
        *,
        first: Answer | None = None,
        cap_seconds: float = 15.0,
        **extra: Any,
    ) -> Exchange:
        token = HostileServer(Platform.OPENAI, cap_seconds=cap_seconds, cap_bytes=512 << 20).start()
        servers.append(token)
        if first is not None:
            token.then(first)
        token.always(token_answer)
        settings = {**QUICK, "timeout": TIMEOUT, **extra}
        if platform == "vertex_ai":
            target = hostile(Platform.VERTEX_AI, cap_seconds=cap_seconds, cap_bytes=512 << 20)
            key = service_account_key(private_key, f"{token.url}/token")
            target.update(password=json.dumps(key), extra={"project": PROJECT, "location": LOCATION, **settings})
            job_id = target.server.add_job()
            return Exchange(target, token, job_id, Platform.VERTEX_AI)
        pytest.importorskip("botocore")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        target = hostile(Platform.OPENAI, cap_seconds=cap_seconds, cap_bytes=512 << 20)
        target.update(
            conn_type="ft_bedrock",
            host=target.server.url,
            login="AKIAHOSTILE000000001",
            password=target.key,
            extra={"region_name": "us-east-1", "role_arn": ROLE, "sts_endpoint_url": f"{token.url}/", **settings},
        )
        return Exchange(target, token, BEDROCK_JOB, Platform.BEDROCK)

    yield make
    for server in servers:
        server.stop()


def acall(hook: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
    """``hook.a<operation>`` in a fresh event loop, its clients closed after."""

    async def main() -> Any:
        try:
            return await getattr(hook, f"a{operation}")(*args, **kwargs)
        finally:
            await process_cache.aclose()

    return asyncio.run(main())


def call(hook: Any, operation: str, *args: Any, mode: str, **kwargs: Any) -> Any:
    if mode == "sync":
        return getattr(hook, operation)(*args, **kwargs)
    return acall(hook, operation, *args, **kwargs)


def credential_threads(before: set[threading.Thread]) -> int:
    """Credential-fetch threads alive now that were not alive at ``before``."""
    return sum(1 for t in threading.enumerate() if t.name.startswith(CREDENTIAL_THREAD) and t not in before)


def credential_threads_now() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(CREDENTIAL_THREAD)}


# -- a silent token endpoint ends the call at the attempt's timeout --------------------------------
SILENT = {
    "never-answers": hang,
    "a-byte-a-second": lambda: trickle(1.0, headers_too=True),
}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("answer", SILENT)
@pytest.mark.parametrize("platform", ["vertex_ai", "bedrock"])
def test_a_silent_token_endpoint_ends_the_call_at_its_timeout(exchange, platform, answer, mode):
    ex = exchange(platform, SILENT[answer]())
    hook = ex.hook()
    outcome = run(lambda: call(hook, "get_job", ex.job_id, mode=mode), TIMEOUT)
    expect_error(outcome, "RequestTimeoutError", within=TIMEOUT, secret=ex.target.key)
    assert ex.token.count() == 1, f"{ex.token.count()} token requests"
    assert ex.target.server.count() == 0, "a request went to the platform without a credential"


@pytest.mark.parametrize(("platform", "mode"), [("vertex_ai", "sync"), ("bedrock", "async")])
def test_retries_of_a_silent_token_endpoint_stay_within_max_retries(exchange, platform, mode):
    ex = exchange(platform, hang(), max_retries=2)
    hook = ex.hook()
    bound = 3 * TIMEOUT + 2 * QUICK["backoff_max"]
    outcome = run(lambda: call(hook, "get_job", ex.job_id, mode=mode), bound)
    expect_error(outcome, "RequestTimeoutError", within=bound)
    assert 1 <= ex.token.count() <= 3, f"{ex.token.count()} token requests for 3 attempts"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_callers_deadline_cuts_a_token_exchange_short(exchange, mode):
    ex = exchange("vertex_ai", hang(), timeout=30)  # the exchange alone would wait 30 s
    hook = ex.hook()
    deadline = time.time() + 1.0
    outcome = run(lambda: call(hook, "get_job", ex.job_id, mode=mode, deadline=deadline), 1.0)
    expect_error(outcome, "RequestTimeoutError", within=1.0)


@pytest.mark.parametrize("platform", ["vertex_ai", "bedrock"])
def test_a_refused_credential_is_an_authentication_error(exchange, platform):
    refusal = (
        reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if platform == "vertex_ai"
        else reply(403, b"<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>", [], "text/xml")
    )
    ex = exchange(platform, refusal)
    outcome = run(lambda: ex.hook().get_job(ex.job_id), TIMEOUT)
    expect_error(outcome, "AuthenticationError", within=TIMEOUT, secret=ex.target.key)
    assert ex.target.server.count() == 0


# -- a token refresh: single-flight, one thread per credential --------------------------------------
async def _gather_gets(hook: Any, job_id: str, n: int, **kwargs: Any) -> tuple[list[Any], int]:
    """``n`` concurrent ``aget_job``; returns their outcomes and the most credential threads seen."""
    before = credential_threads_now()
    most = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, credential_threads(before))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        outcomes = await asyncio.gather(*(hook.aget_job(job_id, **kwargs) for _ in range(n)), return_exceptions=True)
    finally:
        done.set()
        await sampler
        await process_cache.aclose()
    return list(outcomes), most


def test_concurrent_async_calls_during_a_refresh_make_one_token_request(exchange):
    ex = exchange("vertex_ai", google_token(), first=delayed(0.5, google_token()), timeout=5)
    hook = ex.hook()
    outcome = run(lambda: asyncio.run(_gather_gets(hook, ex.job_id, 20)), 5)
    outcomes, most = expect_value(outcome, 5)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failures, failures[:3]
    assert ex.token.count() == 1, f"{ex.token.count()} token requests for 20 concurrent calls"
    assert ex.target.server.count("get") == 20
    assert most <= 1, f"{most} credential threads for one credential"


@pytest.mark.parametrize("platform", ["vertex_ai", "bedrock"])
def test_a_stalled_refresh_holds_one_thread_and_every_waiter_ends_at_its_deadline(exchange, platform):
    ex = exchange(platform, hang(), timeout=3)  # the default budget: waiting for a credential holds no place in it
    hook = ex.hook()
    deadline = time.time() + 1.0
    outcome = run(lambda: asyncio.run(_gather_gets(hook, ex.job_id, 30, deadline=deadline)), 1.0)
    outcomes, most = expect_value(outcome, 1.0)
    kinds = {type(o).__name__ for o in outcomes}
    assert kinds == {"RequestTimeoutError"}, kinds
    assert ex.token.count() == 1, f"{ex.token.count()} token requests for 30 waiters"
    assert most == 1, f"{most} credential threads for one stalled credential"


def test_concurrent_sync_calls_during_a_refresh_make_one_token_request(exchange):
    ex = exchange("vertex_ai", google_token(), first=delayed(0.5, google_token()), timeout=5)
    hook = ex.hook()
    hook.prepare()  # the connection is read once; the calls share its auth
    results: list[Any] = []

    def one() -> None:
        try:
            results.append(hook.get_job(ex.job_id))
        except TuningJobError as exc:
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5 + MARGIN)
    assert len(results) == 8 and not [r for r in results if isinstance(r, Exception)], results[:3]
    assert ex.token.count() == 1, f"{ex.token.count()} token requests for 8 concurrent calls"


# -- a stalled token endpoint delays only that credential's calls ---------------------------------
def test_a_stalled_token_endpoint_does_not_delay_another_connection(exchange, hostile):
    ex = exchange("vertex_ai", hang(), timeout=3)
    other = hostile(Platform.OPENAI)
    other_job = other.server.add_job()
    vertex, openai = ex.hook(), other.hook()

    async def main() -> tuple[Any, int, int]:
        stalled = asyncio.ensure_future(vertex.aget_job(ex.job_id))
        reads_during = 0
        try:
            await asyncio.sleep(0.1)  # the refresh is under way
            while not stalled.done():
                await openai.aget_job(other_job)
                if not stalled.done():
                    reads_during += 1
            failure = stalled.exception()
            return failure, reads_during, other.server.count("get")
        finally:
            await process_cache.aclose()

    outcome = run(lambda: asyncio.run(main()), 3.0)
    failure, reads_during, reads = expect_value(outcome, 3.0)
    assert type(failure).__name__ == "RequestTimeoutError", failure
    # Three seconds of stall: a read of a local server takes milliseconds. Ten is a loaded machine.
    assert reads_during >= 10, f"only {reads_during} reads of the other connection during the stall"
    assert reads >= reads_during
    assert ex.token.count() == 1


def test_a_deferred_wait_ends_at_its_deadline_while_another_connections_wait_ends_on_time(exchange, emu, connections):
    from airflow_ft_provider.testing import JobScript
    from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger
    from tests.conftest import conn_id_for

    ex = exchange("vertex_ai", hang(), timeout=30)  # the exchange alone would wait 30 s
    healthy_job = emu.seed(Platform.OPENAI, script=JobScript(running_s=1.0))
    ended: dict[str, tuple[list[dict], float]] = {}
    deadline_s = 2.0 * SLACK  # time to read the connection and sign the key's JWT, even under load

    def trigger(conn_id: str, platform: Platform, job_id: str, deadline: float) -> TuningJobStateTrigger:
        return TuningJobStateTrigger(
            conn_id=conn_id,
            platform=platform,
            job_id=job_id,
            deadline=deadline,
            min_poll_interval=0.2,
            poll_interval=0.5,
        )

    async def watch(name: str, trig: TuningJobStateTrigger) -> None:
        started = time.monotonic()
        events = [event.payload async for event in trig.run()]
        await trig.cleanup()
        ended[name] = (events, time.monotonic() - started)

    async def main() -> None:
        now = time.time()
        try:
            await asyncio.gather(
                watch("stalled", trigger(ex.conn_id, Platform.VERTEX_AI, ex.job_id, now + deadline_s)),
                watch("healthy", trigger(conn_id_for(Platform.OPENAI), Platform.OPENAI, healthy_job, now + 30)),
            )
        finally:
            await process_cache.aclose()

    run(lambda: asyncio.run(main()), deadline_s)
    assert "healthy" in ended, "the healthy trigger did not finish while the token endpoint stalled"
    events, elapsed = ended["healthy"]
    assert [e["status"] for e in events] == ["reached"], events
    assert elapsed <= 1.0 + 0.5 + MARGIN, f"the healthy trigger ended after {elapsed:.1f} s"
    assert "stalled" in ended, f"the stalled trigger was still waiting {MARGIN} s after its deadline"
    events, elapsed = ended["stalled"]
    assert [e["status"] for e in events] == ["timeout"], events
    assert elapsed <= deadline_s + MARGIN, f"the stalled trigger ended after {elapsed:.1f} s"
    assert ex.token.count() == 1


# -- the operator, on a worker and deferred ---------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("platform", "deferrable"),
    [("vertex_ai", False), ("vertex_ai", True), ("bedrock", False)],
    ids=["vertex-worker", "vertex-deferred", "bedrock-worker"],
)
def test_cancel_operator_ends_by_its_timeout_when_the_token_endpoint_stalls(exchange, platform, deferrable):
    from tests.hostile.support import warm_up
    from tests.hostile.test_dags import BOUND, CANCEL, DEADLINE, HOSTILE_FOR, WAIT, assert_ended_in_time, dag_source

    warm_up()  # before the token endpoint is scripted: its stall must outlast Airflow's set-up
    ex = exchange(platform, hang(), cap_seconds=HOSTILE_FOR, timeout=30, max_retries=5)
    dag_id = f"hostile_cancel_token_{platform}_{int(deferrable)}"
    source = dag_source(
        dag_id, CANCEL, conn_id=ex.conn_id, job_id=ex.job_id, deferrable=deferrable, timeout=DEADLINE, **WAIT
    )
    result, elapsed = run_dag_timed(dag_id, source)
    assert_ended_in_time(result, elapsed)
    assert elapsed <= BOUND
    assert ex.target.server.count() == 0, "a request went to the platform without a credential"
    assert ex.token.count() >= 1


# -- gzip bombs: the token endpoint's answer, and a 401 body before the credential retry -----------
LIMIT_MB = 2


def bomb(status: int = 200) -> Answer:
    """2 GiB of zeros gzipped twice (a few KB), ``Content-Encoding: gzip, gzip``."""
    return reply(status, gzip_bomb(2048), [("Content-Encoding", "gzip, gzip")])


def measured_refresh(hook: Any, spec: dict[str, Any], limit_heap: Callable[[int], None]) -> dict[str, Any]:
    """In the probe's child: a warm-up read (imports, clients, a credential), then, when
    ``spec["refresh"]``, the credential refused so that the measured read fetches another; peak
    RSS before and after the measured read."""
    import resource

    job_id = spec["job_id"]
    report: dict[str, Any] = {"error": None}

    def peak_kb() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def before(auth: Any) -> float:
        if spec["refresh"]:
            auth.invalidate(auth._minted.credential)
        report["before_kb"] = peak_kb()
        limit_heap(spec["heap_limit_mb"])
        return time.monotonic()

    def after(started: float, exc: BaseException | None) -> None:
        report["elapsed"] = time.monotonic() - started
        report["after_kb"] = peak_kb()
        if exc is not None:
            report["error"], report["message"] = type(exc).__name__, str(exc)[:300]

    if spec["mode"] == "sync":
        try:
            hook.get_job(job_id)
        except TuningJobError as exc:  # Bedrock's platform is not spoken here: the credential was had
            report["warm_up"] = type(exc).__name__
        started, error = before(hook.prepare().auth), None
        try:
            hook.get_job(job_id)
        except BaseException as exc:
            error = exc
        after(started, error)
        return report

    async def main() -> None:
        try:
            await hook.aget_job(job_id)
        except TuningJobError as exc:
            report["warm_up"] = type(exc).__name__
        started, error = before((await hook.aprepare()).auth), None
        try:
            await hook.aget_job(job_id)
        except BaseException as exc:
            error = exc
        after(started, error)
        await process_cache.aclose()

    asyncio.run(main())
    return report


class CredentialProbe(MemoryProbe):
    """:class:`MemoryProbe` measuring :func:`measured_refresh`."""

    def __init__(self) -> None:
        script = PROBE.replace(
            "from tests.hostile.support import measured_call",
            "from tests.hostile.test_credentials import measured_refresh as measured_call",
        ).replace('("openai", "vertex_ai")', '("openai", "vertex_ai", "bedrock")')
        assert "measured_refresh" in script
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self._until("READY")

    def measure_refresh(self, ex: Exchange, *, mode: str, refresh: bool) -> dict[str, Any]:
        spec = {
            "conn_id": ex.conn_id,
            "conn": ex.target.conn,
            "job_id": ex.job_id,
            "mode": mode,
            "refresh": refresh,
            "heap_limit_mb": 1024,
        }
        self.stdin.write(json.dumps(spec) + "\n")
        self.stdin.flush()
        report = json.loads(self._until("RESULT "))
        assert "after_kb" in report, f"the measurement did not finish: {report}"
        report["growth_mb"] = (report["after_kb"] - report["before_kb"]) / 1024
        return report


@pytest.fixture(scope="module")
def probe():
    probe = CredentialProbe()
    yield probe
    probe.close()


def expect_refused_within_memory(report: dict[str, Any]) -> None:
    outcome = (
        f"{report['error']} ({report.get('message', '')}) after {report['elapsed']:.2f} s, "
        f"peak RSS +{report['growth_mb']:.0f} MB"
    )
    assert report["error"] == "ResponseTooLargeError", f"expected ResponseTooLargeError, got {outcome}"
    assert report["elapsed"] <= TIMEOUT + MARGIN, outcome
    assert report["growth_mb"] <= LIMIT_MB + RSS_MARGIN_MB, f"peak RSS grew more than allowed: {outcome}"


@pytest.mark.slow
@pytest.mark.parametrize(("platform", "mode"), [("vertex_ai", "sync"), ("bedrock", "async")])
def test_a_gzip_bomb_from_the_token_endpoint_is_refused_at_the_limit(exchange, probe, platform, mode):
    first = google_token() if platform == "vertex_ai" else sts_assumed_role()
    ex = exchange(platform, bomb(), first=first, max_response_mb=LIMIT_MB, timeout=10)
    report = probe.measure_refresh(ex, mode=mode, refresh=True)
    expect_refused_within_memory(report)
    assert ex.token.count() == 2, f"{ex.token.count()} token requests (a warm-up, then the bomb)"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_gzip_bomb_in_a_401_body_is_refused_before_the_credential_retry(exchange, probe, mode):
    ex = exchange("vertex_ai", google_token(), max_response_mb=LIMIT_MB, timeout=10)
    ex.target.server.then(platform_answer()).always(bomb(401))
    report = probe.measure_refresh(ex, mode=mode, refresh=False)
    expect_refused_within_memory(report)
    assert ex.token.count() == 1, "the 401's body was refused: no credential retry"
    assert ex.target.server.count("get") == 2
