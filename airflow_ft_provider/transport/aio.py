"""The transport in the triggerer: pooled ``httpx.AsyncClient``\\ s, each attempt under ``asyncio.timeout``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying

from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect
from airflow_ft_provider.transport import exchange
from airflow_ft_provider.transport.budget import RequestBudget
from airflow_ft_provider.transport.retries import RetryPolicy, retry_options
from airflow_ft_provider.transport.settings import ClientSettings

T = TypeVar("T")

#: Connections per AsyncClient of a pool. httpcore (1.0.x) scans its pool on every request in
#: time quadratic in its connections (encode/httpcore#1035, unmerged); at 50 connections that
#: scan was most of the triggerer's CPU in benchmarks/triggerer_scale.py. Small clients side
#: by side keep each scan short while the connection's whole ``max_connections`` stays usable.
CONNECTIONS_PER_CLIENT = 10


class AsyncTransport:
    def __init__(
        self,
        dialect: Dialect,
        auth: httpx.Auth | None,
        settings: ClientSettings,
        pool: AsyncClientPool,
        budget: RequestBudget,
    ) -> None:
        self.dialect, self.auth, self.settings, self.pool, self.budget = dialect, auth, settings, pool, budget

    async def call(
        self,
        request: ApiRequest,
        parse: Callable[[ApiResponse], T],
        *,
        deadline: float | None = None,
        urgent: bool = True,
    ) -> T:
        """Send ``request`` (retrying within the bounds) and ``parse`` the answer; see the package doc."""
        options = retry_options(RetryPolicy(self.settings), deadline, lambda: exchange.describe(self.dialect, request))
        async for attempt in AsyncRetrying(**options):
            with attempt:
                return parse(await self._attempt(request, deadline, urgent))
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _attempt(self, request: ApiRequest, deadline: float | None, urgent: bool) -> ApiResponse:
        for wait in exchange.pacing(self.budget, urgent, deadline, self.dialect, request):
            await asyncio.sleep(wait)
        left = None if deadline is None else deadline - time.time()
        seconds = exchange.attempt_seconds(self.settings, left, self.dialect, request)
        started = time.monotonic()
        try:
            async with asyncio.timeout(seconds), self.pool.lease() as client:
                response = await client.send(
                    exchange.build(client, request, seconds), auth=self.auth or httpx.USE_CLIENT_DEFAULT, stream=True
                )
                try:
                    reader = exchange.body_reader(response, self.settings, self.dialect)
                    if not response.is_stream_consumed:
                        async for chunk in response.aiter_raw():
                            reader.feed(chunk)
                    body = reader.finish()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise exchange.network_error(
                httpx.TimeoutException("attempt timed out"), self.dialect, request, seconds
            ) from None
        except httpx.HTTPError as exc:
            raise exchange.network_error(exc, self.dialect, request, seconds) from None
        self.budget.observe(response.status_code)
        exchange.log_answer(request, response.status_code, time.monotonic() - started)
        return exchange.judge(self.dialect, request, response, body)


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
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        ssl_context = httpx.create_ssl_context(verify=settings.verify_tls)
        clients = [httpx.AsyncClient(verify=ssl_context, limits=limits, follow_redirects=False) for _ in range(shards)]
        return cls(clients, per_client)

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
