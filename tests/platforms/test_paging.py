"""Paging styles: each style's client half walks a listing its own server half serves.

No HTTP here: a small in-memory server answers with the style's server half (as the emulator
does), and the provider's real listing walker (``airflow_ft_provider.paging.listing``) drives the
client half, page by page and side by side. Every registered platform's style is covered, plus
styles no platform uses yet (``next`` URLs, AWS JSON 1.1 ``NextToken`` in the body) and a
numbered style with other names, so a new platform's paging is tested before it exists.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from airflow_ft_provider.errors import ListingLimitError, MalformedResponseError
from airflow_ft_provider.paging import listing
from airflow_ft_provider.platforms.paging import AfterIds, NextUrls, NumberedPages, PageSize, PageTokens
from airflow_ft_provider.platforms.paging_base import BadPageRequest, MalformedPage, Paging, ServedPage
from airflow_ft_provider.platforms.registry import RECORDS, Platform
from airflow_ft_provider.platforms.wire import ApiRequest, ApiResponse, Page
from airflow_ft_provider.transport.settings import ClientSettings
from tests.platforms.emulated import connection_extras, new_core

URL = "https://api.example.com/v1/jobs"

#: Every registered platform's style, and the styles the next platforms bring.
STYLES: dict[str, Paging] = {
    **{name: record.dialect.paging for name, record in RECORDS.items()},
    "next_urls": NextUrls(),
    "next_urls_sized": NextUrls(size=PageSize("page_size", 50, default=20)),
    "json_1_1": PageTokens(
        PageSize("MaxResults", 100, default=10, oversize_capped=False),
        "TrainingJobSummaries",
        cursor_param="NextToken",
        next_key="NextToken",
        in_body=True,
        empty_items_omitted=False,
    ),
    "numbered_other_names": NumberedPages(
        PageSize("size", 50, default=20), items_key="items", number_param="page", total_key="count"
    ),
    "after_other_names": AfterIds(PageSize("per_page", 30, default=10), items_key="jobs", cursor_param="since"),
}


@dataclass
class Server:
    """N items, newest first, served through ``style``'s server half; counts the requests."""

    style: Paging
    n: int
    requests: list[ApiRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.items = [{"id": f"job-{i:04d}"} for i in range(self.n)]

    def serve(self, request: ApiRequest) -> dict[str, Any]:
        self.requests.append(request)
        url = request.url + ("?" + urlencode(request.params) if request.params else "")
        fields = request.json if self.style.in_body else dict(parse_qsl(urlsplit(url).query))
        ask = self.style.read_ask(fields)
        start = ask.skip
        if ask.cursor is not None:
            ids = [item["id"] for item in self.items]
            start += ids.index(ask.cursor) + 1 if self.style.cursor_is_item_id else int(ask.cursor)
        end = start + ask.limit if ask.limit is not None else self.n
        following = str(end) if end < self.n else None
        return self.style.answer(ServedPage(self.items[start:end], ask, following, self.n, url))


@dataclass
class Lister:
    """What the listing walker asks of a dialect, for a style no dialect has yet."""

    style: Paging
    platform: str = "example"

    def list_request(self, token: str | None, size: int | None, collection: str | None = None) -> ApiRequest:
        return self.style.request(collection or URL, token, size)

    def list_urls(self) -> tuple[str, ...]:
        return (URL,)


def walk(style: Paging, server: Server, size: int | None, side_by_side: bool) -> list[str]:
    """The ids of a whole listing, read by the client half and walked by the provider's walker."""
    ids: list[str] = []
    steps = listing(Lister(style), ClientSettings(), size, side_by_side=side_by_side)  # type: ignore[arg-type]
    batch = next(steps)
    while True:
        answers = [style.read(server.serve(request), request) for request in batch]
        ids.extend(item["id"] for answer in answers for item in answer.items)
        pages = [Page(answer.items, answer.next_token, answer.later_tokens) for answer in answers]
        try:
            batch = steps.send(pages)
        except StopIteration:
            return ids


@pytest.mark.parametrize("side_by_side", [False, True], ids=["page_by_page", "side_by_side"])
@pytest.mark.parametrize("size", [None, 1, 7, 100_000])
@pytest.mark.parametrize("n", [0, 1, 7, 23, 250])
@pytest.mark.parametrize("name", list(STYLES))
def test_a_listing_yields_every_item_once_in_the_fewest_requests(name, n, size, side_by_side) -> None:
    style = STYLES[name]
    server = Server(style, n)
    assert walk(style, server, size, side_by_side) == [item["id"] for item in server.items]
    # A style without a page size serves the server's own (None: everything in one answer).
    per_page = style.size.ask(size) if style.size else style.read_ask({}).limit
    assert len(server.requests) == (max(1, math.ceil(n / per_page)) if per_page else 1)


@pytest.mark.parametrize("name", [name for name, style in STYLES.items() if style.size])
def test_the_client_asks_within_the_platforms_largest_page(name) -> None:
    style = STYLES[name]
    assert style.size is not None
    sizes = [int(_asked(style, style.request(URL, None, size))[style.size.param]) for size in (None, -3, 0, 10**6)]
    assert sizes == [min(100, style.size.largest), 1, min(100, style.size.largest), style.size.largest]


def _asked(style: Paging, request: ApiRequest) -> dict[str, Any]:
    return dict(request.json if style.in_body else request.params)


@pytest.mark.parametrize("name", [name for name, style in STYLES.items() if style.size])
def test_the_server_refuses_a_page_size_that_is_no_size(name) -> None:
    style = STYLES[name]
    assert style.size is not None
    for bad in ("x", "-1", "1.5"):
        with pytest.raises(BadPageRequest, match=style.size.param):
            style.read_ask({style.size.param: bad})
    oversize = {style.size.param: str(style.size.largest + 1)}
    if style.size.oversize_capped:
        assert style.read_ask(oversize).limit == style.size.largest
    else:
        with pytest.raises(BadPageRequest):
            style.read_ask(oversize)
    assert style.read_ask({}).limit == style.size.default


def test_a_zero_page_size_is_googles_default_and_others_refuse_it() -> None:
    gemini = RECORDS["gemini"].dialect.paging
    assert gemini.read_ask({"pageSize": "0"}).limit == 10
    with pytest.raises(BadPageRequest):
        RECORDS["openai"].dialect.paging.read_ask({"limit": "0"})


def test_a_numbered_page_number_must_be_positive() -> None:
    style = RECORDS["dashscope"].dialect.paging
    for bad in ("0", "-2", "two"):
        with pytest.raises(BadPageRequest, match="page_no"):
            style.read_ask({"page_no": bad})


# -- malformed answers, refused by the client half and worded by the dialect -------------------
MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("openai", {"has_more": False}),
    ("openai", {"data": {}, "has_more": False}),
    ("openai", {"data": ["not a job"], "has_more": True}),
    ("openai", {"data": [{"status": "running"}], "has_more": True}),
    ("vertex_ai", {"tuningJobs": {"a": 1}}),
    ("vertex_ai", {"tuningJobs": [], "nextPageToken": 7}),
    ("bedrock", {"modelCustomizationJobSummaries": "none"}),
    ("together", {}),
    ("next_urls", {"results": [], "next": ["https://api.example.com/v1/jobs?cursor=2"]}),
    ("dashscope", {"jobs": []}),
    ("dashscope", {"jobs": [], "total": "3"}),
    ("dashscope", {"jobs": None, "total": 3}),
]


@pytest.mark.parametrize(("name", "body"), MALFORMED)
def test_a_malformed_page_is_refused(name, body) -> None:
    style = STYLES[name]
    with pytest.raises(MalformedPage):
        style.read(body, style.request(URL, None, 5))


@pytest.mark.parametrize("name", list(RECORDS))
def test_a_dialect_reports_a_malformed_page_as_its_own_malformed_answer(name) -> None:
    dialect = RECORDS[name].dialect.from_extras(
        "https://api.example.com/v1", connection_extras(new_core(), Platform(name))
    )
    request = dialect.list_request(None, 5)
    # Every style's items key, holding no array (DashScope's envelope, holding no page).
    body = {"output": {}, **{style.items_key: 1 for style in STYLES.values()}}  # type: ignore[attr-defined]
    with pytest.raises(MalformedResponseError) as caught:
        dialect.parse_page(ApiResponse(200, {}, json.dumps(body).encode()), request)
    assert caught.value.platform == name


# -- next URLs: followed only on the origin that named them -----------------------------------
@pytest.mark.parametrize(
    "following",
    [
        "https://evil.example.net/v1/jobs?cursor=2",
        "http://api.example.com/v1/jobs?cursor=2",  # the scheme is part of the origin
        "https://api.example.com:8443/v1/jobs?cursor=2",
        "https://api.example.com@evil.example.net/v1/jobs",
        "https://user@api.example.com/v1/jobs",
        "https://api.example.com\\@evil.example.net/",
        "//evil.example.net/v1/jobs",
        "/v1/jobs?cursor=2",
        "javascript:alert(1)",
        "https://api.example.com/v1/jobs?cursor=2\nHost: evil",
    ],
)
def test_a_next_url_off_the_origin_is_refused(following) -> None:
    style = NextUrls()
    with pytest.raises(MalformedPage, match="origin"):
        style.read({"results": [], "next": following}, style.request(URL, None, None))


def test_a_next_url_on_the_origin_is_followed_as_given() -> None:
    style = NextUrls()
    following = "https://API.example.com:443/v1/jobs?cursor=abc&x=1"
    answer = style.read({"results": [{"id": "a"}], "next": following}, style.request(URL, None, None))
    assert answer.next_token == following
    request = style.request(URL, following, 5)
    assert (request.method, request.url, dict(request.params)) == ("GET", following, {})


def test_json_1_1_pages_go_in_the_body() -> None:
    style = STYLES["json_1_1"]
    # JSON 1.1 takes every input in the body: the listing's own parameters go beside the page's.
    request = style.request(URL, "tok", 5, params={"SortOrder": "Descending"})
    assert (request.method, request.json, dict(request.params)) == (
        "POST",
        {"SortOrder": "Descending", "NextToken": "tok", "MaxResults": 5},
        {},
    )
    assert style.read_ask({"MaxResults": 5, "NextToken": "tok"}).cursor == "tok"
    with pytest.raises(BadPageRequest):
        style.read_ask({"NextToken": 7})


def test_numbered_pages_name_every_later_page_only_up_to_the_fan_out() -> None:
    style = STYLES["dashscope"]
    assert isinstance(style, NumberedPages)
    request = style.request(URL, None, 10)
    few = style.read({"jobs": [{}] * 10, "total": 35}, request)
    assert (few.next_token, few.later_tokens) == ("2", ("2", "3", "4"))
    many = style.read({"jobs": [{}] * 10, "total": 10 * style.fan_out_pages + 1}, request)
    assert (many.next_token, many.later_tokens) == ("2", ())
    # An empty page ends the walk, whatever the total promises.
    assert style.read({"jobs": [], "total": 35}, style.request(URL, "2", 10)).next_token is None


def test_a_server_repeating_its_token_stops_the_walk() -> None:
    style = STYLES["vertex_ai"]

    class Stuck(Server):
        def serve(self, request: ApiRequest) -> dict[str, Any]:
            self.requests.append(request)
            return {"tuningJobs": [{"id": "x"}], "nextPageToken": "same"}

    with pytest.raises(ListingLimitError, match="twice"):
        walk(style, Stuck(style, 0), 10, side_by_side=False)
