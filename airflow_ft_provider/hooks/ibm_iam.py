"""IBM Cloud IAM: an API key exchanged for a bearer token, through the transport's bounds.

IBM's API key is never sent to watsonx.ai itself: IAM's token endpoint takes it (form
``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...``) and answers ``access_token``,
``expires_in`` and ``expiration``; the token lives about an hour. :class:`IamTokenAuth` is a
:class:`RefreshingAuth`: the exchange runs in its own thread (never on the event loop), one at a
time per key and connection in a process, before the token expires, and again after a 401; its
one request is a :class:`CredentialHttp` request, with the same deadline, size bound, budget and
typed errors as a job request. No library: the exchange is one form POST.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx

from airflow_ft_provider import server_text
from airflow_ft_provider.errors import AuthenticationError, PlatformUnavailableError
from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.auth import HeaderAuth
from airflow_ft_provider.platforms.fields import mapping, text
from airflow_ft_provider.platforms.watsonx import DEFAULT_IAM_URL, GRANT_TYPE_APIKEY
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.transport.credentials import CredentialHttp, Minted, RefreshingAuth

if TYPE_CHECKING:
    from airflow.sdk import Connection

PLATFORM = "watsonx"
#: The longest text of IAM's that goes into an exception.
_SHOWN = 300


def iam_auth(conn: Connection) -> tuple[httpx.Auth, str]:
    """The auth for the connection and its secret (to mask): the process's :class:`IamTokenAuth`
    for the API key in Password, exchanged at ``iam_url``; or an ``access_token`` extra (a token
    minted elsewhere, used as given: it expires after about an hour). A
    :class:`ConnectionConfigError` names the fix when neither or both are set."""
    with connection.named(conn):
        token = connection.extras(conn).text("access_token")
    if token is not None:
        if conn.password and conn.password.strip():
            raise connection.config_error(
                conn, "it holds both an API key (Password) and an access_token extra. Keep one of them."
            )
        token = connection.require_secret(conn, token, "IAM access token", "access_token extra")
        return HeaderAuth(token), token
    key = connection.require_secret(conn, conn.password, "IBM Cloud API key")
    token_url = _token_url(conn)
    material = hashlib.sha256(f"{token_url}|{key}".encode()).hexdigest()
    auth = process_cache.get(("ibm_iam", conn.conn_id, material), lambda: IamTokenAuth(key, token_url))
    return auth, key


def _token_url(conn: Connection) -> str:
    with connection.named(conn):
        raw = connection.extras(conn).text("iam_url")
    if raw is None:
        return DEFAULT_IAM_URL
    parts = urlsplit(raw)
    plain_local = parts.scheme == "http" and connection.is_loopback(parts.hostname or "")
    if not (parts.scheme == "https" or plain_local) or not parts.hostname or "@" in parts.netloc or parts.query:
        raise connection.config_error(
            conn,
            f"iam_url {raw[:80]!r} is not an https URL of IAM's token endpoint (plain http only on this "
            f"machine, no user name, no query). Leave it empty for {DEFAULT_IAM_URL}.",
        )
    return raw


class IamTokenAuth(RefreshingAuth[str]):
    """``Authorization: Bearer`` with an IAM token minted from an API key, refreshed before it expires
    and after a 401 (IBM may revoke a token early)."""

    platform = PLATFORM

    def __init__(self, api_key: str, token_url: str = DEFAULT_IAM_URL) -> None:
        super().__init__()
        self._api_key = api_key
        self.token_url = token_url

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(token_url={self.token_url!r})"

    def apply(self, request: httpx.Request, credential: str) -> None:
        request.headers["Authorization"] = f"Bearer {credential}"

    def fetch(self, http: CredentialHttp) -> Minted[str]:
        form = urlencode({"grant_type": GRANT_TYPE_APIKEY, "apikey": self._api_key})
        answer = http.request(
            "POST",
            self.token_url,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            body=form,
        )
        body = _json(answer.body)
        if answer.status == 429 or answer.status >= 500:
            raise PlatformUnavailableError(
                f"IBM Cloud IAM's token endpoint failed (HTTP {answer.status}).", platform=PLATFORM
            )
        if answer.status != 200:
            said = self._scrubbed(text(body.get("errorMessage")) or f"HTTP {answer.status}")
            code = text(body.get("errorCode"))
            raise AuthenticationError(
                f"IBM Cloud IAM refused the connection's API key ({code or answer.status}: {said}). Check that the "
                "key in Password is an IBM Cloud API key that still exists and may use the watsonx.ai project.",
                platform=PLATFORM,
                native_code=code,
            )
        token = text(body.get("access_token"))
        if token is None:
            raise AuthenticationError("IBM Cloud IAM answered without an access_token.", platform=PLATFORM)
        return Minted(token, _expires_at(body), [token])

    def _scrubbed(self, said: str) -> str:
        """IAM's message, cleaned, and never the key (an echo of a bad key would show it)."""
        return server_text.clean(said.replace(self._api_key, "***"), _SHOWN)


def _json(content: bytes) -> dict[str, Any]:
    try:
        return mapping(json.loads(content))
    except (ValueError, RecursionError):
        return {}


def _expires_at(body: dict[str, Any]) -> float | None:
    """When the token expires on this machine's clock: ``expires_in`` from now (a skewed clock
    cannot make it look fresh), else IAM's ``expiration``; None when IAM says neither."""
    lifetime = body.get("expires_in")
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
        return time.time() + float(lifetime)
    expiration = body.get("expiration")
    if isinstance(expiration, int | float) and not isinstance(expiration, bool):
        return float(expiration)
    return None
