"""AWS credentials and SigV4 signing for Bedrock and SageMaker, from their own or an ``aws`` connection.

Credentials: Login/Password (or the ``aws`` connection's ``aws_access_key_id`` and
``aws_secret_access_key`` extras) with an optional ``aws_session_token``; a Password without a
Login is an API key where the service takes one (Bedrock: ``Authorization: Bearer``); else botocore's default chain
(environment, shared files, SSO, container or instance roles). With ``role_arn`` those are only the
source: STS AssumeRole gives the credentials used, refreshed before they expire.
botocore is an optional extra, imported only here and only when a connection is configured, so
parsing DAGs never pays for it. :class:`SigV4Auth` signs each request with botocore's signer;
finding and refreshing credentials is blocking I/O (IMDS, STS), done in a thread of its own once
per connection and process (``transport.credentials``), while the event loop only signs. STS goes
through the transport's bounds; botocore's default chain (environment, files, SSO, the instance or
container metadata services) keeps botocore's own HTTP and its short timeouts (1-2 s a probe):
botocore gives those fetchers no transport to replace.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from airflow_ft_provider.errors import AuthenticationError, ConnectionConfigError, PlatformUnavailableError
from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.auth import HeaderAuth
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.transport.credentials import CredentialHttp, Minted, RefreshingAuth

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from botocore.credentials import Credentials, ReadOnlyCredentials

    from airflow_ft_provider.platforms.aws import AwsDialect

INSTALL_HINT = "pip install 'airflow-ft-provider[amazon]'"
#: Refreshable credentials (STS, SSO, instance roles) are asked again after this long; botocore
#: refreshes them itself ahead of their expiry, so this only bounds how stale a copy gets.
RECHECK_SECONDS = 60.0
#: What AWS calls credentials that expired (a retry with refreshed ones can succeed).
_EXPIRED = frozenset({"ExpiredTokenException", "ExpiredToken", "RequestExpired"})
DEFAULT_SESSION_NAME = "airflow-ft-provider"


def require_botocore(service: str) -> None:
    """botocore, or the error naming the extra. Also imports what signing needs, here (a worker, or
    the triggerer's thread reading the connection), so that signing on an event loop imports nothing."""
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.session  # noqa: F401
    except ImportError:
        raise ConnectionConfigError(
            f"{service} needs botocore (AWS request signing), which is not installed: {INSTALL_HINT}"
        ) from None


@dataclass
class FoundCredentials:
    """What a connection's AWS settings resolve to."""

    auth: httpx.Auth
    secrets: list[str] = field(repr=False)
    #: Where they came from, for the log: connection, default chain, with " via role_arn" when assumed.
    source: str


def aws_credentials(conn: Connection, dialect: AwsDialect) -> FoundCredentials:
    """The connection's signing auth for ``dialect``'s service and region, or a
    :class:`ConnectionConfigError` naming the fix."""
    require_botocore(dialect.service_title)
    region, platform = dialect.region, dialect.platform
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
        if not dialect.takes_api_key:
            raise connection.config_error(
                conn,
                f"{dialect.service_title} takes no API key: put the access key id in Login (Password: its secret).",
            )
        if role_arn:
            raise connection.config_error(
                conn, "role_arn needs an access key pair to assume it with: put the access key id in Login."
            )
        api_key = connection.require_secret(conn, secret_raw if isinstance(secret_raw, str) else None, "API key")
        return FoundCredentials(HeaderAuth(api_key), [api_key], f"{dialect.service_title} API key")
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

    def source_credentials(_via: StsVia | None = None) -> Credentials:
        from botocore.credentials import Credentials

        if static is not None:
            return Credentials(*static)
        return _default_chain(conn, platform)

    load: Callable[[StsVia], Credentials] = source_credentials
    if role_arn:
        load = _assumed(conn, source_credentials, role_arn, region, session_name, external_id, sts_endpoint)
        source += " via role_arn"
    material = repr((static, role_arn, session_name, external_id, sts_endpoint, region, dialect.signing_name))
    key = ("aws_auth", conn.conn_id, hashlib.sha256(material.encode()).hexdigest())
    auth = process_cache.get(key, lambda: SigV4Auth(load, region, dialect.signing_name, platform))
    return FoundCredentials(auth, secrets, source)


def default_region() -> str | None:
    """The region the AWS configuration names (``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``~/.aws/config``)."""
    import botocore.session

    region = botocore.session.get_session().get_config_variable("region")
    return str(region) if region else None


def _default_chain(conn: Connection, platform: str) -> Credentials:
    """botocore's credential chain; blocking (it may ask the instance metadata service)."""
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise AuthenticationError(
            f"Connection {conn.conn_id!r} holds no AWS credentials and botocore's default chain found "
            "none. Put the access key id in Login and the secret in Password, or configure the chain "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or task role).",
            platform=platform,
        )
    return found


#: AssumeRole attempts in all (botocore's retry of a throttled or failed STS answer). Every
#: attempt goes through the transport (:class:`StsVia`): its timeout, size bound and budget.
STS_ATTEMPTS = 2


def _assumed(
    conn: Connection,
    source: Callable[[], Credentials],
    role_arn: str,
    region: str,
    session_name: str,
    external_id: str | None,
    sts_endpoint: str | None,
) -> Callable[[StsVia], Credentials]:
    """A loader of the role's credentials: botocore's AssumeRole fetcher, refreshed ahead of expiry,
    its STS requests sent ``via`` the transport."""

    def load(via: StsVia) -> Credentials:
        import botocore.session
        from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

        session = botocore.session.get_session()

        def client_creator(service: str, **kwargs: Any) -> Any:
            from botocore.config import Config

            kwargs.setdefault("region_name", region)
            if sts_endpoint:
                kwargs["endpoint_url"] = sts_endpoint
            config = Config(retries={"total_max_attempts": STS_ATTEMPTS})
            return via.attach(session.create_client(service, config=config, **kwargs))

        extra_args: dict[str, Any] = {"RoleSessionName": session_name}
        if external_id:
            extra_args["ExternalId"] = external_id
        fetcher = AssumeRoleCredentialFetcher(client_creator, source(), role_arn, extra_args=extra_args, cache={})
        return DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")

    return load


# -- the auth ---------------------------------------------------------------------------
class SigV4Auth(RefreshingAuth["ReadOnlyCredentials"]):
    """Signs each request with botocore's SigV4 signer for one service (``bedrock``, ``sagemaker``) and region.

    The signature covers the method, the path as sent, the query (rewritten to the canonical,
    strictly encoded form the signature covers), ``host``, the date and the body's hash. A request
    refused because the credentials expired gets one retry with refreshed ones. Refreshable
    credentials are read again every :data:`RECHECK_SECONDS` (botocore refreshes them, through
    STS for a role, ahead of their expiry).
    """

    requires_request_body = True

    def __init__(self, load: Callable[[StsVia], Credentials], region: str, service: str, platform: str) -> None:
        super().__init__()
        self._load = load
        self.region = region
        self.service = service
        self.platform = platform
        self._credentials: Credentials | None = None
        self._via = StsVia()
        self._frozen: ReadOnlyCredentials | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(service={self.service!r}, region={self.region!r})"

    @property
    def access_key_id(self) -> str | None:
        """The access key id currently signing (an identifier, not a secret), once credentials were read."""
        return self._frozen.access_key if self._frozen is not None else None

    def rejects(self, status: int, headers: Mapping[str, str]) -> bool:
        return _expired(status, headers)

    def apply(self, request: httpx.Request, credential: ReadOnlyCredentials) -> None:
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
        signer = BotoSigner(credential, self.service, self.region)
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

    def fetch(self, http: CredentialHttp) -> Minted[ReadOnlyCredentials]:
        from botocore.exceptions import BotoCoreError, ClientError

        self._via.http = http
        try:
            if self._credentials is None or (self._frozen is not None and self._rejected is self._frozen):
                self._credentials = self._load(self._via)
            frozen = self._credentials.get_frozen_credentials()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))[:80]
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status >= 500 or code in ("Throttling", "ThrottlingException"):
                raise PlatformUnavailableError(
                    f"AWS STS could not give the connection's credentials now ({code}).",
                    platform=self.platform,
                    native_code=code,
                ) from None
            raise AuthenticationError(
                f"AWS refused to give the connection's credentials ({code}). Check role_arn, its trust "
                "policy and the source credentials.",
                platform=self.platform,
                native_code=code,
            ) from None
        except BotoCoreError as exc:
            # Only the type: botocore's texts may quote a profile or a response.
            raise PlatformUnavailableError(
                f"Could not get AWS credentials ({type(exc).__name__}); the credential source "
                "(STS, SSO, the instance metadata service) did not answer usably.",
                platform=self.platform,
            ) from None
        refreshable = hasattr(self._credentials, "refresh_needed")
        minted = [] if frozen == self._frozen else [frozen.secret_key, frozen.token or ""]
        if frozen == self._frozen and self._frozen is not None:
            frozen = self._frozen  # the same credentials: keep the object the transport compares
        self._frozen = frozen
        expires = time.time() + RECHECK_SECONDS if refreshable else None
        return Minted(frozen, expires, [s for s in minted if s])


class StsVia:
    """How botocore's STS client sends: through the current exchange's :class:`CredentialHttp`.

    botocore lets an event handler answer a request in its place (``before-send``); the handler
    sends it with the transport's bounds, so AssumeRole keeps the deadline, the size bound and the
    connection's budget. The credentials object outlives one exchange, so it reads the HTTP of the
    exchange under way from here.
    """

    http: CredentialHttp | None = None

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._send)
        return client

    def _send(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        http = self.http
        if http is None:  # pragma: no cover - a fetch always sets it first
            raise RuntimeError("STS request outside a credential exchange")
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        answer = http.request(request.method, request.url, headers=dict(request.headers.items()), body=body)
        return AWSResponse(request.url, answer.status, answer.headers, _Raw(answer.body))


class _Raw:
    """The read body, as botocore's response reads it (``stream()``)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _expired(status: int, headers: Mapping[str, str]) -> bool:
    kind = headers.get("x-amzn-errortype", "").split(":", 1)[0]
    return status in (400, 403) and kind in _EXPIRED
