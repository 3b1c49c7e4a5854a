"""What a paging style is (:class:`Paging`): the contract :mod:`.paging`'s styles fulfil, the
values their halves exchange, and the reading rules they share.

A style has a **client half** (:meth:`Paging.request` builds a page request from the previous
page's token, :meth:`Paging.read` reads an answer into items and the next token) and a **server
half** (:meth:`Paging.read_ask` reads a page request's fields, :meth:`Paging.answer` shapes the
body). Both are pure: no I/O and no web framework, so either can be tested alone. The server half
deals in opaque cursors: the emulator decides what one means (a position in its store, or a job
id where :attr:`Paging.cursor_is_item_id`) and hands the next one over in a :class:`ServedPage`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeGuard

from airflow_ft_provider.platforms.wire import ApiRequest, Operation

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "BadPageRequest",
    "MalformedPage",
    "PageAnswer",
    "PageAsk",
    "PageSize",
    "Paging",
    "ServedPage",
    "cursor_of",
    "int_or",
    "integer",
    "is_int",
    "items_of",
    "token_of",
]
#: The page size the client asks for when its caller names none (a platform's largest, if smaller).
DEFAULT_PAGE_SIZE = 100


class MalformedPage(ValueError):
    """A list answer that is not a page of the style; the dialect reports it as a malformed answer."""


class BadPageRequest(ValueError):
    """A page request a server refuses (HTTP 400); the message says why."""


@dataclass(frozen=True)
class PageAnswer:
    """What the client reads from one list answer: raw items, and how to ask for the next page."""

    items: list[Any]
    #: None on the last page.
    next_token: str | None
    #: Numbered pages whose first answer says how many there are: the tokens of all later pages.
    later_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageAsk:
    """What the server reads from one page request."""

    #: Where the page starts: an opaque cursor, an item id (:class:`AfterIds`), or None (the first page).
    cursor: str | None = None
    #: Items to pass over first (numbered pages).
    skip: int = 0
    #: The page's size; None: every item in one answer.
    limit: int | None = None


@dataclass(frozen=True)
class ServedPage:
    """What the server found for one page request."""

    items: list[Any]
    ask: PageAsk
    #: Where the next page starts; None on the last page.
    next_cursor: str | None
    #: How many items the whole listing holds.
    total: int
    #: The request's own URL.
    url: str


@dataclass(frozen=True)
class PageSize:
    """A page-size parameter and its vendor's rules."""

    param: str
    #: The largest size the platform serves.
    largest: int
    #: The size a server uses when a request names none.
    default: int
    #: Google: 0 means the default (otherwise 0 is refused like any size below 1).
    zero_is_default: bool = False
    #: Whether a server lowers a size above ``largest`` to it (else refuses it).
    oversize_capped: bool = True

    def ask(self, size: int | None) -> int:
        """Client: the size to send for ``size`` (None: the default), within 1 and :attr:`largest`."""
        return min(max(size or min(DEFAULT_PAGE_SIZE, self.largest), 1), self.largest)

    def read(self, fields: Mapping[str, Any]) -> int:
        """Server: the size a request asks for, or :class:`BadPageRequest`."""
        raw = fields.get(self.param)
        if raw is None or raw == "":
            return self.default
        value = integer(raw)
        if value == 0 and self.zero_is_default:
            return self.default
        if value is None or value < 1 or (value > self.largest and not self.oversize_capped):
            raise BadPageRequest(f"'{self.param}' must be an integer from 1 to {self.largest}.")
        return min(value, self.largest)


class Paging(ABC):
    """One paging style; subclasses are frozen dataclasses whose fields are the wire names."""

    #: The page-size parameter; None: the platform takes no page size.
    size: PageSize | None
    #: Whether a page request's fields go in a JSON body (AWS JSON 1.1, ``POST``) rather than the query.
    in_body: bool = False
    #: Whether a request's cursor is the id of the last item seen (the server looks it up), not a position.
    cursor_is_item_id: ClassVar[bool] = False

    @property
    def largest(self) -> int | None:
        """The largest page; None: the platform lists everything in one answer."""
        return self.size.largest if self.size else None

    # -- client half ------------------------------------------------------------------------
    @abstractmethod
    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        """The fields of a page request after the page that gave ``token`` (None: the first page)."""

    def request(
        self,
        url: str,
        token: str | None,
        size: int | None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiRequest:
        """The page request to the collection at ``url``; ``params`` (filters) go with every page, in
        the body beside the page's fields where those go there (AWS JSON 1.1 takes every input there)."""
        if token and (named := self.url_of(token)) is not None:
            return ApiRequest(Operation.LIST, "GET", named, headers=headers or {})
        fields = self.ask(token, size)
        if self.in_body:
            return ApiRequest(Operation.LIST, "POST", url, json={**(params or {}), **fields}, headers=headers or {})
        query = {**(params or {}), **{name: str(value) for name, value in fields.items()}}
        return ApiRequest(Operation.LIST, "GET", url, params=query, headers=headers or {})

    def url_of(self, token: str) -> str | None:
        """The whole URL of the page ``token`` names, where a token is one (:class:`NextUrls`); else None."""
        return None

    @abstractmethod
    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        """The answer to ``request`` as items and the next token, or :class:`MalformedPage`."""

    # -- server half ------------------------------------------------------------------------
    @abstractmethod
    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        """What a page request's fields (query or body) ask for, or :class:`BadPageRequest`."""

    @abstractmethod
    def answer(self, page: ServedPage) -> dict[str, Any]:
        """The body of the answer serving ``page``."""

    # -- shared by the styles ---------------------------------------------------------------
    def asked(self, request: ApiRequest) -> Mapping[str, Any]:
        """The page fields a client request carries."""
        return request.json if self.in_body and isinstance(request.json, dict) else request.params

    def page_size(self, fields: Mapping[str, Any]) -> int | None:
        return self.size.read(fields) if self.size else None

    def with_size(self, fields: dict[str, Any], size: int | None) -> dict[str, Any]:
        if self.size:
            fields[self.size.param] = self.size.ask(size)
        return fields


def items_of(body: Mapping[str, Any], key: str, *, may_be_absent: bool) -> list[Any]:
    """The answer's item array; absent reads as none where the platform leaves empty arrays out."""
    items = body.get(key, [] if may_be_absent else None)
    if not isinstance(items, list):
        raise MalformedPage(f"List answer has no '{key}' array")
    return items


def token_of(body: Mapping[str, Any], key: str) -> str | None:
    """A next-page token: absent, null or empty on the last page; any other non-string is refused."""
    token = body.get(key)
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise MalformedPage(f"List answer's '{key}' is not a string")
    return token


def cursor_of(fields: Mapping[str, Any], param: str) -> str | None:
    """Server: the cursor a page request names (None: the first page), or :class:`BadPageRequest`."""
    cursor = fields.get(param)
    if cursor is not None and not isinstance(cursor, str):
        raise BadPageRequest(f"'{param}' must be a string.")
    return cursor or None


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def int_or(value: object, default: int) -> int:
    """``value`` if it is a JSON integer, else ``default``."""
    return value if is_int(value) else default


def integer(raw: object) -> int | None:
    """A request field as an integer (a query string's text or a JSON body's number), else None."""
    if is_int(raw):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw)
    return None
