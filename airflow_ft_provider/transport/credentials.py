"""Credential exchanges (token endpoints, STS, Entra ID) under the transport's bounds.

A credential that must be minted (a Google access token, an assumed AWS role, an Entra ID token)
is fetched by blocking library code: google-auth, botocore, azure-identity. They keep their logic;
their HTTP goes through :class:`CredentialHttp`, which gives each request the same bounds as a job
request: the connection's ``timeout`` (and never past the exchange's deadline), ``max_response_mb``
counted after decompression, the connection's request budget, typed errors.

:class:`RefreshingAuth` runs the fetch: single-flight per credential (callers that need it while
one fetch is under way wait for that fetch), in one thread of its own (never on the event loop,
never in the thread pool other triggers use), at most ``timeout`` long whoever waits for it; each
caller waits at most until its own deadline. So a stalled token endpoint delays the calls that
need that credential, and only until their deadlines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import httpx

from airflow_ft_provider import version_compat
from airflow_ft_provider.errors import PlatformUnavailableError, RequestTimeoutError, TuningJobError
from airflow_ft_provider.transport import exchange
from airflow_ft_provider.transport.body import ACCEPT_ENCODING, BodyReader
from airflow_ft_provider.transport.budget import RequestBudget
from airflow_ft_provider.transport.deadline import attempt_deadline
from airflow_ft_provider.transport.settings import ClientSettings

C = TypeVar("C")

#: A credential is fetched again this long before it expires, or a fifth of its life if that is
#: shorter: a request signed just before expiry must still arrive valid.
REFRESH_MARGIN_SECONDS = 300.0
#: A caller waits this long past the end of a fetch's own bound before giving up on it.
FETCH_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class CredentialAnswer:
    """A credential endpoint's answer, read whole within the bounds."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class CredentialHttp:
    """Blocking HTTP for a credential library, with the bounds of the connection it serves.

    Every request ends by the exchange's deadline (set by :class:`RefreshingAuth` around the fetch)
    and within ``timeout``; its answer is read through the same size bound as a job's; it takes its
    place in the connection's request budget. Failures are the transport's typed errors.
    """

    def __init__(
        self, platform: str, settings: ClientSettings, budget: RequestBudget, client: Callable[[], httpx.Client]
    ) -> None:
        self.platform, self.settings, self.budget = platform, settings, budget
        self._client_factory = client
        self._client: httpx.Client | None = None
        #: Absolute time by which the exchange must be over (:meth:`until`); None: ``timeout`` a request.
        self.deadline: float | None = None

    def until(self, deadline: float) -> CredentialHttp:
        """This HTTP for one exchange that must be over by ``deadline``."""
        bound = copy.copy(self)
        bound.deadline = deadline
        return bound

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        timeout: float | None = None,
    ) -> CredentialAnswer:
        where = f"{method} {_shown(url)}"
        what = f"{self.platform} credential exchange ({where})"
        if self.budget.take(True, exchange.time_left(self.deadline)) is None:
            raise exchange.no_room(self.budget, what, self.platform)
        left = None if self.deadline is None else self.deadline - time.time()
        seconds = exchange.attempt_seconds(self.settings, left, what, self.platform)
        if timeout:
            seconds = min(seconds, timeout)
        client = self._client or self._connect()
        content = body.encode() if isinstance(body, str) else body
        # Only the codings the body reader decodes (the client's default also offers br and zstd).
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "accept-encoding"}
        sent["Accept-Encoding"] = ACCEPT_ENCODING
        with attempt_deadline(seconds):
            try:
                request = client.build_request(
                    method, url, headers=sent, content=content, timeout=httpx.Timeout(seconds)
                )
                response = client.send(request, stream=True)
                try:
                    reader = BodyReader(
                        response.headers.get("content-encoding"), self.settings.max_response_bytes, self.platform
                    )
                    reader.check_declared(response.headers.get("content-length"))
                    for chunk in response.iter_raw():
                        reader.feed(chunk)
                    data = reader.finish()
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                raise exchange.network_error(exc, self.platform, what, where, seconds) from None
        self.budget.observe(response.status_code)
        # The body is decoded: its coding and length headers no longer describe it.
        kept = {k: v for k, v in response.headers.items() if k not in ("content-encoding", "content-length")}
        return CredentialAnswer(response.status_code, kept, data)

    def _connect(self) -> httpx.Client:
        """The client, made on first use (in the fetch's thread: building one loads the CA bundle)."""
        self._client = self._client_factory()
        return self._client


def _shown(url: str) -> str:
    """The URL without its query (a token request's query may carry a secret)."""
    return url.split("?", 1)[0][:200]


@dataclass
class Minted(Generic[C]):
    """A credential as fetched: when it expires (Unix time; None: never) and the secrets it holds."""

    credential: C
    expires_at: float | None
    secrets: list[str] = field(repr=False, default_factory=list)
    fetched_at: float = field(default_factory=time.time)
    masked: bool = False

    def fresh(self) -> bool:
        if self.expires_at is None:
            return True
        margin = min(REFRESH_MARGIN_SECONDS, (self.expires_at - self.fetched_at) / 5)
        return time.time() < self.expires_at - margin


class RefreshingAuth(httpx.Auth, Generic[C]):
    """An auth whose credential is minted by blocking I/O, for the transport to drive.

    The transport calls :meth:`ensure` (workers) or :meth:`aensure` (triggerer) before each attempt,
    then sends with this auth, which applies the credential it holds; an answer :meth:`rejects`
    marks refused (read through the size bound first) makes it :meth:`invalidate` the credential
    and send once more with a new one. Subclasses say how to :meth:`fetch` and :meth:`apply`.
    """

    platform: str
    #: Failures of :meth:`fetch` reported as they are (their text is ours); any other exception
    #: becomes a :class:`PlatformUnavailableError` naming only its type (a library's text may quote
    #: an answer or a key).
    passed_through: ClassVar[tuple[type[Exception], ...]] = (TuningJobError,)

    def __init__(self) -> None:
        self._minted: Minted[C] | None = None
        self._rejected: C | None = None
        self._lock = threading.Lock()
        self._inflight: concurrent.futures.Future[Minted[C]] | None = None
        #: When the fetch under way must be over (Unix time).
        self._inflight_until = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- what a subclass says -----------------------------------------------------------------
    def fetch(self, http: CredentialHttp) -> Minted[C]:
        """Mint the credential (blocking; every request through ``http``)."""
        raise NotImplementedError

    def apply(self, request: httpx.Request, credential: C) -> None:
        """Put the credential on ``request`` (pure computation: safe on an event loop)."""
        raise NotImplementedError

    def rejects(self, status: int, headers: Mapping[str, str]) -> bool:
        """Whether the platform refused the credential itself (worth one retry with a new one)."""
        return status == 401

    # -- what the transport calls -------------------------------------------------------------
    def ensure(self, http: CredentialHttp, deadline: float | None) -> C:
        """A fresh credential, fetched if needed; waits at most until ``deadline``."""
        minted = self._usable()
        if minted is None:
            try:
                fetch = self._start(http)
                minted = fetch.result(timeout=self._wait_limit(deadline))
            except concurrent.futures.TimeoutError:
                raise self._late(http) from None
            except Exception as exc:
                raise _own_copy(exc) from None
        if not minted.masked:
            # Whoever first uses a credential masks it (the caller that started the fetch may
            # have given up before it ended).
            minted.masked = True
            version_compat.mask_secrets(minted.secrets)
        return minted.credential

    async def aensure(self, http: CredentialHttp, deadline: float | None) -> C:
        """As :meth:`ensure`, awaiting the fetch's thread without blocking the loop."""
        minted = self._usable()
        if minted is None:
            waiting = asyncio.wrap_future(self._start(http))
            try:
                async with asyncio.timeout(self._wait_limit(deadline)):
                    minted = await asyncio.shield(waiting)
            except TimeoutError:
                raise self._late(http) from None
            except Exception as exc:
                raise _own_copy(exc) from None
        if not minted.masked:
            minted.masked = True
            await version_compat.amask_secrets(minted.secrets)
        return minted.credential

    def invalidate(self, used: C) -> None:
        """The platform refused ``used``: the next :meth:`ensure` fetches another."""
        with self._lock:
            minted = self._minted
            if minted is not None and minted.credential is used:
                self._rejected = used

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._apply_held(request)
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self._apply_held(request)
        yield request

    # -- inside -------------------------------------------------------------------------------
    def _usable(self) -> Minted[C] | None:
        minted = self._minted
        if minted is None or minted.credential is self._rejected or not minted.fresh():
            return None
        return minted

    def _apply_held(self, request: httpx.Request) -> None:
        minted = self._minted
        if minted is None:
            raise RuntimeError(f"{type(self).__name__}: ensure() must run before a request is sent")
        self.apply(request, minted.credential)

    def _start(self, http: CredentialHttp) -> concurrent.futures.Future[Minted[C]]:
        """The fetch under way, or a new one in a thread of its own (one at a time per credential)."""
        with self._lock:
            running = self._inflight
            if running is not None and not running.done():
                return running
            current = self._usable()
            done: concurrent.futures.Future[Minted[C]] = concurrent.futures.Future()
            if current is not None:  # fetched while this caller waited for the lock
                done.set_result(current)
                return done
            self._inflight = done
            self._inflight_until = time.time() + http.settings.timeout
        exchange_http = http.until(self._inflight_until)
        threading.Thread(
            target=self._run_fetch, args=(exchange_http, done), name=f"ft-credential-{self.platform}", daemon=True
        ).start()
        return done

    def _wait_limit(self, deadline: float | None) -> float:
        """How long a caller waits for the fetch under way: until its deadline, and never much past
        the fetch's own end (a library may block where no socket timeout reaches, e.g. resolving a
        host name), so a caller without a deadline is bounded too."""
        own = max(0.0, self._inflight_until + FETCH_GRACE_SECONDS - time.time())
        left = _left(deadline)
        return own if left is None else min(own, left)

    def _run_fetch(self, http: CredentialHttp, done: concurrent.futures.Future[Minted[C]]) -> None:
        try:
            self._fetch_into(http, done)
        finally:
            if not done.done():  # SystemExit or the like: never leave the credential's callers a fetch that never ends
                done.set_exception(
                    PlatformUnavailableError(
                        f"Fetching the {self.platform} credential stopped.", platform=self.platform
                    )
                )

    def _fetch_into(self, http: CredentialHttp, done: concurrent.futures.Future[Minted[C]]) -> None:
        try:
            minted = self.fetch(http)
        except self.passed_through as exc:
            done.set_exception(exc)
            return
        except Exception as exc:  # a library's own failure: only its type (its text may quote an answer)
            typed = typed_cause(exc)
            if typed is not None:  # our bounds ended it, under the library's wrapper
                done.set_exception(typed)
                return
            done.set_exception(
                PlatformUnavailableError(
                    f"Fetching the {self.platform} credential failed ({type(exc).__name__}).", platform=self.platform
                )
            )
            return
        with self._lock:
            self._minted, self._rejected = minted, None
        done.set_result(minted)

    def _late(self, http: CredentialHttp) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"{self.platform}: the credential was not fetched before the caller's deadline or the end of the "
            f"exchange (the token endpoint is slow or silent; each exchange is bounded by "
            f"timeout={http.settings.timeout:g} s).",
            platform=self.platform,
        )


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.time())


def typed_cause(exc: BaseException) -> TuningJobError | None:
    """The transport's typed error that ``exc`` (a library's wrapper) was raised from, if any:
    followed through ``__cause__``/``__context__`` and azure-core's ``inner_exception``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TuningJobError):
            return current
        seen.add(id(current))
        inner = getattr(current, "inner_exception", None)
        if isinstance(inner, TuningJobError):
            return inner
        current = current.__cause__ or current.__context__
    return None


def _own_copy(exc: Exception) -> Exception:
    """A fetch's failure for one waiter: every waiter raises its own copy, so that the shared
    exception does not collect each waiter's traceback (and a waiter's frames another's)."""
    try:
        mine = copy.copy(exc)
    except Exception:  # pragma: no cover - an exception that cannot be copied: raised as is
        return exc
    mine.__traceback__ = None
    return mine
