"""Walking a platform's job listing, written once for the sync and async hooks.

:func:`listing` is a generator in the sans-I/O style: it yields the requests to send next (a batch,
sent side by side where the platform numbers its pages and says how many there are, as DashScope
does), receives their pages, and decides what follows. Its bounds hold whatever the server sends:
at most ``max_pages`` pages and ``max_listed_jobs`` jobs, no page token seen twice or longer than
:data:`MAX_PAGE_TOKEN`, all refused with :class:`~airflow_ft_provider.errors.ListingLimitError`.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

from airflow_ft_provider.errors import ListingLimitError
from airflow_ft_provider.platforms.base import ApiRequest, Dialect, Page
from airflow_ft_provider.platforms.paging_base import PageAnswer
from airflow_ft_provider.transport.settings import ClientSettings

#: No platform's page token comes near this; a longer one is refused before it reaches a URL.
MAX_PAGE_TOKEN = 4096

#: Pages come back parsed (:class:`Page`) or with their records raw (:class:`PageAnswer`).
Listing = Generator[list[ApiRequest], Sequence[Page | PageAnswer], None]


def listing(dialect: Dialect, settings: ClientSettings, page_size: int | None, *, side_by_side: bool) -> Listing:
    """The requests of one whole listing; ``side_by_side``: yield numbered pages in one batch. A
    dialect listing several collections (``Dialect.list_urls``) has them walked one after another,
    within one set of bounds."""
    pages = jobs = 0
    for collection in dialect.list_urls():
        first = pages
        seen: set[str] = set()
        batch = [dialect.list_request(None, page_size, collection)]
        while batch:
            if pages + len(batch) > settings.max_pages:
                raise _limit(dialect, f"it has more than max_pages={settings.max_pages} pages")
            answered = yield batch
            pages += len(answered)
            jobs += sum(len(page.jobs if isinstance(page, Page) else page.items) for page in answered)
            if jobs > settings.max_listed_jobs:
                raise _limit(dialect, f"it holds more than max_listed_jobs={settings.max_listed_jobs} jobs")
            last = answered[-1]
            if side_by_side and pages == first + 1 and last.later_tokens:
                tokens = list(last.later_tokens)
            else:
                tokens = [last.next_token] if last.next_token else []
            for token in tokens:
                _check_token(dialect, token, seen)
            batch = [dialect.list_request(token, page_size, collection) for token in tokens]


def _check_token(dialect: Dialect, token: str, seen: set[str]) -> None:
    if len(token) > MAX_PAGE_TOKEN:
        raise _limit(dialect, f"the server sent a page token of {len(token):,} characters (at most {MAX_PAGE_TOKEN})")
    if token in seen:
        raise _limit(dialect, "the server sent the same next-page token twice")
    seen.add(token)


def _limit(dialect: Dialect, why: str) -> ListingLimitError:
    return ListingLimitError(
        f"Stopped listing {dialect.platform} jobs: {why}. Raise the connection's max_pages or "
        "max_listed_jobs extra if the account really holds that many jobs; otherwise the server or a "
        "proxy in front of it is answering wrongly.",
        platform=dialect.platform,
    )
