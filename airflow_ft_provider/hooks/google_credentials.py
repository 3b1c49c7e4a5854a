"""Google credentials for Vertex AI, from an ``ft_vertex_ai`` or ``google_cloud_platform`` connection.

First found wins: an ``access_token`` extra (used as is); a service-account JSON key in Password,
the ``keyfile_dict`` extra or the file at ``key_path``; else Application Default Credentials.
google-auth is an optional extra, imported only here and only when a key or ADC is used, so
parsing DAGs never pays for it. :class:`GoogleCredentialsAuth` mints and refreshes the token for
the transport, once per connection and process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from airflow_ft_provider import version_compat
from airflow_ft_provider.errors import AuthenticationError, PlatformUnavailableError
from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.auth import HeaderAuth
from airflow_ft_provider.hooks.connection import ConnectionConfigError
from airflow_ft_provider.process_cache import process_cache

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from google.auth.credentials import Credentials

PLATFORM = "vertex_ai"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
INSTALL_HINT = "pip install 'airflow-ft-provider[google]'"
#: google_cloud_platform extras naming credentials this provider cannot read; refused rather
#: than silently replaced by Application Default Credentials (another identity).
_UNSUPPORTED_EXTRAS = ("key_secret_name", "credential_config_file")
_REQUIRED_KEY_FIELDS = ("client_email", "private_key", "token_uri")


def _extra(conn: Connection, name: str) -> Any:
    """An extra as stored (a dict for keyfile_dict is fine), blanks as unset."""
    return connection.extras(conn).get(name)


@dataclass
class FoundCredentials:
    """What a connection's credentials resolve to."""

    auth: httpx.Auth
    #: The project the credentials name (a key's ``project_id``, ADC's project), if any.
    project: str | None
    secrets: list[str] = field(repr=False)
    #: Where they came from, for the log: access_token, Password, keyfile_dict, key_path or adc.
    source: str


def google_credentials(conn: Connection) -> FoundCredentials:
    """Resolve the connection's credentials, or :class:`ConnectionConfigError` naming the fix."""
    for name in _UNSUPPORTED_EXTRAS:
        if _extra(conn, name):
            raise ConnectionConfigError(
                f"Connection {conn.conn_id!r} sets {name!r}, which this provider does not read. Put the "
                "service-account key JSON in Password or the keyfile_dict extra, or its path in key_path, "
                "or leave them all empty to use Application Default Credentials."
            )
    token = _extra(conn, "access_token")
    if token is not None:
        if not isinstance(token, str):
            raise ConnectionConfigError(f"Connection {conn.conn_id!r}: the access_token extra must be a string.")
        token = connection.require_secret(conn, token, "access token", "access_token extra")
        return FoundCredentials(HeaderAuth(token), None, [token], "access_token")
    key = _key_text(conn)
    if key is not None:
        source, raw = key
        info = _parse_key(conn, raw, source)
        auth = _shared_auth(conn, raw, lambda: GoogleCredentialsAuth.of(_service_account(conn, info, source)))
        return FoundCredentials(auth, info.get("project_id") or None, _key_secrets(raw, info), source)
    return _application_default(conn)


def _key_text(conn: Connection) -> tuple[str, str] | None:
    """(where, JSON text) of the service-account key, if the connection holds one."""
    if conn.password and conn.password.strip():
        return "Password", conn.password.strip()
    keyfile = _extra(conn, "keyfile_dict")
    if isinstance(keyfile, dict):
        return "keyfile_dict", json.dumps(keyfile)
    if keyfile is not None:
        return "keyfile_dict", str(keyfile).strip()
    path = _extra(conn, "key_path")
    if path is None:
        return None
    path = os.path.expanduser(str(path).strip())
    if not os.path.isfile(path):
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: key_path {path!r} is not a file on this machine. Copy the "
            "service-account key there (on every worker and triggerer), or paste its JSON into keyfile_dict."
        )
    try:
        with open(path, encoding="utf-8") as file:
            return "key_path", file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: cannot read key_path {path!r} ({reason}). Make it readable by "
            "the Airflow user, or paste the key JSON into keyfile_dict."
        ) from None


def _parse_key(conn: Connection, raw: str, source: str) -> dict[str, Any]:
    """The key as a dict, checked enough that google-auth cannot echo it in an error."""
    where = f"Connection {conn.conn_id!r}: the service-account key in {source}"
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as exc:
        # The parser's message and the position only, never the document.
        raise ConnectionConfigError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). Paste the "
            "whole JSON key file; an OAuth2 access token belongs in the access_token extra instead."
        ) from None
    if not isinstance(info, dict):
        raise ConnectionConfigError(f"{where} is a JSON {type(info).__name__}, not the key file's object.")
    kind = info.get("type")
    if kind != "service_account":
        shown = kind[:40] if isinstance(kind, str) else None
        raise ConnectionConfigError(
            f"{where} has type {shown!r}, not 'service_account'. "
            "Use a service-account key, or leave the key fields empty to use Application Default "
            "Credentials (user and external-account credentials work there)."
        )
    missing = [name for name in _REQUIRED_KEY_FIELDS if not (isinstance(info.get(name), str) and info[name])]
    if missing:
        raise ConnectionConfigError(
            f"{where} lacks {', '.join(missing)}. Download a fresh JSON key for the service account."
        )
    if not isinstance(info.get("project_id", ""), str):
        info.pop("project_id")
    return info


def _key_secrets(raw: str, info: dict[str, Any]) -> list[str]:
    """The key JSON, the private key, and the private key as JSON and ``repr`` escape it
    (line breaks as ``\\n``), so that a dump of the key's dict is masked as well.

    Not each PEM line on its own: that made some 28 masker patterns per key where three do.
    """
    private_key: str = info["private_key"]
    escaped = json.dumps(private_key)[1:-1]
    return list(dict.fromkeys([raw, private_key, escaped]))


def _service_account(conn: Connection, info: dict[str, Any], source: str) -> Credentials:
    _require_google_auth()
    from google.oauth2 import service_account

    try:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except Exception as exc:
        # Only the type: the message of a key-parsing failure is not guaranteed key-free.
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: the service-account key in {source} could not be loaded "
            f"({type(exc).__name__}; its private_key is probably damaged). Download a fresh JSON key."
        ) from None


def _application_default(conn: Connection) -> FoundCredentials:
    _require_google_auth()

    def load() -> tuple[Credentials, str | None]:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            return google.auth.default(scopes=SCOPES)
        except DefaultCredentialsError as exc:
            raise ConnectionConfigError(
                f"Connection {conn.conn_id!r} holds no credentials and Application Default Credentials "
                f"were not found ({exc}). Paste a service-account key into Password, set key_path or "
                "access_token, or set up ADC (GOOGLE_APPLICATION_CREDENTIALS, an attached service account, "
                "or `gcloud auth application-default login`)."
            ) from None

    if _extra(conn, "project"):
        # Deferred: finding ADC may probe the metadata server, which the triggerer's event loop
        # must not wait for. The auth loads them on its first refresh, in a thread.
        return FoundCredentials(
            _shared_auth(conn, "adc", lambda: GoogleCredentialsAuth(lambda: load()[0])), None, [], "adc"
        )
    # No project in the connection: only ADC can name it, so they are looked up now.
    credentials, project = load()
    return FoundCredentials(
        _shared_auth(conn, "adc", lambda: GoogleCredentialsAuth.of(credentials)), project, [], "adc"
    )


def _require_google_auth() -> None:
    try:
        import google.auth  # noqa: F401
    except ImportError:
        raise ConnectionConfigError(
            "Vertex AI service-account keys and Application Default Credentials need google-auth, "
            f"which is not installed: {INSTALL_HINT} (or use the access_token extra)."
        ) from None


# -- the auth ---------------------------------------------------------------------------
class GoogleCredentialsAuth(httpx.Auth):
    """``Authorization: Bearer`` from google-auth credentials, minted and refreshed on demand.

    Refreshing is blocking I/O (a POST to the token endpoint), so the async flow runs it in
    a thread; a per-loop ``asyncio.Lock`` makes concurrent triggers wait for one refresh
    instead of each minting a token, and a thread lock does the same for sync callers. A 401
    answer gets one retry with a newly minted token (the token may have been revoked early).
    """

    def __init__(self, load: Callable[[], Credentials]) -> None:
        self._load = load
        self._credentials: Credentials | None = None
        self._transport: Any = None  # google.auth.transport.requests.Request, made on first refresh
        self._lock = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def of(cls, credentials: Credentials) -> GoogleCredentialsAuth:
        """An auth for credentials already loaded."""
        return cls(lambda: credentials)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._valid_token() or self._sync_refresh(None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self._sync_refresh(token)}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._valid_token() or await self._async_refresh(None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._async_refresh(token)}"
            yield request

    def _valid_token(self, rejected: str | None = None) -> str | None:
        credentials = self._credentials
        if credentials is not None and credentials.valid and credentials.token != rejected:
            return str(credentials.token)
        return None

    def _sync_refresh(self, rejected: str | None) -> str:
        token, minted = self._refresh(rejected)
        if minted:
            version_compat.mask_secrets([token])
        return token

    async def _async_refresh(self, rejected: str | None) -> str:
        loop = asyncio.get_running_loop()
        lock = self._async_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            current = self._valid_token(rejected)
            if current is not None:  # another trigger refreshed while this one waited
                return current
            token, minted = await asyncio.to_thread(self._refresh, rejected)
            if minted:
                await version_compat.amask_secrets([token])
            return token

    def _refresh(self, rejected: str | None) -> tuple[str, bool]:
        """(token, whether it was newly minted); blocking, so never called on an event loop."""
        with self._lock:
            token = self._valid_token(rejected)
            if token is not None:
                return token, False
            from google.auth.exceptions import RefreshError, TransportError
            from google.auth.transport.requests import Request

            if self._credentials is None:
                self._credentials = self._load()
            if self._transport is None:
                self._transport = Request()
            try:
                self._credentials.refresh(self._transport)
            except TransportError as exc:
                raise PlatformUnavailableError(
                    f"Could not reach Google's token endpoint: {exc}", platform=PLATFORM
                ) from None
            except RefreshError as exc:
                if exc.retryable:
                    raise PlatformUnavailableError(
                        f"Google's token endpoint failed: {exc}", platform=PLATFORM
                    ) from None
                raise AuthenticationError(
                    f"Google refused the connection's credentials: {exc}. Check that the service "
                    "account and its key still exist and are enabled.",
                    platform=PLATFORM,
                ) from None
            except Exception as exc:  # an answer google-auth cannot read (a proxy's page, say)
                # Only the type: the text may quote the answer, which may hold a token.
                raise PlatformUnavailableError(
                    f"Google's token endpoint gave an unreadable answer ({type(exc).__name__}).",
                    platform=PLATFORM,
                ) from None
            if not self._credentials.token:
                raise AuthenticationError("Google's token endpoint returned no access token.", platform=PLATFORM)
            return str(self._credentials.token), True


def _shared_auth(conn: Connection, material: str, make: Callable[[], GoogleCredentialsAuth]) -> GoogleCredentialsAuth:
    """The process's auth for these credentials of this connection: the triggers and tasks of a
    connection share its token instead of each minting one. ``make`` runs only on a miss."""
    key = ("google_auth", conn.conn_id, hashlib.sha256(material.encode()).hexdigest())
    return process_cache.get(key, make)
