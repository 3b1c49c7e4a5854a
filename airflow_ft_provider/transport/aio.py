"""The transport in the triggerer: pooled ``httpx.AsyncClient``\\ s, each attempt under ``asyncio.timeout``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying

from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect
from airflow_ft_provider.transport import exchange
from airflow_ft_provider.transport.budget import RequestBudget
from airflow_ft_provider.transport.credentials import CredentialHttp, RefreshingAuth
from airflow_ft_provider.transport.retries import RetryPolicy, retry_options
from airflow_ft_provider.transport.settings import ClientSettings
from airflow_ft_provider.transport.sync import new_sync_client

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
        #: Credential exchanges run in a thread of their own, with the pool's blocking client.
        self._credential_http = CredentialHttp(dialect.platform, settings, budget, pool.blocking_client)

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
        what = exchange.describe(self.dialect, request)
        used = None
        if isinstance(self.auth, RefreshingAuth):
            # The credential first: a call waiting for a token endpoint holds no place in the budget.
            used = await self.auth.aensure(self._credential_http, deadline)
        sent = await self.budget.atake(urgent, exchange.time_left(deadline))
        if sent is None:
            raise exchange.no_room(self.budget, what, self.dialect.platform, request.job_id)
        response, body, used = await self._send(request, deadline, sent, used)
        if isinstance(self.auth, RefreshingAuth) and self.auth.rejects(response.status_code, response.headers):
            # The refused answer was read within the size bound; one more try with a new credential.
            self.auth.invalidate(used)
            response, body, used = await self._send(request, deadline, sent)
        return exchange.judge(self.dialect, request, response, body)

    async def _send(
        self, request: ApiRequest, deadline: float | None, sent: float, used: object = None
    ) -> tuple[httpx.Response, bytes, object]:
        """One request and its whole answer, within the attempt's time and the size bound."""
        if isinstance(self.auth, RefreshingAuth) and used is None:  # None: a new one (the retry after a refusal)
            used = await self.auth.aensure(self._credential_http, deadline)
        left = None if deadline is None else deadline - time.time()
        what = exchange.describe(self.dialect, request)
        seconds = exchange.attempt_seconds(self.settings, left, what, self.dialect.platform, request.job_id)
        where = f"{request.method} {request.url}"
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
            timed_out = httpx.TimeoutException("attempt timed out")
            raise exchange.network_error(
                timed_out, self.dialect.platform, what, where, seconds, request.job_id
            ) from None
        except httpx.HTTPError as exc:
            raise exchange.network_error(exc, self.dialect.platform, what, where, seconds, request.job_id) from None
        exchange.observe(self.budget, self.dialect, self.settings, response, body, sent)
        exchange.log_answer(request, response.status_code, time.monotonic() - started)
        return response, body, used


class AsyncClientPool:
    """``max_connections`` connections for all triggers of one connection, as a few small clients.

    A request leases the least busy client and waits, in a cheap asyncio queue, while that
    client's connections are all in use (rather than in httpcore's pool queue, which is
    scanned on every request). All clients share one SSL context: the CA bundle loads once.
    """

    def __init__(self, clients: list[httpx.AsyncClient], per_client: int, settings: ClientSettings) -> None:
        self.clients = clients
        self._gates = [asyncio.Semaphore(per_client) for _ in clients]
        self._busy = [0] * len(clients)
        self._settings = settings
        self._blocking: httpx.Client | None = None
        self._blocking_lock = threading.Lock()

    @classmethod
    def build(cls, settings: ClientSettings) -> AsyncClientPool:
        """Blocking (loads the CA bundle): call it in a thread."""
        shards = max(1, -(-settings.max_connections // CONNECTIONS_PER_CLIENT))
        per_client = -(-settings.max_connections // shards)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        ssl_context = httpx.create_ssl_context(verify=settings.verify_tls)
        clients = [httpx.AsyncClient(verify=ssl_context, limits=limits, follow_redirects=False) for _ in range(shards)]
        return cls(clients, per_client, settings)

    def blocking_client(self) -> httpx.Client:
        """A blocking client with this pool's settings, for credential exchanges in their own thread
        (the libraries that mint credentials are blocking). Made on first use, in that thread."""
        with self._blocking_lock:
            if self._blocking is None:
                self._blocking = new_sync_client(self._settings)
            return self._blocking

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
        if self._blocking is not None:
            self._blocking.close()
