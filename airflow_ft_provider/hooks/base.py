"""What every platform hook shares: connection reading, the transport, and the job calls.

A platform hook only says how to turn its Airflow connection into a dialect and an auth
(:meth:`TuningJobHook.configure`); everything else (sync and async get/list/cancel,
retries, secret masking, the shared async client pool, the Test button) lives here.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx
from airflow.providers.common.compat.sdk import BaseHook

from airflow_ft_provider.connection_fields import CONNECTION_FORMS, legacy_form_widgets, legacy_ui_behaviour
from airflow_ft_provider.errors import MalformedResponseError, TuningJobError
from airflow_ft_provider.jobs import Platform, TuningJob
from airflow_ft_provider.platforms.base import Dialect, Page
from airflow_ft_provider.transport import AsyncTransport, ClientSettings, SyncTransport, shared_async_pool

if TYPE_CHECKING:
    from airflow.sdk import Connection


class ConnectionConfigError(ValueError):
    """The Airflow connection is missing something or holds a value that cannot work."""


@dataclass
class PlatformSetup:
    """Everything a transport needs, derived from one Airflow connection."""

    dialect: Dialect
    auth: httpx.Auth | None
    settings: ClientSettings
    #: Values to register with the secrets masker (keys, tokens, private keys); never in repr.
    secrets: list[str] = field(default_factory=list, repr=False)


def extra_value(conn: Connection, name: str, default: Any = None) -> Any:
    """An extra field, plain or with the legacy ``extra__<type>__`` prefix; blanks count as unset."""
    extras = conn.extra_dejson
    for key in (name, f"extra__{conn.conn_type}__{name}"):
        value = extras.get(key)
        if value not in (None, ""):
            return value
    return default


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def extra_flag(conn: Connection, name: str, default: bool) -> bool:
    """A yes/no extra. Anything but a clear yes or no is refused rather than guessed: a typo in
    ``verify_tls`` must not turn certificate checks off, nor one in ``allow_insecure_http`` on."""
    value = extra_value(conn, name, default)
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ConnectionConfigError(
        f"Connection {conn.conn_id!r}: the extra {name}={str(value)[:40]!r} is neither true nor false. "
        f"Set {name} to true or false (or remove it for the default, {str(default).lower()})."
    )


def client_settings(conn: Connection) -> ClientSettings:
    """Timeouts and retry limits from the connection's extras (all optional)."""
    defaults = ClientSettings()
    verify_tls = extra_flag(conn, "verify_tls", True)
    try:
        return ClientSettings(
            timeout=float(extra_value(conn, "timeout", defaults.timeout)),
            max_attempts=max(1, int(extra_value(conn, "max_retries", defaults.max_attempts - 1)) + 1),
            max_retry_seconds=float(extra_value(conn, "max_retry_seconds", defaults.max_retry_seconds)),
            backoff_max=float(extra_value(conn, "backoff_max", defaults.backoff_max)),
            verify_tls=verify_tls,
            max_connections=int(extra_value(conn, "max_connections", defaults.max_connections)),
        )
    except (TypeError, ValueError) as exc:
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: timeout, max_retries, max_retry_seconds, backoff_max and "
            f"max_connections must be numbers ({exc})."
        ) from None


def base_url(conn: Connection, default: str) -> str:
    """The connection's ``host`` (or ``base_url`` extra) as a URL, else the platform default.

    Plain ``http://`` is refused except for loopback hosts (emulators, local proxies) or
    with ``allow_insecure_http`` in the extras: API keys must not cross a network in clear.
    """
    raw = extra_value(conn, "base_url") or conn.host or default
    url = raw if "://" in raw else f"https://{raw}"
    if conn.port and "://" not in raw:
        url = f"{url}:{conn.port}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: host {raw!r} is not an http(s) URL. "
            "Set the host to e.g. 'https://api.example.com/v1' or leave it empty for the default."
        )
    insecure_ok = extra_flag(conn, "allow_insecure_http", False)
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not insecure_ok:
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: plain http:// to {parts.hostname!r} would send the API key "
            "unencrypted. Use https://, or set the extra allow_insecure_http=true if this is intended."
        )
    return url.rstrip("/")


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


#: What may go into an HTTP header as a credential: visible ASCII, no spaces.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def require_secret(conn: Connection, value: str | None, what: str, where: str = "Password") -> str:
    """The credential, stripped of the line break or spaces a paste often brings along.

    Anything else that cannot go into a header is refused here, by name and never shown:
    sent as is, httpx would reject it with an error that quotes the whole header.
    """
    secret = value.strip() if isinstance(value, str) else ""
    if not secret:
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r} has no {what}. Put it in the connection's {where} field."
        )
    if not _HEADER_SAFE.fullmatch(secret):
        raise ConnectionConfigError(
            f"Connection {conn.conn_id!r}: the {what} in {where} contains spaces, line breaks or "
            "non-ASCII characters, so it cannot be sent. Paste the key alone, without other text."
        )
    return secret


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <key>`` (or another header), applied by the transport only."""

    def __init__(self, secret: str, header: str = "Authorization", scheme: str | None = "Bearer") -> None:
        self._header = header
        self._value = f"{scheme} {secret}" if scheme else secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(header={self._header!r})"


class TuningJobHook(BaseHook):
    """Read, list and cancel fine-tuning jobs of one platform, sync or async."""

    conn_name_attr = "conn_id"
    conn_type: ClassVar[str]
    default_conn_name: ClassVar[str]
    hook_name: ClassVar[str]
    platform: ClassVar[Platform]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self._client: httpx.Client | None = None

    # -- what a platform hook provides -------------------------------------------------
    def configure(self, conn: Connection) -> PlatformSetup:
        """Turn the Airflow connection into a dialect, an auth and client settings."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each platform hook the legacy form methods for Airflow 3.1.

        Airflow only looks for them in the hook class's own ``__dict__``, so inheriting them
        is not enough; 3.2+ reads the same fields from ``conn-fields`` and skips them.
        """
        super().__init_subclass__(**kwargs)
        form = CONNECTION_FORMS.get(cls.__dict__.get("conn_type", ""))
        if form is not None:
            cls.hook_name = form.hook_name
            cls.get_connection_form_widgets = classmethod(  # type: ignore[assignment,method-assign]
                lambda c: legacy_form_widgets(form.fields)
            )
            cls.get_ui_field_behaviour = classmethod(  # type: ignore[assignment,method-assign]
                lambda c: legacy_ui_behaviour(form.ui)
            )

    # -- sync ---------------------------------------------------------------------------
    @cached_property
    def setup(self) -> PlatformSetup:
        setup = self.configure(self.get_connection(self.conn_id))
        from airflow.providers.common.compat.sdk import mask_secret

        for secret in setup.secrets:
            mask_secret(secret)
        return setup

    @property
    def transport(self) -> SyncTransport:
        setup = self.setup
        if self._client is None:
            self._client = httpx.Client(**setup.settings.client_kwargs())  # type: ignore[arg-type]
        return SyncTransport(setup.dialect, setup.auth, setup.settings, self._client)

    def get_conn(self) -> SyncTransport:
        return self.transport

    def get_job(self, job_id: str) -> TuningJob:
        dialect = self.setup.dialect
        return self.transport.call(dialect.get_request(job_id), dialect.parse_job)

    def list_jobs(self, page_size: int | None = None) -> Iterator[TuningJob]:
        """Every job of the connection, newest first where the platform orders them; pages are
        fetched lazily as the iterator advances."""
        for page in self._pages_after(self._list_page(None, page_size), page_size):
            yield from page.jobs

    def list_all_jobs(
        self,
        page_size: int | None = None,
        map_pages: Callable[[Callable[[str], Page], Sequence[str]], Iterable[Page]] = map,
    ) -> list[TuningJob]:
        """Every job of the connection, at once.

        Where the platform numbers its pages and the first answer says how many (DashScope),
        the other pages are fetched through ``map_pages``: an executor's ``map`` fetches them
        side by side instead of one round trip after another. Elsewhere, page by page.
        """
        first = self._list_page(None, page_size)
        if first.later_tokens:
            pages = [first, *map_pages(partial(self._list_page, page_size=page_size), first.later_tokens)]
        else:
            pages = list(self._pages_after(first, page_size))
        return [job for page in pages for job in page.jobs]

    def _list_page(self, token: str | None, page_size: int | None) -> Page:
        dialect = self.setup.dialect
        request = dialect.list_request(token, page_size)
        return self.transport.call(request, partial(dialect.parse_page, request=request))

    def _pages_after(self, page: Page, page_size: int | None) -> Iterator[Page]:
        """``page``, then the pages after it, one request at a time."""
        seen = set[str]()
        while True:
            yield page
            if not (token := _next_token(page, seen, self.setup.dialect)):
                return
            page = self._list_page(token, page_size)

    def cancel_job(self, job_id: str) -> TuningJob | None:
        """Ask the platform to cancel; returns the job if the answer carries it.

        This is the raw call: it raises :class:`JobNotCancellableError` for an ended job.
        The operator adds the read-first, idempotent semantics on top.
        """
        dialect = self.setup.dialect
        request = dialect.cancel_request(job_id)
        return self.transport.call(request, lambda r: dialect.parse_cancel(r, request))

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (the first page of one job) for the UI's Test button."""
        try:
            dialect = self.setup.dialect
            request = dialect.list_request(None, 1)
            self.transport.call(request, lambda r: dialect.parse_page(r, request))
        except (TuningJobError, ConnectionConfigError) as exc:
            return False, f"{self.hook_name}: {exc}"
        return True, f"{self.hook_name}: connected to {dialect.base_url} and listed tuning jobs."

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- async (triggerer) --------------------------------------------------------------
    async def aget_setup(self) -> PlatformSetup:
        """The setup from the connection, read without blocking the event loop."""
        cached = self.__dict__.get("_async_setup")
        if cached is not None:
            return cached
        from airflow.providers.common.compat.connection import get_async_connection

        conn = await get_async_connection(self.conn_id, hook=self)
        # Thousands of triggers share a few connections: configure (and mask) each connection
        # version once per process. The key holds a digest of the connection, never a secret.
        key = (type(self), self.conn_id, _fingerprint(conn))
        setup = _ASYNC_SETUPS.get(key)
        if setup is None:
            # configure() may read a key file or probe for Google's default credentials: off the loop.
            setup = await asyncio.to_thread(self.configure, conn)
            await mask_secrets_async(setup.secrets)
            _ASYNC_SETUPS[key] = setup
        self.__dict__["_async_setup"] = setup
        return setup

    async def atransport(self) -> AsyncTransport:
        setup = await self.aget_setup()
        pool = await shared_async_pool(self._pool_key(setup), setup.settings)
        return AsyncTransport(setup.dialect, setup.auth, setup.settings, pool)

    async def aget_job(self, job_id: str) -> TuningJob:
        transport = await self.atransport()
        dialect = transport.dialect
        return await transport.call(dialect.get_request(job_id), dialect.parse_job)

    async def alist_jobs(self, page_size: int | None = None) -> AsyncIterator[TuningJob]:
        transport = await self.atransport()
        dialect, token, seen = transport.dialect, None, set[str]()
        while True:
            request = dialect.list_request(token, page_size)
            page = await transport.call(request, partial(dialect.parse_page, request=request))
            for job in page.jobs:
                yield job
            if not (token := _next_token(page, seen, dialect)):
                return

    async def acancel_job(self, job_id: str) -> TuningJob | None:
        transport = await self.atransport()
        dialect = transport.dialect
        request = dialect.cancel_request(job_id)
        return await transport.call(request, lambda r: dialect.parse_cancel(r, request))

    def _pool_key(self, setup: PlatformSetup) -> tuple[object, ...]:
        # Clients are shared per connection and its HTTP settings (an edited connection gets
        # a new pool); credentials are applied per request, so they are not part of the key.
        return (self.conn_id, setup.dialect.base_url, setup.settings)


def _next_token(page: Page, seen: set[str], dialect: Dialect) -> str | None:
    """The page's next-page token, refused if it came before: a server that keeps answering
    "more after this" with the same token would otherwise hold a task in an endless listing."""
    token = page.next_token
    if token and token in seen:
        raise MalformedResponseError(
            f"{dialect.platform} answered the same next-page token twice while listing jobs; "
            "stopped the listing instead of looping.",
            platform=dialect.platform,
        )
    if token:
        seen.add(token)
    return token


_ASYNC_SETUPS: dict[tuple[type, str, str], PlatformSetup] = {}


def forget_async_setups() -> None:
    """Drop the per-process setups (tests that need a fresh token exchange or masking)."""
    _ASYNC_SETUPS.clear()


def _fingerprint(conn: Connection) -> str:
    fields = (conn.conn_type, conn.host, conn.login, conn.password, conn.schema, conn.port, conn.extra)
    return hashlib.sha256(repr(fields).encode()).hexdigest()


async def mask_secrets_async(secrets: Sequence[str]) -> None:
    """Register secrets with the masker without a blocking supervisor call on the loop."""
    from airflow.sdk import log as sdk_log

    send_mask = getattr(sdk_log, "amask_secret", None)  # Airflow 3.3+
    for secret in secrets:
        if send_mask is not None:
            await send_mask(secret)
        else:
            await asyncio.to_thread(sdk_log.mask_secret, secret)
