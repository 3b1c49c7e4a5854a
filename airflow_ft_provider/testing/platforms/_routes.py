"""The routes every platform shares, served from its :class:`PlatformSpec`.

Auth before anything, then the job lookup (a job outside the request's partitions is
as missing as an unknown id), then the operation: get, list (the spec's paging style),
cancel (the store decides on the platform's own states) and create.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_ft_provider.testing.platforms._base import Handler, PlatformSpec, read_json
from airflow_ft_provider.testing.platforms._paging import list_answer
from airflow_ft_provider.testing.store import Job, JobView

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

__all__ = ["JobApi", "JobHandler"]

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: A handler of one job's route, called once auth passed and the job was found.
JobHandler = Callable[[Request, Job], Awaitable[Response]]


class JobApi:
    """One platform's API on one emulator: shared handlers plus what platform modules build on."""

    def __init__(self, core: EmulatorCore, spec: PlatformSpec) -> None:
        self.core = core
        self.spec = spec

    # -- building blocks for platform modules -----------------------------------------------
    def guard(self, action: str, handler: Handler) -> Handler:
        """``handler`` behind the platform's auth rule for ``action``."""

        async def endpoint(request: Request) -> Response:
            return self.spec.authorize(self.core, request, action) or await handler(request)

        return endpoint

    def lookup(self, request: Request) -> Job | Response:
        """The path's job if the request can see it, else the platform's 404."""
        job = self.core.store.get(self.spec.platform, request.path_params["job_id"])
        if job is None or job.partition not in self.spec.partitions(self.core, request):
            return self.spec.not_found(request)
        return job

    def on_job(self, action: str, handler: JobHandler) -> Handler:
        """``handler`` behind auth and the job lookup."""

        async def with_job(request: Request) -> Response:
            job = self.lookup(request)
            return job if isinstance(job, Response) else await handler(request, job)

        return self.guard(action, with_job)

    def job_routes(self, method: str, suffix: str, action: str, handler: JobHandler) -> list[BaseRoute]:
        """``{collection}/{job_id}{suffix}`` in every collection, for a platform's own job routes."""
        return [
            Route(f"{c}/{{job_id}}{suffix}", self.on_job(action, handler), methods=[method])
            for c in self.spec.collections
        ]

    def view(self, job: Job) -> JobView:
        return self.core.store.view(job)

    def partitions(self, request: Request) -> tuple[Hashable, ...]:
        return self.spec.partitions(self.core, request)

    def page(
        self,
        request: Request,
        *,
        position: tuple[float, int] | None = None,
        oldest_first: bool = False,
        skip: int = 0,
        limit: int | None = None,
        where: Callable[[JobView], bool] | None = None,
    ) -> tuple[list[JobView], bool]:
        """A page of the jobs ``request`` can see, newest first (or oldest first), just past
        ``position`` (an :func:`~airflow_ft_provider.testing.store.order_key`); see :meth:`JobStore.page`."""
        before, after = (None, position) if oldest_first else (position, None)
        return self.core.store.page(
            self.spec.platform,
            self.partitions(request),
            before=before,
            after=after,
            oldest_first=oldest_first,
            skip=skip,
            limit=limit,
            where=where,
        )

    def count(self, request: Request) -> int:
        return self.core.store.count(self.spec.platform, self.partitions(request))

    def listed(self, views: list[JobView]) -> list[dict[str, Any]]:
        return [self.spec.render_listed(self.core, v) for v in views]

    # -- the standard operations --------------------------------------------------------------
    async def get_job(self, _request: Request, job: Job) -> Response:
        return self.spec.respond(self.spec.render(self.core, self.view(job)))

    async def list_jobs(self, request: Request) -> Response:
        return await list_answer(self, request, self.spec.list_filter(request))

    async def cancel_job(self, request: Request) -> Response:
        unavailable = self.spec.cancel_unavailable(self.core)
        if unavailable is not None:
            return unavailable
        job = self.lookup(request)
        if isinstance(job, Response):
            return job
        spec = self.spec
        result, view = self.core.store.cancel(job, spec.native_state, spec.terminal)
        refused = result == "rejected" and not spec.ended_cancel_answered
        if refused or (result == "already" and spec.repeat_cancel_refused):
            return spec.cancel_refused(view)
        return spec.respond(spec.cancel_answer(self.core, view))

    async def create_job(self, request: Request) -> Response:
        fields = self.spec.create_fields(request, await read_json(request))
        if isinstance(fields, Response):
            return fields
        job = self.core.add_job(self.spec.platform, script=self.core.config.created_job_script, **fields)
        return self.spec.respond(self.spec.render(self.core, self.view(job)))

    # -- the router ---------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        ops = self.spec.operations
        out: list[BaseRoute] = []
        for c in self.spec.collections:
            job = f"{c}/{{job_id}}"
            if "cancel" in ops:  # before get: ``{job_id}`` would also match ``123:cancel``
                out.append(
                    Route(job + self.spec.cancel_suffix, self.guard("cancel", self.cancel_job), methods=["POST"])
                )
            if "get" in ops:
                out.append(Route(job, self.on_job("get", self.get_job), methods=["GET"]))
            if "list" in ops:
                out.append(Route(c, self.guard("list", self.list_jobs), methods=["GET"]))
            if "create" in ops:
                out.append(Route(c, self.guard("create", self.create_job), methods=["POST"]))
        return [*out, *self.spec.extra_routes(self)]

    async def no_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The platform's own 404, for a path it does not serve."""
        await self.spec.error(404)(scope, receive, send)

    def router(self) -> ASGIApp:
        """The routes, at the vendor's paths; anything else under the platform's prefix gets its native 404."""
        spec = self.spec

        async def not_found(_request: Request) -> Response:
            return spec.error(404)

        # A catch-all for any method: a wrong method gets the native 404, not starlette's plain-text 405.
        catch_all = Route("/{rest:path}", not_found, methods=_ALL_METHODS)
        return Router(routes=[*self.routes(), catch_all], redirect_slashes=False, default=self.no_route)
