"""How a platform's job listing is cut into pages: one object per style, read on both sides.

A dialect declares ``paging = <Style>(...)`` with its platform's parameter and key names, and the
emulator serves the same object, so a client and its emulator cannot disagree on a name. Each
style has a **client half** (:meth:`Paging.request` builds a page request from the previous page's
token, :meth:`Paging.read` reads an answer into items and the next token) and a **server half**
(:meth:`Paging.read_ask` reads a page request's fields, :meth:`Paging.answer` shapes the body).
Both halves are pure: no I/O and no web framework, so either can be tested alone.

The server half deals in opaque cursors: the emulator decides what one means (a position in its
store, or a job id for :class:`AfterIds`) and hands the next one to :meth:`Paging.answer`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from airflow_ft_provider.platforms.wire import ApiRequest, Operation

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "AfterIds",
    "BadPageRequest",
    "MalformedPage",
    "NextUrls",
    "NumberedPages",
    "PageAnswer",
    "PageAsk",
    "PageSize",
    "PageTokens",
    "Paging",
    "ServedPage",
    "Unpaged",
    "google_page_tokens",
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
        value = _integer(raw)
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
        """The page request to the collection at ``url``; ``params`` (filters) go with every page."""
        fields = self.ask(token, size)
        if self.in_body:
            return ApiRequest(Operation.LIST, "POST", url, params=params or {}, json=fields, headers=headers or {})
        query = {**(params or {}), **{name: str(value) for name, value in fields.items()}}
        return ApiRequest(Operation.LIST, "GET", url, params=query, headers=headers or {})

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


@dataclass(frozen=True)
class PageTokens(Paging):
    """An opaque token names the next page: Google's ``pageToken`` -> ``nextPageToken``, Bedrock's
    ``nextToken``, and AWS JSON 1.1's ``NextToken`` in the body (``in_body``)."""

    size: PageSize
    items_key: str
    cursor_param: str = "pageToken"
    next_key: str = "nextPageToken"
    in_body: bool = False
    #: proto3 JSON leaves an empty array out of the answer.
    empty_items_omitted: bool = True

    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        return self.with_size({self.cursor_param: token} if token else {}, size)

    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        return PageAnswer(items_of(body, self.items_key, may_be_absent=True), token_of(body, self.next_key))

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        token = fields.get(self.cursor_param)
        if token is not None and not isinstance(token, str):
            raise BadPageRequest(f"'{self.cursor_param}' must be a string.")
        return PageAsk(cursor=token or None, limit=self.page_size(fields))

    def answer(self, page: ServedPage) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.empty_items_omitted and not page.items else {self.items_key: page.items}
        if page.next_cursor:
            out[self.next_key] = page.next_cursor
        return out


def google_page_tokens(items_key: str, *, default: int, largest: int = 1000) -> PageTokens:
    """Google's list paging (AIP-158): ``pageSize`` (0 or none: ``default``, above ``largest``: lowered
    to it) and ``pageToken`` -> ``{items_key: [...], "nextPageToken"}``, an empty array left out."""
    return PageTokens(PageSize("pageSize", largest, default, zero_is_default=True), items_key)


@dataclass(frozen=True)
class AfterIds(Paging):
    """OpenAI's cursor: ``after`` the last id seen, ``limit`` -> ``{"data", "has_more"}``."""

    size: PageSize
    items_key: str = "data"
    cursor_param: str = "after"
    more_key: str = "has_more"
    id_key: str = "id"
    #: OpenAI tags a list answer ``"object": "list"``; None: no tag.
    object_tag: str | None = "list"
    cursor_is_item_id: ClassVar[bool] = True

    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        return self.with_size({self.cursor_param: token} if token else {}, size)

    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        items = items_of(body, self.items_key, may_be_absent=False)
        if body.get(self.more_key) is not True or not items:
            return PageAnswer(items, None)
        last = items[-1].get(self.id_key) if isinstance(items[-1], dict) else None
        if not isinstance(last, str) or not last:
            raise MalformedPage(f"List answer says more follow but its last item has no '{self.id_key}'")
        return PageAnswer(items, last)

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        return PageAsk(cursor=fields.get(self.cursor_param) or None, limit=self.page_size(fields))

    def answer(self, page: ServedPage) -> dict[str, Any]:
        tag = {"object": self.object_tag} if self.object_tag else {}
        return {**tag, self.items_key: page.items, self.more_key: page.next_cursor is not None}


@dataclass(frozen=True)
class NumberedPages(Paging):
    """Numbered pages with a total (DashScope's ``page_no`` / ``page_size`` -> ``{page_no, page_size,
    total, jobs}``). The first answer names every later page, up to ``fan_out_pages``, so a client
    may fetch them side by side; beyond that, or if the total is wrong, it goes page by page and an
    empty page ends the walk (a wrong total cannot make it loop)."""

    size: PageSize
    items_key: str = "jobs"
    number_param: str = "page_no"
    total_key: str = "total"
    fan_out_pages: int = 100

    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        return self.with_size({self.number_param: token or "1"}, size)

    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        items = items_of(body, self.items_key, may_be_absent=False)
        total = body.get(self.total_key)
        if not _is_int(total):
            raise MalformedPage(f"List answer has no integer '{self.total_key}'")
        asked = self.asked(request)
        number = _int_or(body.get(self.number_param), int(asked[self.number_param]))
        size = _int_or(body.get(self.size.param), int(asked[self.size.param]))
        if not items or size < 1 or number * size >= total:
            return PageAnswer(items, None)
        later: tuple[str, ...] = ()
        if number == 1 and (last := -(-total // size)) <= self.fan_out_pages:
            later = tuple(str(n) for n in range(2, last + 1))
        return PageAnswer(items, str(number + 1), later)

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        raw = fields.get(self.number_param)
        number = 1 if raw is None or raw == "" else _integer(raw)
        if number is None or number < 1:
            raise BadPageRequest(f"'{self.number_param}' must be a positive integer.")
        size = self.size.read(fields)
        return PageAsk(skip=(number - 1) * size, limit=size)

    def answer(self, page: ServedPage) -> dict[str, Any]:
        size = page.ask.limit or self.size.default
        number = page.ask.skip // size + 1
        return {
            self.number_param: number,
            self.size.param: size,
            self.total_key: page.total,
            self.items_key: page.items,
        }


@dataclass(frozen=True)
class Unpaged(Paging):
    """Every item in one answer (Together): ``{items_key: [...]}``."""

    items_key: str = "data"
    size: PageSize | None = None

    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        return {}

    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        return PageAnswer(items_of(body, self.items_key, may_be_absent=False), None)

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        return PageAsk()

    def answer(self, page: ServedPage) -> dict[str, Any]:
        return {self.items_key: page.items}


@dataclass(frozen=True)
class NextUrls(Paging):
    """The answer names the next page's full URL (Replicate's ``{"results", "next"}``).

    A next URL is followed only on the origin (scheme, host and port) of the request that named it:
    the client sends its credentials there, so a server must not be able to send them elsewhere.
    """

    items_key: str = "results"
    next_key: str = "next"
    #: Where the server keeps its cursor in the URLs it hands out.
    cursor_param: str = "cursor"
    size: PageSize | None = None
    #: The page a server serves when the platform takes no page size (Replicate: none).
    fixed_page: int = 100

    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        return {} if token else self.with_size({}, size)

    def request(
        self,
        url: str,
        token: str | None,
        size: int | None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiRequest:
        """The first page at ``url``; a later one at the next URL as given (its query holds the rest)."""
        if token:
            return ApiRequest(Operation.LIST, "GET", token, headers=headers or {})
        return super().request(url, None, size, params=params, headers=headers)

    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        items = items_of(body, self.items_key, may_be_absent=False)
        following = token_of(body, self.next_key)
        if following is not None and not same_origin(following, request.url):
            raise MalformedPage(f"List answer's '{self.next_key}' URL leaves the API's origin; not followed")
        return PageAnswer(items, following)

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        return PageAsk(cursor=fields.get(self.cursor_param) or None, limit=self.page_size(fields) or self.fixed_page)

    def answer(self, page: ServedPage) -> dict[str, Any]:
        following = None
        if page.next_cursor is not None:
            parts = urlsplit(page.url)
            query = [(k, v) for k, v in parse_qsl(parts.query) if k != self.cursor_param]
            following = urlunsplit(parts._replace(query=urlencode([*query, (self.cursor_param, page.next_cursor)])))
        return {self.items_key: page.items, self.next_key: following}


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL on ``base``'s scheme, host and port, with no
    user part and nothing a URL parser could read two ways (backslashes, spaces, control characters)."""
    if any(c == "\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return False
    try:
        there, here = _origin(url), _origin(base)
    except ValueError:
        return False
    return there == here and there[0] in _DEFAULT_PORTS and "@" not in urlsplit(url).netloc


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(scheme)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or(value: object, default: int) -> int:
    return value if _is_int(value) else default


def _integer(raw: object) -> int | None:
    """A request field as an integer (a query string's text or a JSON body's number), else None."""
    if _is_int(raw):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw)
    return None
