"""The one place that does HTTP: runs a dialect's requests, sync (workers) or async (triggerer).

The contract, whatever a server sends (a platform under stress, a proxy's answer, a broken
OpenAI-compatible host), for every call of :class:`SyncTransport` and :class:`AsyncTransport`:

- **Time.** An attempt (connect, send, read the whole answer) ends within the connection's
  ``timeout`` or the time left before the caller's ``deadline``, whichever is less:
  :class:`~airflow_ft_provider.errors.RequestTimeoutError` otherwise. No retry wait and no wait for
  the request budget passes the deadline either, so a call never outlives its caller's deadline.
- **Retries** (``retries``): only retryable errors, at most ``max_retries`` more attempts of any
  kind (429 included); each wait at most ``max_retry_after`` (hints clamped), none ending after
  ``max_retry_seconds`` since the first attempt.
- **Statuses.** Only the statuses an operation documents for success are success; a redirect
  (never followed) or another 2xx is :class:`~airflow_ft_provider.errors.UnexpectedResponseError`;
  4xx/5xx answers are the dialect's typed errors.
- **Size** (``body``). At most ``max_response_mb`` read, raw and after decompression, while the
  body streams in: :class:`~airflow_ft_provider.errors.ResponseTooLargeError` beyond it.
- **Budget** (``budget``). Every request of a connection in this process is paced within its
  ``max_requests_per_minute``, urgent ones first.

Listings are bounded by the pager (``airflow_ft_provider.paging``): ``max_pages``, ``max_listed_jobs``.
"""

from __future__ import annotations

import asyncio

from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.transport.aio import AsyncClientPool, AsyncTransport
from airflow_ft_provider.transport.budget import RequestBudget
from airflow_ft_provider.transport.settings import ClientSettings
from airflow_ft_provider.transport.sync import SyncTransport, new_sync_client

__all__ = [
    "AsyncClientPool",
    "AsyncTransport",
    "ClientSettings",
    "RequestBudget",
    "SyncTransport",
    "new_sync_client",
    "shared_async_pool",
    "shared_budget",
]


def shared_budget(key: tuple[object, ...], per_minute: int) -> RequestBudget:
    """The request budget of the connection ``key`` in this process (one per configured size)."""
    return process_cache.get(("budget", *key, per_minute), lambda: RequestBudget(per_minute))


async def shared_async_pool(key: tuple[object, ...], settings: ClientSettings) -> AsyncClientPool:
    """The running loop's pool for ``key``, created on first use.

    Building clients loads the CA bundle (tens of milliseconds), so it happens in a thread: the
    triggerer's loop serves thousands of other triggers meanwhile. If two triggers race, the first
    pool wins and the spare is closed.
    """
    pools = process_cache.on_loop()
    pool_key = ("pool", *key, settings)
    pool = pools.get(pool_key)
    if pool is not None and not pool.is_closed:
        return pool
    made = await asyncio.to_thread(AsyncClientPool.build, settings)
    pool = pools.get(pool_key)
    if pool is None or pool.is_closed:
        pool = pools[pool_key] = made
    else:
        await made.aclose()
    return pool
