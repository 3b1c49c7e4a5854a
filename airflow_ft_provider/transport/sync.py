"""The transport on workers: a blocking ``httpx.Client``, bounded by :mod:`.deadline`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
from tenacity import Retrying

from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect
from airflow_ft_provider.transport import exchange
from airflow_ft_provider.transport.budget import RequestBudget
from airflow_ft_provider.transport.deadline import attempt_deadline
from airflow_ft_provider.transport.retries import RetryPolicy, retry_options
from airflow_ft_provider.transport.settings import ClientSettings

T = TypeVar("T")


class SyncTransport:
    def __init__(
        self,
        dialect: Dialect,
        auth: httpx.Auth | None,
        settings: ClientSettings,
        client: httpx.Client,
        budget: RequestBudget,
    ) -> None:
        self.dialect, self.auth, self.settings, self.client, self.budget = dialect, auth, settings, client, budget

    def call(
        self,
        request: ApiRequest,
        parse: Callable[[ApiResponse], T],
        *,
        deadline: float | None = None,
        urgent: bool = True,
    ) -> T:
        """Send ``request`` (retrying within the bounds) and ``parse`` the answer; see the package doc."""
        options = retry_options(RetryPolicy(self.settings), deadline, lambda: exchange.describe(self.dialect, request))
        for attempt in Retrying(**options):
            with attempt:
                return parse(self._attempt(request, deadline, urgent))
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _attempt(self, request: ApiRequest, deadline: float | None, urgent: bool) -> ApiResponse:
        for wait in exchange.pacing(self.budget, urgent, deadline, self.dialect, request):
            time.sleep(wait)
        left = None if deadline is None else deadline - time.time()
        seconds = exchange.attempt_seconds(self.settings, left, self.dialect, request)
        started = time.monotonic()
        with attempt_deadline(seconds):
            try:
                response = self.client.send(
                    exchange.build(self.client, request, seconds),
                    auth=self.auth or httpx.USE_CLIENT_DEFAULT,
                    stream=True,
                )
                try:
                    reader = exchange.body_reader(response, self.settings, self.dialect)
                    for chunk in [] if response.is_stream_consumed else response.iter_raw():
                        reader.feed(chunk)
                    body = reader.finish()
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                raise exchange.network_error(exc, self.dialect, request, seconds) from None
        self.budget.observe(response.status_code)
        exchange.log_answer(request, response.status_code, time.monotonic() - started)
        return exchange.judge(self.dialect, request, response, body)
