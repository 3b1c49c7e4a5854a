"""The list paging styles the platforms use; a platform picks one as its ``PlatformSpec.paging``.

Every style reads the store a page at a time (:meth:`JobApi.page`), so a listing of a
30,000-job project costs each request its page, not the project.
"""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_ft_provider.testing.platforms._base import int_param
from airflow_ft_provider.testing.store import Job, JobView, order_key

if TYPE_CHECKING:
    from airflow_ft_provider.testing.platforms._routes import JobApi

__all__ = ["AfterIdPages", "NumberedPages", "PageTokens", "Paging", "Unpaged", "decode_cursor", "encode_cursor"]


def encode_cursor(job: Job) -> str:
    """Opaque page token pointing just past ``job`` in newest-first order."""
    created, seq = order_key(job)
    return base64.urlsafe_b64encode(f"{created!r}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[float, int] | None:
    """The position a token points at, or None if it is garbage."""
    try:
        created, seq = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
        return float(created), int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


class Paging(ABC):
    """How a platform's list endpoint pages."""

    @abstractmethod
    async def answer(self, api: JobApi, request: Request) -> Response:
        """One list answer for ``request``."""


@dataclass(frozen=True)
class PageTokens(Paging):
    """Google's ``pageSize`` / ``pageToken`` -> ``nextPageToken`` (absent on the last page).

    A cursor, not an offset, so jobs created or deleted between pages do not shift them;
    an empty page omits ``items_key``, as proto3 JSON does.
    """

    items_key: str
    default_size: int
    max_size: int

    async def answer(self, api: JobApi, request: Request) -> Response:
        spec = api.spec
        size = int_param(request, "pageSize", self.default_size)
        if size is None or size < 0:
            return spec.error(400, "Invalid page size.")
        token = request.query_params.get("pageToken")
        before = decode_cursor(token) if token else None
        if token and before is None:
            return spec.error(400, "Invalid page token.")
        views, more = api.page(
            request, before=before, limit=min(size or self.default_size, self.max_size), where=spec.list_filter(request)
        )
        out: dict[str, Any] = {}
        if views:
            out[self.items_key] = api.listed(views)
        if more:
            out["nextPageToken"] = encode_cursor(views[-1].job)
        return spec.respond(out)


@dataclass(frozen=True)
class AfterIdPages(Paging):
    """OpenAI's ``after`` (the last id seen) and ``limit`` -> ``{"object": "list", "data", "has_more"}``."""

    default_limit: int
    max_limit: int

    def limit(self, request: Request) -> int | None:
        """The page size asked for (capped), or None when it is not a positive integer."""
        limit = int_param(request, "limit", self.default_limit)
        return None if limit is None or limit < 1 else min(limit, self.max_limit)

    async def answer(self, api: JobApi, request: Request) -> Response:
        spec = api.spec
        limit = self.limit(request)
        if limit is None:
            return spec.error(400, "Invalid 'limit': must be a positive integer.")
        after = request.query_params.get("after")
        views: list[JobView] = []
        more = False
        anchor = api.core.store.get(spec.platform, after) if after else None
        if not after or anchor is not None:
            views, more = api.page(request, before=order_key(anchor) if anchor else None, limit=limit)
        return spec.respond({"object": "list", "data": api.listed(views), "has_more": more})


@dataclass(frozen=True)
class NumberedPages(Paging):
    """DashScope's ``page_no`` / ``page_size`` -> ``{page_no, page_size, total, jobs}``."""

    default_size: int
    max_size: int

    async def answer(self, api: JobApi, request: Request) -> Response:
        spec = api.spec
        page_no = int_param(request, "page_no", 1)
        page_size = int_param(request, "page_size", self.default_size)
        if page_no is None or page_no < 1:
            return spec.error(400, "page_no must be a positive integer.")
        if page_size is None or not 1 <= page_size <= self.max_size:
            return spec.error(400, f"page_size must be between 1 and {self.max_size}.")
        views, _ = api.page(request, skip=(page_no - 1) * page_size, limit=page_size)
        body = {"page_no": page_no, "page_size": page_size, "total": api.count(request), "jobs": api.listed(views)}
        return spec.respond(body)


@dataclass(frozen=True)
class Unpaged(Paging):
    """Every job in one answer (Together): ``{items_key: [...]}``."""

    items_key: str = "data"

    async def answer(self, api: JobApi, request: Request) -> Response:
        views, _ = api.page(request)
        return api.spec.respond({self.items_key: api.listed(views)})
