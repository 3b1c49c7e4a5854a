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
from airflow_ft_provider.transport.credentials import CredentialHttp, RefreshingAuth
from airflow_ft_provider.transport.deadline import attempt_deadline, bound_client
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
        #: Credential exchanges (token refreshes) use this transport's client, bounds and budget.
        self._credential_http = CredentialHttp(dialect.platform, settings, budget, lambda: client)

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
        what = exchange.describe(self.dialect, request)
        used = None
        if isinstance(self.auth, RefreshingAuth):
            # The credential first: a call waiting for a token endpoint holds no place in the budget.
            used = self.auth.ensure(self._credential_http, deadline)
        sent = self.budget.take(urgent, exchange.time_left(deadline))
        if sent is None:
            raise exchange.no_room(self.budget, what, self.dialect.platform, request.job_id)
        response, body, used = self._send(request, deadline, sent, used)
        if isinstance(self.auth, RefreshingAuth) and self.auth.rejects(response.status_code, response.headers):
            # The refused answer was read within the size bound; one more try with a new credential.
            self.auth.invalidate(used)
            response, body, used = self._send(request, deadline, sent)
        return exchange.judge(self.dialect, request, response, body)

    def _send(
        self, request: ApiRequest, deadline: float | None, sent: float, used: object = None
    ) -> tuple[httpx.Response, bytes, object]:
        """One request and its whole answer, within the attempt's time and the size bound."""
        if isinstance(self.auth, RefreshingAuth) and used is None:  # None: a new one (the retry after a refusal)
            used = self.auth.ensure(self._credential_http, deadline)
        left = None if deadline is None else deadline - time.time()
        what = exchange.describe(self.dialect, request)
        seconds = exchange.attempt_seconds(self.settings, left, what, self.dialect.platform, request.job_id)
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
                where = f"{request.method} {request.url}"
                raise exchange.network_error(exc, self.dialect.platform, what, where, seconds, request.job_id) from None
        exchange.observe(self.budget, self.dialect, self.settings, response, body, sent)
        exchange.log_answer(request, response.status_code, time.monotonic() - started)
        return response, body, used


def new_sync_client(settings: ClientSettings) -> httpx.Client:
    """A worker's client: pooled, no redirects, every attempt bounded by its deadline."""
    limits = httpx.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections)
    return bound_client(verify=settings.verify_tls, limits=limits, follow_redirects=False)
