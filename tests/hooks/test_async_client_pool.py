"""The triggerer's shared pool: a connection's ``max_connections`` as a few small clients."""

from __future__ import annotations

import asyncio

import pytest

from airflow_ft_provider.transport import AsyncClientPool, ClientSettings
from airflow_ft_provider.transport.aio import CONNECTIONS_PER_CLIENT


@pytest.mark.parametrize(("connections", "clients", "per_client"), [(50, 5, 10), (10, 1, 10), (4, 1, 4), (25, 3, 9)])
def test_pool_splits_max_connections_into_small_clients(connections, clients, per_client):
    pool = AsyncClientPool.build(ClientSettings(max_connections=connections))
    try:
        assert len(pool.clients) == clients
        assert all(c._transport._pool._max_connections == per_client for c in pool.clients)  # type: ignore[attr-defined]
        assert per_client <= CONNECTIONS_PER_CLIENT
        # One SSL context for all: the CA bundle is loaded once.
        assert len({id(c._transport._pool._ssl_context) for c in pool.clients}) == 1  # type: ignore[attr-defined]
    finally:
        asyncio.run(pool.aclose())


def test_leases_go_to_the_least_busy_client_and_wait_beyond_the_limit():
    async def main() -> tuple[list[int], int]:
        pool = AsyncClientPool.build(ClientSettings(max_connections=20))  # two clients of ten
        inside, most_inside, chosen = 0, 0, []
        release = asyncio.Event()

        async def request() -> None:
            nonlocal inside, most_inside
            async with pool.lease() as client:
                chosen.append(pool.clients.index(client))
                inside += 1
                most_inside = max(most_inside, inside)
                await release.wait()
                inside -= 1

        tasks = [asyncio.create_task(request()) for _ in range(30)]
        await asyncio.sleep(0.05)
        waiting_while_full = inside
        release.set()
        await asyncio.gather(*tasks)
        await pool.aclose()
        return chosen, waiting_while_full

    chosen, inside_while_full = asyncio.run(main())
    assert inside_while_full == 20  # ten per client at most; the other ten waited
    assert chosen[:20].count(0) == chosen[:20].count(1) == 10  # spread evenly
    assert len(chosen) == 30
