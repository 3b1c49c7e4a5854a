"""The smoke check against hostile servers: a typed failure that names the fix, the answers it got
(or that none came), no secret in the report, and never a cancel."""

from __future__ import annotations

import json

import pytest

from airflow_ft_provider.cli import FAILED, main
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.smoke import run_check
from tests.conftest import connection_dict
from tests.hostile.conftest import PLATFORMS
from tests.hostile.servers import error_answer, hang, html_page, trickle, truncated_json

#: answer -> (what the server does, the typed error the check reports, the status it saw).
HOSTILE = {
    "html-proxy-page": (html_page, "MalformedResponseError", 200),
    "401": (lambda: error_answer(401), "AuthenticationError", 401),
    "slow": (lambda: trickle(0.5), "RequestTimeoutError", 200),
    "silent": (hang, "RequestTimeoutError", None),
    "garbage-json": (truncated_json, "MalformedResponseError", 200),
}


@pytest.mark.parametrize("answer", HOSTILE)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_hostile_answer_fails_the_check_typed_and_nothing_is_cancelled(hostile, platform, answer):
    make, error, status = HOSTILE[answer]
    target = hostile(platform, timeout=1)
    target.server.add_job()
    target.server.always(make())

    report = run_check(target.conn_id)

    assert not report.healthy
    assert report.failure is not None and report.failure.type == error, report.to_text()
    assert report.failure.step == "listing jobs"
    assert [x.status for x in report.exchanges] == [status]
    text, as_json = report.to_text(), report.to_json()
    assert text.splitlines()[0].startswith(f"FAILED  {target.conn_id}: {error} while listing jobs")
    assert target.key not in text and target.key not in as_json
    assert target.server.count("cancel") == 0
    assert target.server.count("list") == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_tls_to_a_plain_http_server_fails_with_the_hint(emu, set_connection, platform, capsys, monkeypatch):
    """A host written without http:// is taken as https; the emulator, a plain-HTTP server, answers
    the TLS handshake with an HTTP error page, which fails the handshake."""
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT", raising=False)  # main() sets it; restored after the test
    conn = connection_dict(emu, platform)
    conn["host"] = conn["host"].removeprefix("http://")
    conn_id = set_connection(f"smoke_tls_{platform.value}", conn)

    status = main(["check", conn_id, "--json"])

    report = json.loads(capsys.readouterr().out)
    assert status == FAILED
    assert report["failure"]["type"] == "ConnectionConfigError"  # no retry can fix it: at once
    assert "http://host:port" in report["failure"]["message"] + report["failure"]["hint"]
    platform_calls = [x for x in report["exchanges"] if x["purpose"] == "list"]
    assert platform_calls and all(x["url"].startswith("https://127.0.0.1:") for x in platform_calls)
    assert all(x["status"] is None for x in platform_calls)
    for secret in conn.get("password"), conn["extra"].get("access_token"):
        assert not secret or secret not in json.dumps(report)
    assert [r for r in emu.requests(platform) if r.is_cancel] == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_tls_to_a_server_that_waits_for_http_ends_in_time(hostile, platform):
    """A plain-HTTP server that waits for a request head the TLS handshake never completes."""
    target = hostile(platform, timeout=1)
    target.update(host=target.server.base_url.removeprefix("http://"))

    report = run_check(target.conn_id)

    assert report.failure is not None and report.failure.type == "RequestTimeoutError"
    assert [x.status for x in report.exchanges] == [None]
    assert target.server.count("cancel") == 0


def test_the_read_of_a_job_fails_typed_after_a_good_listing(hostile):
    target = hostile(Platform.OPENAI)
    job_id = target.server.add_job()
    target.server.always(error_answer(403), on="get")

    report = run_check(target.conn_id, job_id=job_id)

    assert report.failure is not None and report.failure.type == "PermissionDeniedError"
    assert report.failure.step == "reading a job"
    assert [(x.purpose, x.status) for x in report.exchanges] == [("list", 200), ("get", 403)]
    assert target.server.count("cancel") == 0


def test_a_malformed_page_is_retried_as_the_hooks_listings_retry_it(hostile):
    target = hostile(Platform.OPENAI, max_retries=1)
    target.server.always(html_page())

    report = run_check(target.conn_id)

    assert report.failure is not None and report.failure.type == "MalformedResponseError"
    assert [(x.purpose, x.status) for x in report.exchanges] == [("list", 200), ("list", 200)]
    assert target.server.count("list") == 2 and target.server.count("cancel") == 0
