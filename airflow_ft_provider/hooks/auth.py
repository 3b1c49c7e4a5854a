"""Credentials on requests: applied by the transport only, never shown."""

from __future__ import annotations

from collections.abc import Generator

import httpx


class HeaderAuth(httpx.Auth):
    """A key in one header: ``Authorization: Bearer <key>`` by default, or e.g. ``api-key: <key>``."""

    def __init__(self, secret: str, header: str = "Authorization", scheme: str | None = "Bearer") -> None:
        self._header = header
        self._value = f"{scheme} {secret}" if scheme else secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(header={self._header!r})"
