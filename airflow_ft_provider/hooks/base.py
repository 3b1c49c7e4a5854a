"""The hook every platform shares: a connection's jobs, read, listed and cancelled, sync or async.

A platform's hook only says how its Airflow connection becomes a dialect and an auth
(:meth:`TuningJobHook.configure`); API-key platforms do not even do that (``hooks.api_key``).
Connection reading is in ``hooks.connection``, HTTP in ``transport``, paging in ``paging``; what
one process shares per connection (setups, budgets, pools) in ``process_cache``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
from airflow.providers.common.compat.sdk import BaseHook

from airflow_ft_provider import version_compat
from airflow_ft_provider.errors import TuningJobError, UnexpectedResponseError
from airflow_ft_provider.jobs import TuningJob
from airflow_ft_provider.paging import listing
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Page
from airflow_ft_provider.platforms.paging_base import PageAnswer
from airflow_ft_provider.platforms.registry import known_platform
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.transport import (
    AsyncTransport,
    ClientSettings,
    SyncTransport,
    new_sync_client,
    shared_async_pool,
    shared_budget,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_ft_provider.job_filter import JobFilter
    from airflow_ft_provider.platforms.record import PlatformRecord

__all__ = ["PlatformSetup", "RawPage", "TuningJobHook", "declare_hook"]

H = TypeVar("H", bound="type[TuningJobHook]")
P = TypeVar("P")
#: Runs a function over page requests, e.g. an executor's ``map`` to fetch numbered pages side by side.
PageMap = Callable[[Callable[[ApiRequest], Page], Sequence[ApiRequest]], Iterable[Page]]
#: A listed page with its records unparsed, and the answer it came in (records are read against it).
RawPage = tuple[PageAnswer, ApiResponse]


@dataclass
class PlatformSetup:
    """Everything a transport needs, derived from one Airflow connection."""

    dialect: Dialect
    auth: httpx.Auth | None
    settings: ClientSettings
    #: Values to register with the secrets masker (keys, tokens, private keys); never in repr.
    secrets: list[str] = field(default_factory=list, repr=False)
    #: What kind of credential authenticates, and from which field ("OpenAI API key (Password)"):
    #: shown by the smoke check (``python -m airflow_ft_provider check``), never the secret itself.
    credential_kind: str = "not described by the hook"


def declare_hook(record: PlatformRecord) -> Callable[[H], H]:
    """Make a hook class the one Airflow registers for ``record``'s connection types.

    Sets what the providers manager reads (``conn_type``, ``hook_name``, ``default_conn_name``) and,
    on Airflow 3.1, the form methods it looks for in the class's own ``__dict__``.
    """

    def declare(cls: H) -> H:
        cls.record = record
        cls.platform = known_platform(record.name)
        cls.conn_type = record.conn_type
        cls.hook_name = record.hook_name
        cls.default_conn_name = record.default_conn_name
        for name, method in version_compat.legacy_connection_form_methods(record.form).items():
            setattr(cls, name, method)
        return cls

    return declare


class TuningJobHook(BaseHook):
    """Read, list and cancel fine-tuning jobs of one platform, sync or async.

    Every call takes an optional ``deadline`` (absolute Unix time): no attempt, retry or wait of
    the call outlives it (see ``transport``). ``urgent=False`` marks background reads, which the
    connection's request budget serves after cancels and confirmations.
    """

    conn_name_attr = "conn_id"
    record: ClassVar[PlatformRecord]
    platform: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    default_conn_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self._setup: PlatformSetup | None = None
        self._client: httpx.Client | None = None

    def configure(self, conn: Connection) -> PlatformSetup:
        """Turn the Airflow connection into a dialect, an auth and client settings."""
        raise NotImplementedError

    # -- sync ---------------------------------------------------------------------------------
    def prepare(self) -> PlatformSetup:
        """Read the connection (once per hook) and register its secrets with the masker."""
        if self._setup is None:
            setup = self.configure(self.get_connection(self.conn_id))
            version_compat.mask_secrets(setup.secrets)
            self._setup = setup
        return self._setup

    def get_conn(self) -> SyncTransport:
        setup = self.prepare()
        if self._client is None:
            self._client = new_sync_client(setup.settings)
        return SyncTransport(setup.dialect, setup.auth, setup.settings, self._client, self._budget(setup))

    def get_job(self, job_id: str, *, deadline: float | None = None, urgent: bool = True) -> TuningJob:
        transport = self.get_conn()
        request = transport.dialect.get_request(job_id)
        return transport.call(request, _job_reader(transport.dialect, request), deadline=deadline, urgent=urgent)

    def cancel_job(self, job_id: str, *, deadline: float | None = None) -> TuningJob | None:
        """Ask the platform to cancel; returns the job if the answer carries it.

        This is the raw call: it raises :class:`JobNotCancellableError` for an ended job. The flows
        (``flows.cancel_flow``) add the read-first, idempotent semantics the operators use.
        """
        transport = self.get_conn()
        request = transport.dialect.cancel_request(job_id)
        return transport.call(request, _cancel_reader(transport.dialect, request), deadline=deadline)

    def list_jobs(
        self, page_size: int | None = None, *, deadline: float | None = None, urgent: bool = True
    ) -> Iterator[TuningJob]:
        """Every job of the connection, newest first where the platform orders them; pages are
        fetched lazily as the iterator advances, within the listing's bounds (``paging``)."""
        transport = self.get_conn()
        walk = listing(transport.dialect, transport.settings, page_size, side_by_side=False)
        batch = next(walk)
        while True:
            pages = [
                transport.call(r, _page_reader(transport.dialect, r), deadline=deadline, urgent=urgent) for r in batch
            ]
            for page in pages:
                yield from page.jobs
            try:
                batch = walk.send(pages)
            except StopIteration:
                return

    def list_all_jobs(
        self,
        page_size: int | None = None,
        *,
        deadline: float | None = None,
        urgent: bool = True,
        map_pages: PageMap = map,
        narrow_to: JobFilter | None = None,
    ) -> list[TuningJob]:
        """Every job of the connection, at once.

        Where the platform numbers its pages and the first answer says how many (DashScope), the
        other pages are fetched through ``map_pages``: an executor's ``map`` fetches them side by
        side instead of one round trip after another. Elsewhere, page by page. ``narrow_to``: a bulk
        filter the platform's listing may apply in part (``Dialect.narrowed``); apply it to the answer.
        """
        transport = self.get_conn()
        dialect = transport.dialect
        if narrow_to is not None:
            dialect = dialect.narrowed(narrow_to, datetime.now(UTC))

        def fetch(request: ApiRequest) -> Page:
            return transport.call(request, _page_reader(dialect, request), deadline=deadline, urgent=urgent)

        walk = listing(dialect, transport.settings, page_size, side_by_side=True)
        jobs: list[TuningJob] = []
        batch = next(walk)
        while True:
            pages = [fetch(batch[0])] if len(batch) == 1 else list(map_pages(fetch, batch))
            jobs.extend(job for page in pages for job in page.jobs)
            try:
                batch = walk.send(pages)
            except StopIteration:
                return jobs

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (the first page of one job) for the UI's Test button."""
        version_compat.warn_if_encryption_broken()
        try:
            transport = self.get_conn()
            request = transport.dialect.list_request(None, 1)
            transport.call(request, _page_reader(transport.dialect, request), deadline=None)
        except TuningJobError as exc:
            return False, f"{self.hook_name}: {exc}"
        message = f"{self.hook_name}: connected to {transport.dialect.base_url} and listed tuning jobs."
        if broken := version_compat.encryption_broken():
            message += f" But: {broken}"
        return True, message

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- async (triggerer) ------------------------------------------------------------------------
    async def aprepare(self) -> PlatformSetup:
        """The setup from the connection, read without blocking the event loop.

        Thousands of triggers share a few connections, and after a triggerer restart they all start
        at once: one read of the connection serves every trigger of it that asks within
        :data:`CONNECTION_REUSE_SECONDS` (edits are picked up after that), and each connection version
        is configured, its secrets masked and its token minted once per process.
        """
        entries = process_cache.on_loop()
        key = ("setup-read", type(self), self.conn_id)
        entry = entries.get(key)
        if entry is None or _stale(*entry):
            entry = entries[key] = (asyncio.ensure_future(self._aread_setup()), time.monotonic())
        return await asyncio.shield(entry[0])

    async def _aread_setup(self) -> PlatformSetup:
        conn = await version_compat.aget_connection(self)
        # The key holds a digest of the connection, never a secret.
        key = ("setup", type(self), self.conn_id, _fingerprint(conn))
        setup = process_cache.peek(key)
        if setup is None:
            # configure() may read a key file or probe for Google's default credentials: off the loop.
            made = await asyncio.to_thread(self.configure, conn)
            await version_compat.amask_secrets(made.secrets)
            setup = process_cache.put(key, made)
        return setup

    async def atransport(self) -> AsyncTransport:
        setup = await self.aprepare()
        pool = await shared_async_pool((self.conn_id, setup.dialect.base_url), setup.settings)
        return AsyncTransport(setup.dialect, setup.auth, setup.settings, pool, self._budget(setup))

    async def aget_job(self, job_id: str, *, deadline: float | None = None, urgent: bool = True) -> TuningJob:
        transport = await self.atransport()
        request = transport.dialect.get_request(job_id)
        return await transport.call(request, _job_reader(transport.dialect, request), deadline=deadline, urgent=urgent)

    async def acancel_job(self, job_id: str, *, deadline: float | None = None) -> TuningJob | None:
        transport = await self.atransport()
        request = transport.dialect.cancel_request(job_id)
        return await transport.call(request, _cancel_reader(transport.dialect, request), deadline=deadline)

    async def alist_jobs(
        self, page_size: int | None = None, *, deadline: float | None = None, urgent: bool = True
    ) -> AsyncIterator[TuningJob]:
        """Every job of the connection, page by page (numbered pages side by side)."""
        async for page in self._apages(_page_reader, lambda page: page, page_size, deadline, urgent):
            for job in page.jobs:
                yield job

    def alist_raw_pages(
        self, page_size: int | None = None, *, deadline: float | None = None, urgent: bool = True
    ) -> AsyncIterator[RawPage]:
        """The listing's pages with their records unparsed (``Dialect.read_page``), for a reader that
        needs few of them: the triggerer's watcher parses only the jobs it waits for."""
        return self._apages(_raw_page_reader, lambda page: page[0], page_size, deadline, urgent)

    async def _apages(
        self,
        reader: Callable[[Dialect, ApiRequest], Callable[[ApiResponse], P]],
        view: Callable[[P], Page | PageAnswer],
        page_size: int | None,
        deadline: float | None,
        urgent: bool,
    ) -> AsyncIterator[P]:
        """One listing's pages as ``reader`` reads them; ``view``: what the walk reads of a page."""
        transport = await self.atransport()

        async def fetch(request: ApiRequest) -> P:
            return await transport.call(request, reader(transport.dialect, request), deadline=deadline, urgent=urgent)

        walk = listing(transport.dialect, transport.settings, page_size, side_by_side=True)
        batch = next(walk)
        while True:
            pages = list(await asyncio.gather(*(fetch(request) for request in batch)))
            for page in pages:
                yield page
            try:
                batch = walk.send([view(page) for page in pages])
            except StopIteration:
                return

    async def alist_all_jobs(
        self, page_size: int | None = None, *, deadline: float | None = None, urgent: bool = True
    ) -> list[TuningJob]:
        return [job async for job in self.alist_jobs(page_size, deadline=deadline, urgent=urgent)]

    def _budget(self, setup: PlatformSetup) -> Any:
        return shared_budget((self.conn_id, setup.dialect.base_url), setup.settings.max_requests_per_minute)


def _job_reader(dialect: Dialect, request: ApiRequest) -> Callable[[ApiResponse], TuningJob]:
    return lambda response: _about_asked_job(dialect, request, response, dialect.parse_job(response))


def _cancel_reader(dialect: Dialect, request: ApiRequest) -> Callable[[ApiResponse], TuningJob | None]:
    def read(response: ApiResponse) -> TuningJob | None:
        job = dialect.parse_cancel(response, request)
        return None if job is None else _about_asked_job(dialect, request, response, job)

    return read


def _about_asked_job(dialect: Dialect, request: ApiRequest, response: ApiResponse, job: TuningJob) -> TuningJob:
    """``job``, if it is the one asked for: a record of another job is refused, not reported."""
    if request.job_id and not dialect.is_same_job(request.job_id, job):
        raise UnexpectedResponseError(
            f"Asked for {dialect.platform} job {request.job_id} and got a record of job {job.job_id[:200]}: "
            "something between here and the platform (a proxy or cache) answers in its place.",
            platform=dialect.platform,
            status_code=response.status_code,
            job_id=request.job_id,
        )
    return job


def _page_reader(dialect: Dialect, request: ApiRequest) -> Callable[[ApiResponse], Page]:
    return lambda response: dialect.parse_page(response, request)


def _raw_page_reader(dialect: Dialect, request: ApiRequest) -> Callable[[ApiResponse], RawPage]:
    return lambda response: (dialect.read_page(response, request), response)


#: A connection read in the triggerer serves the triggers of that connection asking within this time.
CONNECTION_REUSE_SECONDS = 60.0


def _stale(read: asyncio.Future[PlatformSetup], started: float) -> bool:
    """Whether a connection read should be done again: it failed, or it is older than the reuse time."""
    if not read.done():
        return False  # in flight: wait for it with the others
    return read.cancelled() or read.exception() is not None or time.monotonic() - started > CONNECTION_REUSE_SECONDS


def _fingerprint(conn: Connection) -> str:
    fields = (conn.conn_type, conn.host, conn.login, conn.password, conn.schema, conn.port, conn.extra)
    return hashlib.sha256(repr(fields).encode()).hexdigest()
