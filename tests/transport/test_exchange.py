"""One attempt's request, as the transports build it."""

from __future__ import annotations

import httpx

from airflow_ft_provider.platforms.wire import ApiRequest, Operation
from airflow_ft_provider.transport import exchange


def test_a_next_page_url_keeps_its_whole_query():
    """A next-page URL names its cursor, version and scope in its query; httpx replaces a URL's query
    with any ``params`` given, even empty ones, so none are given then."""
    url = "https://us-south.ml.cloud.ibm.com/ml/v1/fine_tunings?version=2026-10-14&project_id=p&limit=2&start=g1A"
    with httpx.Client() as client:
        built = exchange.build(client, ApiRequest(Operation.LIST, "GET", url), 5.0)
        assert str(built.url) == url
        first = ApiRequest(Operation.LIST, "GET", url.split("?")[0], params={"version": "2026-10-14", "limit": "2"})
        assert exchange.build(client, first, 5.0).url.params == httpx.QueryParams("version=2026-10-14&limit=2")
