"""AWS credentials and SigV4 signing for Amazon Bedrock, from an ``ft_bedrock`` or ``aws`` connection.

Credentials: Login/Password (or the ``aws`` connection's ``aws_access_key_id`` and
``aws_secret_access_key`` extras) with an optional ``aws_session_token``; a Password without a
Login is a Bedrock API key, sent as ``Authorization: Bearer``; else botocore's default chain
(environment, shared files, SSO, container or instance roles). With ``role_arn`` those are only the
source: STS AssumeRole gives the credentials used, refreshed before they expire.
botocore is an optional extra, imported only here and only when a connection is configured, so
parsing DAGs never pays for it. :class:`SigV4Auth` signs each request with botocore's signer;
finding and refreshing credentials is blocking I/O (IMDS, STS), so the async flow does it in a
thread, once per connection and process, while the event loop only signs.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
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
    from botocore.credentials import Credentials, ReadOnlyCredentials

PLATFORM = "bedrock"
SERVICE = "bedrock"
INSTALL_HINT = "pip install 'airflow-ft-provider[amazon]'"
#: Refreshable credentials (STS, SSO, instance roles) are asked again after this long; botocore
#: refreshes them itself ahead of their expiry, so this only bounds how stale a copy gets.
RECHECK_SECONDS = 60.0
#: What AWS calls credentials that expired (a retry with refreshed ones can succeed).
_EXPIRED = frozenset({"ExpiredTokenException", "ExpiredToken", "RequestExpired"})
DEFAULT_SESSION_NAME = "airflow-ft-provider"


def require_botocore() -> None:
    """botocore, or the error naming the extra. Also imports what signing needs, here (a worker, or
    the triggerer's thread reading the connection), so that signing on an event loop imports nothing."""
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.session  # noqa: F401
    except ImportError:
        raise ConnectionConfigError(
            f"Amazon Bedrock needs botocore (AWS request signing), which is not installed: {INSTALL_HINT}"
        ) from None


@dataclass
class FoundCredentials:
    """What a connection's AWS settings resolve to."""

    auth: httpx.Auth
    secrets: list[str] = field(repr=False)
    #: Where they came from, for the log: connection, default chain, with " via role_arn" when assumed.
    source: str


def aws_credentials(conn: Connection, region: str) -> FoundCredentials:
    """The connection's signing auth for ``region``, or :class:`ConnectionConfigError` naming the fix."""
    require_botocore()
    extras = connection.extras(conn)
    with connection.named(conn):
        key_id = (conn.login or "").strip() or extras.text("aws_access_key_id")
        secret_raw = conn.password if conn.password and conn.password.strip() else extras.get("aws_secret_access_key")
        token_raw = extras.get("aws_session_token")
        role_arn = extras.text("role_arn")
        session_name = extras.text("role_session_name", DEFAULT_SESSION_NAME) or DEFAULT_SESSION_NAME
        external_id = extras.text("external_id")
        sts_endpoint = extras.text("sts_endpoint_url")
    secrets: list[str] = []
    static: tuple[str, str, str | None] | None = None
    if secret_raw and not key_id:
        if role_arn:
            raise connection.config_error(
                conn, "role_arn needs an access key pair to assume it with: put the access key id in Login."
            )
        api_key = connection.require_secret(conn, secret_raw if isinstance(secret_raw, str) else None, "API key")
        return FoundCredentials(HeaderAuth(api_key), [api_key], "Bedrock API key")
    if key_id:
        secret = connection.require_secret(
            conn, secret_raw if isinstance(secret_raw, str) else None, "secret access key"
        )
        token = None
        if token_raw is not None:
            token = connection.require_secret(
                conn, token_raw if isinstance(token_raw, str) else None, "session token", "aws_session_token extra"
            )
        connection.require_secret(conn, key_id, "access key id", "Login")
        secrets = [secret, *([token] if token else [])]
        static = (key_id, secret, token)
    source = "connection" if static else "default chain"

    def source_credentials() -> Credentials:
        from botocore.credentials import Credentials

        if static is not None:
            return Credentials(*static)
        return _default_chain(conn)

    load: Callable[[], Credentials] = source_credentials
    if role_arn:
        load = _assumed(conn, source_credentials, role_arn, region, session_name, external_id, sts_endpoint)
        source += " via role_arn"
    material = repr((static, role_arn, session_name, external_id, sts_endpoint, region))
    key = ("aws_auth", conn.conn_id, hashlib.sha256(material.encode()).hexdigest())
    auth = process_cache.get(key, lambda: SigV4Auth(load, region))
    return FoundCredentials(auth, secrets, source)


def default_region() -> str | None:
    """The region the AWS configuration names (``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``~/.aws/config``)."""
    import botocore.session

    region = botocore.session.get_session().get_config_variable("region")
    return str(region) if region else None


def _default_chain(conn: Connection) -> Credentials:
    """botocore's credential chain; blocking (it may ask the instance metadata service)."""
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise AuthenticationError(
            f"Connection {conn.conn_id!r} holds no AWS credentials and botocore's default chain found "
            "none. Put the access key id in Login and the secret in Password, or configure the chain "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or task role).",
            platform=PLATFORM,
        )
    return found


#: Bounds of one AssumeRole call to STS (seconds per connect and per read; attempts in all).
STS_TIMEOUT = 10
STS_ATTEMPTS = 2


def _assumed(
    conn: Connection,
    source: Callable[[], Credentials],
    role_arn: str,
    region: str,
    session_name: str,
    external_id: str | None,
    sts_endpoint: str | None,
) -> Callable[[], Credentials]:
    """A loader of the role's credentials: botocore's AssumeRole fetcher, refreshed ahead of expiry."""

    def load() -> Credentials:
        import botocore.session
        from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

        session = botocore.session.get_session()

        def client_creator(service: str, **kwargs: Any) -> Any:
            from botocore.config import Config

            kwargs.setdefault("region_name", region)
            if sts_endpoint:
                kwargs["endpoint_url"] = sts_endpoint
            # botocore's defaults (60 s to connect, 60 s to read, several retries) would let a
            # stalled STS hold a call for minutes: AssumeRole ends within STS_ATTEMPTS x 2 x STS_TIMEOUT.
            bounded = Config(
                connect_timeout=STS_TIMEOUT, read_timeout=STS_TIMEOUT, retries={"max_attempts": STS_ATTEMPTS}
            )
            return session.create_client(service, config=bounded, **kwargs)

        extra_args: dict[str, Any] = {"RoleSessionName": session_name}
        if external_id:
            extra_args["ExternalId"] = external_id
        fetcher = AssumeRoleCredentialFetcher(client_creator, source(), role_arn, extra_args=extra_args, cache={})
        return DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")

    return load


# -- the auth ---------------------------------------------------------------------------
class SigV4Auth(httpx.Auth):
    """Signs each request with botocore's SigV4 signer (service ``bedrock``) for one region.

    The signature covers the method, the path as sent, the query (rewritten to the canonical,
    strictly encoded form the signature covers), ``host``, the date and the body's hash. A request
    refused because the credentials expired gets one retry with refreshed ones.
    """

    requires_request_body = True

    def __init__(self, load: Callable[[], Credentials], region: str) -> None:
        self._load = load
        self.region = region
        self._credentials: Credentials | None = None
        self._frozen: ReadOnlyCredentials | None = None
        self._recheck_at = 0.0
        self._lock = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self.region!r})"

    @property
    def access_key_id(self) -> str | None:
        """The access key id currently signing (an identifier, not a secret), once credentials were read."""
        return self._frozen.access_key if self._frozen is not None else None

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request, self._current() or self._refresh(force=False))
        response = yield request
        if _expired(response):
            response.read()
            self.sign(request, self._refresh(force=True))
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.sign(request, self._current() or await self._arefresh(force=False))
        response = yield request
        if _expired(response):
            await response.aread()
            self.sign(request, await self._arefresh(force=True))
            yield request

    def sign(self, request: httpx.Request, credentials: ReadOnlyCredentials) -> None:
        """Put SigV4's headers on ``request`` (pure computation: safe on an event loop)."""
        from botocore.auth import SigV4Auth as BotoSigner
        from botocore.awsrequest import AWSRequest

        url = request.url
        path = url.raw_path.split(b"?", 1)[0].decode("ascii")
        headers = {"host": request.headers["host"]}
        if "content-type" in request.headers:
            headers["content-type"] = request.headers["content-type"]
        params = list(url.params.multi_items())
        signed = AWSRequest(
            method=request.method,
            url=f"{url.scheme}://{url.netloc.decode('ascii')}{path}",
            headers=headers,
            data=request.content,
            params=params,
        )
        signer = BotoSigner(credentials, SERVICE, self.region)
        signer.add_auth(signed)
        if params:
            # Send the query exactly as signed: AWS recomputes it from the strict encoding.
            request.url = url.copy_with(query=signer.canonical_query_string(signed).encode("ascii"))
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            value = signed.headers.get(name)
            if value is not None:
                request.headers[name] = value
            else:
                request.headers.pop(name, None)

    def _current(self) -> ReadOnlyCredentials | None:
        frozen = self._frozen
        return frozen if frozen is not None and time.monotonic() < self._recheck_at else None

    async def _arefresh(self, *, force: bool) -> ReadOnlyCredentials:
        loop = asyncio.get_running_loop()
        lock = self._async_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            current = None if force else self._current()
            if current is not None:  # another trigger refreshed while this one waited
                return current
            frozen, minted = await asyncio.to_thread(self._fetch, force)
            if minted:
                await version_compat.amask_secrets(minted)
            return frozen

    def _refresh(self, *, force: bool) -> ReadOnlyCredentials:
        frozen, minted = self._fetch(force)
        if minted:
            version_compat.mask_secrets(minted)
        return frozen

    def _fetch(self, force: bool) -> tuple[ReadOnlyCredentials, list[str]]:
        """(credentials, secrets new to this process); blocking, so never called on an event loop."""
        with self._lock:
            current = None if force else self._current()
            if current is not None:
                return current, []
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                if self._credentials is None or force:
                    self._credentials = self._load()
                frozen = self._credentials.get_frozen_credentials()
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", "error"))[:80]
                raise AuthenticationError(
                    f"AWS refused to give the connection's credentials ({code}). Check role_arn, its trust "
                    "policy and the source credentials.",
                    platform=PLATFORM,
                    native_code=code,
                ) from None
            except BotoCoreError as exc:
                # Only the type: botocore's texts may quote a profile or a response.
                raise PlatformUnavailableError(
                    f"Could not get AWS credentials ({type(exc).__name__}); the credential source "
                    "(STS, SSO, the instance metadata service) did not answer usably.",
                    platform=PLATFORM,
                ) from None
            refreshable = hasattr(self._credentials, "refresh_needed")
            self._recheck_at = time.monotonic() + RECHECK_SECONDS if refreshable else float("inf")
            minted = [] if frozen == self._frozen else [frozen.secret_key, frozen.token or ""]
            self._frozen = frozen
            return frozen, [s for s in minted if s]


def _expired(response: httpx.Response) -> bool:
    kind = response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    return response.status_code in (400, 403) and kind in _EXPIRED
