"""What every platform module provides, and the small helpers they share."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.store import Job, JobView

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Handler = Callable[[Request], Awaitable[Response]]
#: status, message, retry_after seconds, error code override -> the platform's error response.
ErrorFactory = Callable[..., Response]


@dataclass(frozen=True)
class PlatformSpec:
    """One platform's wire format, as the app and the controller need it."""

    platform: Platform
    #: Path prefixes routed to this platform.
    prefixes: tuple[str, ...]
    #: Appended to the emulator URL to get what a client calls its base URL.
    base_path: str
    default_base_model: str
    routes: Callable[[EmulatorCore], Sequence[BaseRoute]]
    #: ``error(status, message=None, retry_after=None, code=None) -> Response``.
    error: ErrorFactory
    native_state: Callable[[JobView], str]
    #: Native states in which a cancel is refused.
    terminal: frozenset[str]
    new_id: Callable[[str], str]
    #: The id a client passes back (a full resource name on Google platforms).
    client_id: Callable[[EmulatorCore, Job], str]

    def native_id(self, client_id: str) -> str:
        """Accept a resource name or a bare id."""
        return client_id.rstrip("/").rsplit("/", 1)[-1]

    def router(self, core: EmulatorCore) -> ASGIApp:
        """The platform's routes; anything else under its prefixes gets its native 404."""

        async def default(scope: Scope, receive: Receive, send: Send) -> None:
            await self.error(404)(scope, receive, send)

        async def not_found(_request: Request) -> Response:
            return self.error(404)

        # A catch-all per prefix, for any method: a wrong method gets the native 404, not
        # starlette's plain-text 405.
        catch_all = [Route(p + "{rest:path}", not_found, methods=_ALL_METHODS) for p in self.prefixes]
        return Router(routes=[*self.routes(core), *catch_all], redirect_slashes=False, default=default)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object body, or {} for an empty or non-object body."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def rfc3339(epoch: float) -> str:
    """Google's timestamp format, e.g. ``2024-10-29T08:53:53.123456Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso8601(epoch: float) -> str:
    """Together's format, e.g. ``2024-10-29T08:53:53.123Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CST = timezone(timedelta(hours=8))


def china_time(epoch: float) -> str:
    """DashScope's ``YYYY-MM-DD HH:MM:SS``: China Standard Time with no zone marker."""
    return datetime.fromtimestamp(epoch, _CST).strftime("%Y-%m-%d %H:%M:%S")


def random_id(n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def encode_cursor(job: Job) -> str:
    """Opaque page token pointing just past ``job`` in newest-first order."""
    raw = f"{job.created_wall!r}:{job.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_after(jobs: list[Job], token: str | None, size: int) -> tuple[list[Job], str | None] | None:
    """One page of ``jobs`` (newest first) after ``token``; None if the token is garbage.

    A cursor (not an offset) so jobs created or deleted between pages do not shift them.
    """
    if token:
        try:
            created, seq = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
            key = (float(created), int(seq))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        jobs = [j for j in jobs if (j.created_wall, j.seq) < key]
    page = jobs[:size]
    return page, (encode_cursor(page[-1]) if len(jobs) > size else None)


def int_param(request: Request, name: str, default: int) -> int | None:
    """An integer query parameter, or None when it is not an integer."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def openai_style_error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """The ``{"error": {message, type, param, code}}`` body OpenAI and Together share."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def retry_headers(retry_after: float | None) -> dict[str, str]:
    """``retry-after`` (whole seconds, per HTTP) and the precise ``retry-after-ms``."""
    if retry_after is None:
        return {}
    seconds = max(0, int(-(-retry_after // 1)))
    return {"retry-after": str(seconds), "retry-after-ms": str(max(0, round(retry_after * 1000)))}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
