"""Google credentials for Vertex AI, from an ``ft_vertex_ai`` or ``google_cloud_platform`` connection.

First found wins: an ``access_token`` extra (used as is); a service-account JSON key in Password,
the ``keyfile_dict`` extra or the file at ``key_path``; else Application Default Credentials.
google-auth is an optional extra, imported only here and only when a key or ADC is used, so
parsing DAGs never pays for it. :class:`GoogleCredentialsAuth` mints and refreshes the token for
the transport, once per connection and process, with google-auth's HTTP on the transport's bounds.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

import httpx

from airflow_ft_provider.errors import (
    AuthenticationError,
    ConnectionConfigError,
    PlatformUnavailableError,
    TuningJobError,
)
from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.auth import HeaderAuth
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.transport.credentials import (
    CredentialAnswer,
    CredentialHttp,
    Minted,
    RefreshingAuth,
    typed_cause,
)

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
    text = connection.read_credential_file(
        conn, str(path), "key_path", "the service-account key", "paste its JSON into keyfile_dict"
    )
    return "key_path", text


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

    def load(request: Any = None) -> tuple[Credentials, str | None]:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            return google.auth.default(scopes=SCOPES, request=request)
        except DefaultCredentialsError as exc:
            raise ConnectionConfigError(
                f"Connection {conn.conn_id!r} holds no credentials and Application Default Credentials "
                f"were not found ({exc}). Paste a service-account key into Password, set key_path or "
                "access_token, or set up ADC (GOOGLE_APPLICATION_CREDENTIALS, an attached service account, "
                "or `gcloud auth application-default login`)."
            ) from None

    if _extra(conn, "project"):
        # Deferred: finding ADC may probe the metadata server. The auth loads them on its first
        # refresh, in its own thread, with the transport's bounds on that probe.
        return FoundCredentials(
            _shared_auth(conn, "adc", lambda: GoogleCredentialsAuth(lambda request: load(request)[0])), None, [], "adc"
        )
    # No project in the connection: only ADC can name it, so they are looked up now (before any
    # transport exists, so a metadata-server probe runs with google-auth's own short timeouts).
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
class GoogleCredentialsAuth(RefreshingAuth[str]):
    """``Authorization: Bearer`` from google-auth credentials, minted and refreshed on demand.

    google-auth keeps its logic (JWT grant, ADC, impersonation, its own retries); every request it
    makes goes through the transport's bounds (:class:`GoogleRequest`). A 401 answer gets one retry
    with a newly minted token (the token may have been revoked early).
    """

    platform = PLATFORM

    def __init__(self, load: Callable[[Any], Credentials]) -> None:
        """``load``: the credentials, given a ``google.auth.transport.Request`` to find them with."""
        super().__init__()
        self._load = load
        self._credentials: Credentials | None = None

    @classmethod
    def of(cls, credentials: Credentials) -> GoogleCredentialsAuth:
        """An auth for credentials already loaded."""
        return cls(lambda _request: credentials)

    def apply(self, request: httpx.Request, credential: str) -> None:
        request.headers["Authorization"] = f"Bearer {credential}"

    def fetch(self, http: CredentialHttp) -> Minted[str]:
        from google.auth.exceptions import RefreshError, TransportError

        request = google_request(http)
        try:
            if self._credentials is None:
                self._credentials = self._load(request)
            credentials = self._credentials
            credentials.refresh(request)
        except (TransportError, RefreshError) as exc:
            typed = typed_cause(exc)
            if typed is not None:  # our bounds ended it (under google-auth's wrappers): the typed error
                raise typed from None
            if isinstance(exc, TransportError):
                raise PlatformUnavailableError(
                    f"Could not reach Google's token endpoint ({type(exc).__name__}).", platform=PLATFORM
                ) from None
            if getattr(exc, "retryable", False):
                raise PlatformUnavailableError(f"Google's token endpoint failed: {exc}", platform=PLATFORM) from None
            raise AuthenticationError(
                f"Google refused the connection's credentials: {exc}. Check that the service "
                "account and its key still exist and are enabled.",
                platform=PLATFORM,
            ) from None
        token = credentials.token
        if not token:
            raise AuthenticationError("Google's token endpoint returned no access token.", platform=PLATFORM)
        expiry = credentials.expiry  # naive UTC, or None: the token is not known to expire
        expires_at = None if expiry is None else expiry.replace(tzinfo=UTC).timestamp()
        return Minted(str(token), expires_at, [str(token)])


@functools.cache
def _google_request_class() -> type:
    """google-auth's transport interface implemented on :class:`CredentialHttp` (made on first
    use: google-auth is an optional extra)."""
    import google.auth.transport
    from google.auth.exceptions import TransportError

    class _Response(google.auth.transport.Response):
        def __init__(self, answer: CredentialAnswer) -> None:
            self._answer = answer

        @property
        def status(self) -> int:
            return self._answer.status

        @property
        def headers(self) -> Mapping[str, str]:
            return self._answer.headers

        @property
        def data(self) -> bytes:
            return self._answer.body

    class _Request(google.auth.transport.Request):
        def __init__(self, http: CredentialHttp) -> None:
            self.http = http

        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: bytes | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> _Response:
            try:
                return _Response(self.http.request(method, url, headers=headers, body=body, timeout=timeout))
            except TuningJobError as exc:
                # google-auth handles its transport's failures (a metadata-server probe that finds
                # nothing): give it one, carrying the typed error for the caller.
                raise TransportError(str(exc)) from exc

    return _Request


def google_request(http: CredentialHttp) -> Any:
    """A ``google.auth.transport.Request`` whose every request keeps the transport's bounds."""
    return _google_request_class()(http)


def _shared_auth(conn: Connection, material: str, make: Callable[[], GoogleCredentialsAuth]) -> GoogleCredentialsAuth:
    """The process's auth for these credentials of this connection: the triggers and tasks of a
    connection share its token instead of each minting one. ``make`` runs only on a miss."""
    key = ("google_auth", conn.conn_id, hashlib.sha256(material.encode()).hexdigest())
    return process_cache.get(key, make)
