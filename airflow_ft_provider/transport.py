"""The one place that does HTTP: runs a dialect's requests through httpx, sync or async.

Both transports share every decision (what to retry, how long to wait, how to map a
network failure); they differ only in ``await``. Retries use tenacity: 429, 5xx,
connect/read errors and unreadable bodies are retried with capped exponential backoff and
jitter, honouring the platform's hint (``Retry-After``, ``retry-after-ms``, Google's
``RetryInfo.retryDelay``); every other error is raised at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from airflow_ft_provider.errors import PlatformUnavailableError, RateLimitedError, TuningJobError
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ClientSettings:
    """Per-connection HTTP behaviour; every field can be set from the connection's extras."""

    #: Seconds for one request (read/write/pool); connecting gets at most 10 s of it.
    timeout: float = 30.0
    #: Tries per call, the first included.
    max_attempts: int = 6
    #: Give up retrying once this many seconds have passed since the first try.
    max_retry_seconds: float = 300.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    #: Platform hints longer than this are capped (a bad header must not stall a task).
    max_retry_after: float = 120.0
    verify_tls: bool = True
    #: Connections open at most: per hook on a worker, and per connection in a triggerer
    #: process (shared by all its triggers).
    max_connections: int = 50

    def client_kwargs(self, max_connections: int | None = None) -> dict[str, object]:
        connections = max_connections or self.max_connections
        return {
            "timeout": httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            "verify": self.verify_tls,
            "limits": httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            "follow_redirects": False,
        }


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, TuningJobError) and exc.retryable


def _retry_options(settings: ClientSettings, dialect: Dialect, request: ApiRequest) -> dict[str, object]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            # A little jitter on top of the hint, so clients throttled together do not return together.
            return float(min(hint, settings.max_retry_after)) + random.uniform(0, 0.1 + hint / 4)
        # Capped exponential backoff with "equal jitter": half fixed, half random, so
        # clients that failed together do not retry together.
        ceiling = min(settings.backoff_max, settings.backoff_initial * 2 ** (state.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s %s %s failed (attempt %d of %d): %s; retrying in %.1f s",
            dialect.platform,
            request.operation,
            request.job_id or "",
            state.attempt_number,
            settings.max_attempts,
            exc,
            delay,
        )

    attempts, deadline = stop_after_attempt(settings.max_attempts), stop_after_delay(settings.max_retry_seconds)

    def stop(state: RetryCallState) -> bool:
        # A platform asking us to slow down is not failing: rate limits are bounded by time
        # only, everything else by attempts as well.
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError):
            return bool(deadline(state))
        return bool(attempts(state) or deadline(state))

    return {
        "stop": stop,
        "wait": wait,
        "retry": retry_if_exception(_is_retryable),
        "before_sleep": before_sleep,
        "reraise": True,
    }


def _network_error(exc: httpx.HTTPError, dialect: Dialect, request: ApiRequest) -> PlatformUnavailableError:
    # A LocalProtocolError is about what we were about to send and may quote a header (the
    # credential): only its type is shown. Other httpx errors name the failure, never headers.
    reason = "the request could not be encoded" if isinstance(exc, httpx.LocalProtocolError) else str(exc)
    return PlatformUnavailableError(
        f"{type(exc).__name__} talking to {dialect.platform} ({request.method} {request.url}): {reason}",
        platform=dialect.platform,
        job_id=request.job_id,
    )


def _httpx_kwargs(request: ApiRequest, auth: httpx.Auth | None) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.url,
        "params": dict(request.params),
        "json": request.json,
        "headers": dict(request.headers),
        "auth": auth or httpx.USE_CLIENT_DEFAULT,
    }


def _checked(
    response: httpx.Response,
    dialect: Dialect,
    request: ApiRequest,
    started: float,
) -> ApiResponse:
    answer = ApiResponse(response.status_code, response.headers, response.content)
    log.debug(
        "%s %s -> %d in %.3f s",
        request.method,
        request.url,
        response.status_code,
        time.monotonic() - started,
    )
    if response.status_code >= 400:
        raise dialect.parse_error(answer, request)
    return answer


class SyncTransport:
    """Runs requests on a worker with a blocking ``httpx.Client``."""

    def __init__(
        self, dialect: Dialect, auth: httpx.Auth | None, settings: ClientSettings, client: httpx.Client
    ) -> None:
        self.dialect, self.auth, self.settings, self.client = dialect, auth, settings, client

    def call(self, request: ApiRequest, parse: Callable[[ApiResponse], T]) -> T:
        for attempt in Retrying(**_retry_options(self.settings, self.dialect, request)):  # type: ignore[arg-type]
            with attempt:
                started = time.monotonic()
                try:
                    response = self.client.request(**_httpx_kwargs(request, self.auth))
                except httpx.HTTPError as exc:
                    raise _network_error(exc, self.dialect, request) from None
                return parse(_checked(response, self.dialect, request, started))
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


class AsyncTransport:
    """Runs requests in the triggerer on a connection's shared :class:`AsyncClientPool`."""

    def __init__(
        self, dialect: Dialect, auth: httpx.Auth | None, settings: ClientSettings, pool: AsyncClientPool
    ) -> None:
        self.dialect, self.auth, self.settings, self.pool = dialect, auth, settings, pool

    async def call(self, request: ApiRequest, parse: Callable[[ApiResponse], T]) -> T:
        async for attempt in AsyncRetrying(**_retry_options(self.settings, self.dialect, request)):  # type: ignore[arg-type]
            with attempt:
                started = time.monotonic()
                try:
                    async with self.pool.lease() as client:
                        response = await client.request(**_httpx_kwargs(request, self.auth))
                except httpx.HTTPError as exc:
                    raise _network_error(exc, self.dialect, request) from None
                return parse(_checked(response, self.dialect, request, started))
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


#: Connections per AsyncClient of a pool. httpcore (1.0.x) scans its pool on every request in
#: time quadratic in its connections (encode/httpcore#1035, unmerged); at 50 connections that
#: scan was most of the triggerer's CPU in benchmarks/triggerer_scale.py. Small clients side
#: by side keep each scan short while the connection's whole ``max_connections`` stays usable.
CONNECTIONS_PER_CLIENT = 10


class AsyncClientPool:
    """``max_connections`` connections for all triggers of one connection, as a few small clients.

    A request leases the least busy client and waits, in a cheap asyncio queue, while that
    client's connections are all in use (rather than in httpcore's pool queue, which is
    scanned on every request). All clients share one SSL context: the CA bundle loads once.
    """

    def __init__(self, clients: list[httpx.AsyncClient], per_client: int) -> None:
        self.clients = clients
        self._gates = [asyncio.Semaphore(per_client) for _ in clients]
        self._busy = [0] * len(clients)

    @classmethod
    def build(cls, settings: ClientSettings) -> AsyncClientPool:
        """Blocking (loads the CA bundle): call it in a thread."""
        shards = max(1, -(-settings.max_connections // CONNECTIONS_PER_CLIENT))
        per_client = -(-settings.max_connections // shards)
        kwargs = settings.client_kwargs(max_connections=per_client)
        kwargs["verify"] = httpx.create_ssl_context(verify=settings.verify_tls)
        return cls([httpx.AsyncClient(**kwargs) for _ in range(shards)], per_client)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[httpx.AsyncClient]:
        index = min(range(len(self.clients)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            async with self._gates[index]:
                yield self.clients[index]
        finally:
            self._busy[index] -= 1

    @property
    def is_closed(self) -> bool:
        return any(client.is_closed for client in self.clients)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


# One pool per (event loop, connection settings): every trigger of a connection in a triggerer
# process shares it. Keyed by loop because an AsyncClient is bound to the loop that first used
# it; the weak map lets a finished loop's pools go.
_ASYNC_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[object, ...], AsyncClientPool]]
_ASYNC_POOLS = weakref.WeakKeyDictionary()


async def shared_async_pool(key: tuple[object, ...], settings: ClientSettings) -> AsyncClientPool:
    """The pool for ``key`` on the running loop, created on first use.

    Building clients loads the CA bundle (tens of milliseconds), so it happens in a thread:
    the triggerer's loop serves thousands of other triggers meanwhile. If two triggers race,
    the first pool wins and the spare is closed.
    """
    loop = asyncio.get_running_loop()
    pools = _ASYNC_POOLS.setdefault(loop, {})
    pool = pools.get(key)
    if pool is not None and not pool.is_closed:
        return pool
    made = await asyncio.to_thread(AsyncClientPool.build, settings)
    pool = pools.get(key)
    if pool is None or pool.is_closed:
        pool = pools[key] = made
    else:
        await made.aclose()
    return pool


async def close_shared_async_clients() -> None:
    """Close the running loop's pooled clients (tests and benchmarks; the triggerer never needs to)."""
    pools = _ASYNC_POOLS.pop(asyncio.get_running_loop(), {})
    for pool in pools.values():
        await pool.aclose()
