"""How a platform's job listing is cut into pages: one object per style, read on both sides.

A dialect declares ``paging = <Style>(...)`` with its platform's parameter and key names, and the
emulator serves the same object, so a client and its emulator cannot disagree on a name; a new
platform whose pages are numbered, or go by cursor, token or next URL, needs only other names.
What a style is, and the values its halves exchange, is :mod:`.paging_base`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from airflow_ft_provider.platforms.paging_base import (
    BadPageRequest,
    MalformedPage,
    PageAnswer,
    PageAsk,
    PageSize,
    Paging,
    ServedPage,
    cursor_of,
    int_or,
    integer,
    is_int,
    items_of,
    token_of,
)
from airflow_ft_provider.platforms.wire import ApiRequest

#: ``PageSize`` too: declaring a style takes one.
__all__ = [
    "AfterIds",
    "NextUrls",
    "NumberedPages",
    "PageSize",
    "PageTokens",
    "Unpaged",
    "google_page_tokens",
    "same_origin",
]


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
    #: Where an answer counts the whole listing (Fireworks' ``totalSize``); None: it does not.
    total_key: str | None = None
    #: AIP-132: an answer holds its items under the collection's id, the list URL's last path
    #: segment, so one style serves several collections (Fireworks' three kinds of job);
    #: ``items_key`` is then the first collection's.
    items_under_collection: bool = False

    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        return self.with_size({self.cursor_param: token} if token else {}, size)

    def items_key_at(self, url: str) -> str:
        """Where the answer to a request for ``url`` holds its items."""
        if not self.items_under_collection:
            return self.items_key
        return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or self.items_key

    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        items = items_of(body, self.items_key_at(request.url), may_be_absent=True)
        return PageAnswer(items, token_of(body, self.next_key))

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        return PageAsk(cursor=cursor_of(fields, self.cursor_param), limit=self.page_size(fields))

    def answer(self, page: ServedPage) -> dict[str, Any]:
        key = self.items_key_at(page.url)
        out: dict[str, Any] = {} if self.empty_items_omitted and not page.items else {key: page.items}
        if page.next_cursor:
            out[self.next_key] = page.next_cursor
        if self.total_key:
            out[self.total_key] = page.total
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
        return PageAsk(cursor=cursor_of(fields, self.cursor_param), limit=self.page_size(fields))

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
        if not is_int(total):
            raise MalformedPage(f"List answer has no integer '{self.total_key}'")
        asked = self.asked(request)
        number = int_or(body.get(self.number_param), int(asked[self.number_param]))
        size = int_or(body.get(self.size.param), int(asked[self.size.param]))
        if not items or size < 1 or number * size >= total:
            return PageAnswer(items, None)
        later: tuple[str, ...] = ()
        if number == 1 and (last := -(-total // size)) <= self.fan_out_pages:
            later = tuple(str(n) for n in range(2, last + 1))
        return PageAnswer(items, str(number + 1), later)

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        raw = fields.get(self.number_param)
        number = 1 if raw is None or raw == "" else integer(raw)
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
    """The answer names the next page's full URL (Replicate's ``{"results", "next"}``, watsonx.ai's
    ``{"resources", "next": {"href"}}``).

    A next URL is followed only on the origin (scheme, host and port) of the request that named it:
    the client sends its credentials there, so a server must not be able to send them elsewhere.
    """

    items_key: str = "results"
    next_key: str = "next"
    #: The member of the ``next_key`` object that holds the URL (watsonx.ai: ``href``); None: the
    #: URL is ``next_key``'s value itself. An answer without a next page leaves that object out.
    next_member: str | None = None
    #: Where the server keeps its cursor in the URLs it hands out.
    cursor_param: str = "cursor"
    size: PageSize | None = None
    #: The page a server serves when the platform takes no page size (Replicate: none).
    fixed_page: int = 100

    @property
    def largest(self) -> int | None:
        """Pages are cut whether or not a client can size them: unsized, every page is the server's."""
        return self.size.largest if self.size else self.fixed_page

    def ask(self, token: str | None, size: int | None) -> dict[str, Any]:
        return self.with_size({}, size)

    def url_of(self, token: str) -> str | None:
        """The next URL as given: its query holds the cursor, the size and the filters."""
        return token

    def read(self, body: Mapping[str, Any], request: ApiRequest) -> PageAnswer:
        items = items_of(body, self.items_key, may_be_absent=False)
        following = self._next_url(body)
        if following is not None and not same_origin(following, request.url):
            raise MalformedPage(f"List answer's '{self.next_key}' URL leaves the API's origin; not followed")
        return PageAnswer(items, following)

    def read_ask(self, fields: Mapping[str, Any]) -> PageAsk:
        return PageAsk(cursor=cursor_of(fields, self.cursor_param), limit=self.page_size(fields) or self.fixed_page)

    def answer(self, page: ServedPage) -> dict[str, Any]:
        following = None
        if page.next_cursor is not None:
            parts = urlsplit(page.url)
            query = [(k, v) for k, v in parse_qsl(parts.query) if k != self.cursor_param]
            following = urlunsplit(parts._replace(query=urlencode([*query, (self.cursor_param, page.next_cursor)])))
        if self.next_member is None:
            return {self.items_key: page.items, self.next_key: following}
        return {self.items_key: page.items, **({self.next_key: {self.next_member: following}} if following else {})}

    def _next_url(self, body: Mapping[str, Any]) -> str | None:
        if self.next_member is None:
            return token_of(body, self.next_key)
        holder = body.get(self.next_key)
        if holder is None:
            return None
        if not isinstance(holder, dict):
            raise MalformedPage(f"List answer's '{self.next_key}' is not an object")
        return token_of(holder, self.next_member)


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
