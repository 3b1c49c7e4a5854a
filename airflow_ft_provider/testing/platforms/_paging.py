"""Serving a list endpoint in the platform's paging style, the one its dialect lists with.

The style (:mod:`airflow_ft_provider.platforms.paging`, a spec's ``paging``) reads the page request
and shapes the answer; this adapter finds the jobs. It reads the store a page at a time
(:meth:`JobApi.page`), so a listing of a 30,000-job project costs each request its page, not the
project. The cursors it hands out are opaque positions in the listing's order; a style whose
cursor is the last id seen (OpenAI's ``after``) gets that job's position looked up.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from airflow_ft_provider.platforms.paging_base import BadPageRequest, ServedPage
from airflow_ft_provider.testing.platforms._base import read_json
from airflow_ft_provider.testing.store import Job, JobView, order_key

if TYPE_CHECKING:
    from airflow_ft_provider.testing.platforms._routes import JobApi

__all__ = ["decode_cursor", "encode_cursor", "list_answer"]


def encode_cursor(job: Job) -> str:
    """Opaque page token pointing just past ``job`` in the listing's order."""
    created, seq = order_key(job)
    return base64.urlsafe_b64encode(f"{created!r}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[float, int] | None:
    """The position a token points at, or None if it is garbage."""
    try:
        created, seq = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
        return float(created), int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


async def list_answer(
    api: JobApi, request: Request, where: Callable[[JobView], bool] | None = None, *, oldest_first: bool = False
) -> Response:
    """One list answer for ``request``, of the jobs ``where`` keeps (None: all it can see), newest
    first or, with ``oldest_first`` (Bedrock's ``sortOrder=Ascending``), oldest first."""
    spec, paging = api.spec, api.spec.paging
    try:
        ask = paging.read_ask(await read_json(request) if paging.in_body else request.query_params)
    except BadPageRequest as exc:
        return spec.error(400, str(exc))
    position = None
    if ask.cursor is not None and paging.cursor_is_item_id:
        anchor = api.core.store.get(spec.platform, ask.cursor)
        if anchor is None:  # past an unknown job: nothing, as OpenAI answers
            return spec.respond(paging.answer(ServedPage([], ask, None, api.count(request), str(request.url))))
        position = order_key(anchor)
    elif ask.cursor is not None:
        position = decode_cursor(ask.cursor)
        if position is None:
            return spec.error(400, "Invalid page token.")
    views, more = api.page(
        request, position=position, oldest_first=oldest_first, skip=ask.skip, limit=ask.limit, where=where
    )
    following = encode_cursor(views[-1].job) if more and views else None
    page = ServedPage(api.listed(views), ask, following, api.count(request), str(request.url))
    return spec.respond(paging.answer(page))
