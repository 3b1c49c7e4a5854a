"""azure-identity's tokens through the one transport: the refreshing auth and azure-core's transport.

:class:`AzureCredentialAuth` mints the Azure OpenAI token with an azure-identity credential and mints
another before it expires; every request azure-identity and MSAL make goes through
:func:`azure_transport`, azure-core's ``HttpTransport`` interface on :class:`CredentialHttp`, so it
keeps the transport's deadline, size bound and typed errors. Which credential a connection asks for
is :mod:`airflow_ft_provider.hooks.azure_credentials`' business. azure-core comes with the optional
azure-identity and is imported only when a token is minted.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from airflow_ft_provider import server_text
from airflow_ft_provider.errors import AuthenticationError, PlatformUnavailableError, RequestTimeoutError
from airflow_ft_provider.transport.credentials import CredentialHttp, Minted, RefreshingAuth, typed_cause

PLATFORM = "azure_openai"
SCOPE = "https://cognitiveservices.azure.com/.default"
#: The longest text of Entra ID's that goes into an exception.
_SHOWN = 300


class AzureCredentialAuth(RefreshingAuth[str]):
    """``Authorization: Bearer`` from an azure-identity credential, minted and refreshed on demand.

    The credential is built on first use with :func:`azure_transport` as its transport, so every
    request of azure-identity and MSAL keeps the transport's bounds. A 401 from Azure OpenAI gets one
    retry with a newly minted token.
    """

    platform = PLATFORM

    def __init__(self, make: Callable[[Any], Any], plain_origin: str | None) -> None:
        super().__init__()
        self._make = make
        self._transport = azure_transport(plain_origin)
        self._credential: Any = None

    def apply(self, request: httpx.Request, credential: str) -> None:
        request.headers["Authorization"] = f"Bearer {credential}"

    def fetch(self, http: CredentialHttp) -> Minted[str]:
        from azure.core.exceptions import ClientAuthenticationError

        self._transport.http = http
        self._transport.statuses.clear()
        try:
            info = self._library_token()
            held = self._minted
            if held is not None and info.token == held.credential:
                # The library's cache (MSAL's) gave back the token this auth holds, which Azure OpenAI
                # refused or which is within the refresh margin: a new credential has an empty cache.
                self._credential = None
                info = self._library_token()
        except Exception as exc:
            typed = typed_cause(exc)
            if typed is not None:  # our bounds ended it (deadline, size, network): the typed error
                raise typed from None
            statuses = list(self._transport.statuses)
            if statuses and (statuses[-1] >= 500 or statuses[-1] == 429):
                raise PlatformUnavailableError(
                    f"Microsoft Entra ID's token endpoint failed (HTTP {statuses[-1]}).", platform=PLATFORM
                ) from None
            what = (
                server_text.clean(getattr(exc, "message", None) or str(exc), _SHOWN)
                if isinstance(exc, ClientAuthenticationError)
                else type(exc).__name__
            )
            raise AuthenticationError(
                f"Microsoft Entra ID refused the connection's credentials: {what}. Check tenant_id, client_id "
                "and the secret, certificate or identity, and that it may use the Azure OpenAI resource.",
                platform=PLATFORM,
            ) from None
        finally:
            self._transport.http = None
        token = info.token
        if not token:
            raise AuthenticationError("Microsoft Entra ID returned no access token.", platform=PLATFORM)
        return Minted(str(token), float(info.expires_on), [str(token)])

    def _library_token(self) -> Any:
        if self._credential is None:
            self._credential = self._make(self._transport)
        return self._credential.get_token_info(SCOPE)


@functools.cache
def _azure_transport_class() -> type:
    """azure-core's transport interface on :class:`CredentialHttp` (made on first use: azure-core
    comes with the optional azure-identity)."""
    from azure.core.pipeline.transport import HttpTransport
    from azure.core.rest import HttpRequest as RestRequest
    from azure.core.rest import HttpResponse as RestResponse

    class _Response(RestResponse):
        def __init__(self, request: Any, status: int, headers: Mapping[str, str], body: bytes) -> None:
            from azure.core.utils import CaseInsensitiveDict

            self._request, self._status, self._body = request, status, body
            # The body is already decoded (the size bound counts after decompression).
            self._headers = CaseInsensitiveDict(
                {k: v for k, v in headers.items() if k.lower() not in ("content-encoding", "content-length")}
            )
            self._encoding: str | None = None

        @property
        def request(self) -> Any:
            return self._request

        @property
        def status_code(self) -> int:
            return self._status

        @property
        def headers(self) -> Any:
            return self._headers

        @property
        def reason(self) -> str:
            return ""

        @property
        def content_type(self) -> str | None:
            return self._headers.get("content-type")

        @property
        def is_closed(self) -> bool:
            return True

        @property
        def is_stream_consumed(self) -> bool:
            return True

        @property
        def encoding(self) -> str | None:
            return self._encoding

        @encoding.setter
        def encoding(self, value: str | None) -> None:
            self._encoding = value

        @property
        def url(self) -> str:
            return str(self._request.url)

        @property
        def content(self) -> bytes:
            return self._body

        def text(self, encoding: str | None = None) -> str:
            return self._body.decode(encoding or self._encoding or "utf-8", "replace")

        def json(self) -> Any:
            import json

            return json.loads(self._body)

        def raise_for_status(self) -> None:
            from azure.core.exceptions import HttpResponseError

            if self._status >= 400:
                raise HttpResponseError(response=self)

        def __enter__(self) -> _Response:
            return self

        def __exit__(self, *args: Any) -> None:
            return None

        def close(self) -> None:
            return None

        def read(self) -> bytes:
            return self._body

        def iter_raw(self, **kwargs: Any) -> Iterator[bytes]:
            yield self._body

        def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
            yield self._body

        # The legacy transport response's reader, which some policies still call.
        def body(self) -> bytes:
            return self._body

    class _Transport(HttpTransport):
        def __init__(self, plain_origin: str | None) -> None:
            self.http: CredentialHttp | None = None
            #: Status of each answer of the current fetch (to tell a failing endpoint from a refusal).
            self.statuses: list[int] = []
            self._plain = plain_origin
            self._https = None if plain_origin is None else "https://" + plain_origin.split("://", 1)[1]

        def send(self, request: Any, **kwargs: Any) -> _Response:
            http = self.http
            if http is None:
                raise RuntimeError("azure-identity made a request outside a credential fetch")
            url = str(request.url)
            if self._https is not None and self._plain is not None and _same_origin(url, self._https):
                url = self._plain + url[len(self._https) :]
            answer = http.request(request.method, url, headers=dict(request.headers), body=_body(request))
            self.statuses.append(answer.status)
            return _Response(request, answer.status, answer.headers, answer.body)

        def sleep(self, duration: float) -> None:
            """A retry's pause, never past the exchange's deadline."""
            deadline = None if self.http is None else self.http.deadline
            if deadline is not None and time.time() + duration >= deadline:
                raise RequestTimeoutError(
                    f"{PLATFORM}: Microsoft Entra ID asked to retry in {duration:g} s, after the credential "
                    "exchange's deadline (each exchange is bounded by the connection's timeout).",
                    platform=PLATFORM,
                )
            time.sleep(duration)

        def open(self) -> None:
            return None

        def close(self) -> None:
            return None

        def __enter__(self) -> _Transport:
            return self

        def __exit__(self, *args: Any) -> None:
            return None

    def _body(request: Any) -> bytes | None:
        if isinstance(request, RestRequest):
            data = getattr(request, "_data", None)
            content = request.content
        else:  # a legacy azure.core.pipeline.transport.HttpRequest
            data, content = None, request.body
        if isinstance(content, dict):
            return urlencode(content).encode()
        if isinstance(data, dict):
            return urlencode(data).encode()
        if isinstance(content, str):
            return content.encode()
        return content if isinstance(content, bytes) else None

    return _Transport


def _same_origin(url: str, origin: str) -> bool:
    return url == origin or url.startswith(origin + "/") or url.startswith(origin + "?")


def azure_transport(plain_origin: str | None = None) -> Any:
    """An ``azure.core.pipeline.transport.HttpTransport`` whose requests keep the transport's bounds;
    ``plain_origin``: a loopback ``http://host:port`` that azure-identity is told is https."""
    return _azure_transport_class()(plain_origin)
