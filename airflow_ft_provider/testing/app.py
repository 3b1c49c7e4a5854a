"""The one ASGI app serving every emulated platform plus the ``/_emulator`` admin API.

A plain ASGI callable in front of the platforms' mounts (:mod:`.routing`: ``/<platform>`` with
the vendor's paths beneath), so the cross-cutting
concerns (request log, latency, faults, rate limits) sit in one place and a fault can
do what no framework response can: drop the TCP connection without a reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_ft_provider.testing.admin import admin_router
from airflow_ft_provider.testing.faults import Fault
from airflow_ft_provider.testing.platforms import SPECS
from airflow_ft_provider.testing.platforms._base import vendor_path
from airflow_ft_provider.testing.reqlog import RequestRecord, redact_headers, redact_query
from airflow_ft_provider.testing.routing import PlatformRouter, Served

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

__all__ = ["EmulatorApp"]

log = logging.getLogger(__name__)
_BODY_LOG_LIMIT = 4096
_NO_ROUTE = json.dumps(
    {"error": {"code": 404, "message": "No emulated API at this path.", "status": "NOT_FOUND"}}
).encode()


class _Dropped(Exception):
    """Raised to a non-uvicorn server (e.g. httpx's ASGITransport) in place of a drop."""


def _drop(send: Send) -> None:
    """Close the client's connection with no response, reaching under uvicorn's ``send``."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise _Dropped("emulated connection drop")
    transport.abort()
    cycle.disconnected = True  # type: ignore[union-attr]  # so uvicorn neither answers nor logs


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class EmulatorApp:
    """Route by prefix to a platform, apply the emulator's knobs, log the request."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        self.platforms = PlatformRouter(core)
        self.admin = admin_router(core)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/_emulator" or path.startswith("/_emulator/"):
            await self.admin(scope, receive, send)
            return
        core = self.core
        arrived = core.clock()
        method: str = scope["method"]
        served = self.platforms.route(scope)
        platform = served.platform if served is not None else None
        # Logged and matched by faults as the vendor's path, below the platform's prefix.
        path = vendor_path(scope)
        body: bytes | None = None
        if method not in ("GET", "HEAD"):
            body = await _read_body(receive)
            receive = _replay(body, receive)
        # What the emulator did instead of serving: the fault kind, and which quota refused it.
        fault: list[str | None] = [None, None]
        logged = False

        def record(status: int | None) -> None:
            """Log once, *before* the response leaves: a test reading the log right after its
            client got the answer must find the request there."""
            nonlocal logged
            if logged:
                return
            logged = True
            auxiliary = served is not None and served.auxiliary
            kept = None if body is None or auxiliary else body[:_BODY_LOG_LIMIT].decode("utf-8", "replace")
            core.log.add(
                RequestRecord(
                    platform=platform,
                    method=method,
                    path=path,
                    query=redact_query(scope.get("query_string", b"").decode("latin-1")),
                    status=status,
                    time=arrived,
                    headers=redact_headers(scope["headers"]),
                    fault=fault[0],
                    body=kept,
                    throttle=fault[1],
                    auxiliary=auxiliary,
                )
            )

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        def drop() -> None:
            record(None)
            _drop(send)

        try:
            if served is None:
                await _send_bytes(logging_send, 404, _NO_ROUTE)
            else:
                await self._serve(served, path, scope, receive, logging_send, drop, fault)
        finally:
            record(None)

    async def _serve(
        self,
        served: Served,
        path: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        drop: Callable[[], None],
        fault_kind: list[str | None],
    ) -> None:
        core, platform, auxiliary = self.core, served.platform, served.auxiliary
        spec = SPECS[platform]
        latency = core.latency_for(platform)
        if latency > 0:
            await asyncio.sleep(latency)
        fault = core.faults.take(platform, scope["method"], path, auxiliary)
        if fault is not None:
            fault_kind[0] = fault.kind
            if fault.kind == "status":
                await spec.error(fault.http_status, None, fault.retry_after, fault.error_code)(scope, receive, send)
                return
            if fault.kind == "drop" and not fault.after:
                drop()
                return
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
        throttle = (
            None
            if auxiliary
            else core.limiter.check(platform, lambda per: spec.quota_subject(core, Request(scope), per))
        )
        if throttle is not None:
            fault_kind[0], fault_kind[1] = "rate_limit", throttle.reason
            await spec.error(429, None, throttle.retry_after, None)(scope, receive, send)
            return
        if fault is not None and fault.kind in ("drop", "malformed"):
            await self._mangle(fault, served.app, scope, receive, send, drop)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await served.app(scope, receive, tracking_send)
        except Exception:
            log.exception("emulator handler failed for %s %s", scope["method"], scope["path"])
            if not started:
                await spec.error(500)(scope, receive, send)

    async def _mangle(
        self, fault: Fault, router: ASGIApp, scope: Scope, receive: Receive, send: Send, drop: Callable[[], None]
    ) -> None:
        """Run the request for real, then drop the reply or garble its body."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await router(scope, receive, capture)
        if fault.kind == "drop":
            drop()
            return
        body = b"".join(chunks)
        cut = body[: len(body) // 2] if len(body) > 2 else b"{"
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
        await _send_bytes(send, 200, cut, headers)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body once, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *(headers or []),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
