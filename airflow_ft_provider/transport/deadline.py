"""A total deadline for each blocking attempt: connect, TLS, send and the whole answer.

httpx's timeouts bound each socket operation, and every byte resets the read timeout: a server
trickling one byte a second holds a request forever. In the triggerer ``asyncio.timeout`` bounds
the whole attempt; on workers, this network backend gives every socket operation of an attempt
at most the time left until the attempt's deadline, which the transport sets in a context variable
around the attempt. httpx has no public way to pass a backend to its pool, so
:func:`bound_client` installs it on the pools httpx builds (one private attribute, checked by the
tests on every supported version).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

#: Monotonic time by which the current attempt must be over; None outside an attempt.
_ATTEMPT_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("ft_attempt_deadline", default=None)
#: What is left of a passed deadline: small enough to end at once, large enough not to mean "no timeout".
_ALMOST_NOTHING = 0.001


@contextlib.contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Every socket operation inside gets at most what is left of ``seconds`` from now."""
    token = _ATTEMPT_DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _ATTEMPT_DEADLINE.reset(token)


def _clamped(timeout: float | None) -> float | None:
    deadline = _ATTEMPT_DEADLINE.get()
    if deadline is None:
        return timeout
    left = max(_ALMOST_NOTHING, deadline - time.monotonic())
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clamped(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _clamped(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _clamped(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bound_client(**kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` whose pools (direct and proxied) honour :func:`attempt_deadline`."""
    client = httpx.Client(**kwargs)
    for transport in [client._transport, *client._mounts.values()]:
        if transport is None:  # a no_proxy entry: served by the client's own transport
            continue
        pool = getattr(transport, "_pool", None)
        if pool is None or not hasattr(pool, "_network_backend"):
            raise RuntimeError(f"httpx {httpx.__version__}: cannot bound the attempts of {type(transport).__name__}")
        pool._network_backend = _DeadlineBackend(pool._network_backend)
    return client
