"""Connection extras and host fields are checked when the hook reads the connection.

A bad value raises ``ConnectionConfigError`` naming the connection, the field and the allowed
range, before any request; the Test button says the same. A planted key never shows.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from airflow.exceptions import AirflowNotFoundException

from airflow_ft_provider.errors import ConnectionConfigError
from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import Platform
from tests.hostile.conftest import MODES, PLATFORMS
from tests.hostile.servers import delayed, platform_answer
from tests.hostile.support import call, close_async_clients, expect_value, run

NAN, INF = float("nan"), float("inf")

#: (extra, bad value, the range's upper bound as the message must show it)
BAD_EXTRAS = [
    ("timeout", 0, "600"),
    ("timeout", -1, "600"),
    ("timeout", 601, "600"),
    ("timeout", NAN, "600"),
    ("timeout", INF, "600"),
    ("timeout", "soon", "600"),
    ("max_retries", -1, "20"),
    ("max_retries", 21, "20"),
    ("max_retries", 2.5, "20"),
    ("max_retries", NAN, "20"),
    ("max_retry_seconds", -1, "3600"),
    ("max_retry_seconds", 3601, "3600"),
    ("max_retry_seconds", INF, "3600"),
    ("max_retry_after", -1, "3600"),
    ("max_retry_after", 3601, "3600"),
    ("max_retry_after", NAN, "3600"),
    ("backoff_max", -1, "600"),
    ("backoff_max", 601, "600"),
    ("max_connections", 0, "1000"),
    ("max_connections", 1001, "1000"),
    ("max_connections", 1.5, "1000"),
    ("max_response_mb", 0, "1024"),
    ("max_response_mb", 0.0009, "1024"),
    ("max_response_mb", 1025, "1024"),
    ("max_response_mb", INF, "1024"),
    ("max_pages", 0, "100000"),
    ("max_pages", 100001, "100000"),
    ("max_pages", 2.5, "100000"),
    ("max_listed_jobs", 0, "1000000"),
    ("max_listed_jobs", 1000001, "1000000"),
]

#: Values at the edges of each range: accepted, and a request goes out.
GOOD_EXTRAS = [
    ("timeout", 600),
    ("max_retries", 0),
    ("max_retries", 20),
    ("max_retry_seconds", 0),
    ("max_retry_seconds", 3600),
    ("max_retry_after", 0),
    ("max_retry_after", 3600),
    ("backoff_max", 0),
    ("backoff_max", 600),
    ("max_connections", 1),
    ("max_connections", 1000),
    ("max_response_mb", 0.001),
    ("max_response_mb", 1024),
    ("max_pages", 1),
    ("max_pages", 100000),
    ("max_listed_jobs", 1),
    ("max_listed_jobs", 1000000),
]


def config_error(target, mode="sync"):
    """The ConnectionConfigError a get raises (hook made inside the call: it may check there)."""
    job_id = target.server.add_job()
    outcome = run(lambda: call(target.hook(), "get_job", job_id, mode=mode), 1)
    assert outcome.finished and isinstance(outcome.error, ConnectionConfigError), (
        f"expected ConnectionConfigError, got: {outcome.describe()}"
    )
    assert target.server.count() == 0, "a request went out before the connection was checked"
    message = str(outcome.error)
    assert target.conn_id in message, message
    assert target.key not in message and target.key not in repr(outcome.error.args)
    return message


def button(target, platform):
    """The Test button's (ok, message) for the target's connection."""
    return hook_class_for_platform(platform)(conn_id=target.conn_id).test_connection()


def digits(message: str) -> str:
    """The message with thousands separators dropped, so "1,000,000" reads as 1000000."""
    return re.sub(r"(?<=\d)[,_ ](?=\d{3})", "", message)


@pytest.mark.parametrize(("name", "value", "upper"), BAD_EXTRAS, ids=[f"{n}={v}" for n, v, _ in BAD_EXTRAS])
def test_bad_extra_is_refused_with_field_and_range(hostile, name, value, upper):
    target = hostile(Platform.OPENAI, **{name: value})
    message = config_error(target)
    assert name in message, message
    assert upper in digits(message), f"the allowed range (up to {upper}) is not in: {message}"


@pytest.mark.parametrize(("name", "value"), [("timeout", -1), ("max_pages", 0), ("max_response_mb", 2000)])
def test_bad_extra_on_vertex_ai_and_in_the_test_button(hostile, name, value):
    target = hostile(Platform.VERTEX_AI, **{name: value})
    assert name in config_error(target, mode="async")
    ok, message = button(target, Platform.VERTEX_AI)
    assert not ok and name in message and target.key not in message, message


@pytest.mark.parametrize(("name", "value"), GOOD_EXTRAS, ids=[f"{n}={v}" for n, v in GOOD_EXTRAS])
def test_values_at_the_edges_are_accepted(hostile, name, value):
    target = hostile(Platform.OPENAI, **{name: value})
    job_id = target.server.add_job()
    hook = target.hook()
    job = expect_value(run(lambda: call(hook, "get_job", job_id), 1), 1)
    assert job.job_id == job_id


@pytest.mark.parametrize("extra", ["[1, 2]", '"just a string"', "not json {"], ids=["list", "string", "not-json"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_extra_that_is_not_a_json_object_is_refused(hostile, platform, extra):
    target = hostile(platform, raw_extra=extra)
    if not airflow_reads_connection(target.conn_id):
        # Airflow 3.1 refuses such a connection itself (its lookup then says "isn't defined"):
        # the hook never sees it, and nothing can be sent.
        with pytest.raises(AirflowNotFoundException):
            call(target.hook(), "get_job", "job-1")
        assert target.server.requests == []
        return
    message = config_error(target)
    assert "extra" in message.lower(), message
    ok, said = button(target, platform)
    assert not ok and target.conn_id in said, said


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_user_and_password_in_the_host_are_refused_without_showing_the_password(hostile, platform, mode):
    target = hostile(platform)
    target.update(host=target.server.base_url.replace("://", f"://someone:{target.key}@"))
    message = config_error(target, mode=mode)  # also checks the key is not in it
    assert "host" in message.lower(), message
    ok, said = button(target, platform)
    assert not ok and target.key not in said and target.conn_id in said, said


def test_a_user_name_alone_in_the_host_is_refused(hostile):
    target = hostile(Platform.OPENAI)
    target.update(host=target.server.base_url.replace("://", "://someone@"))
    assert "host" in config_error(target).lower()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_scheme_with_a_port_and_a_different_port_field_is_refused(hostile, platform):
    target = hostile(platform)
    target.update(port=target.server.port + 1)
    assert "port" in config_error(target).lower()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_scheme_with_the_same_port_as_the_port_field_is_accepted(hostile, platform):
    target = hostile(platform)
    target.update(port=target.server.port)
    job_id = target.server.add_job()
    hook = target.hook()
    expect_value(run(lambda: call(hook, "get_job", job_id), 1), 1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_scheme_without_a_port_uses_the_port_field(hostile, platform, mode):
    target = hostile(platform)
    target.update(host=target.server.base_url.replace(f":{target.server.port}", ""), port=target.server.port)
    job_id = target.server.add_job()
    hook = target.hook()
    job = expect_value(run(lambda: call(hook, "get_job", job_id, mode=mode), 1), 1)
    assert job.job_id.endswith(job_id)
    assert target.server.count("get") == 1


def test_max_connections_bounds_the_async_pool(hostile):
    target = hostile(Platform.OPENAI, max_connections=2)
    target.server.always(delayed(0.3, platform_answer()))
    job_ids = [target.server.add_job() for _ in range(6)]
    hook = target.hook()

    async def six_at_once():
        try:
            return await asyncio.gather(*(hook.aget_job(job_id) for job_id in job_ids))
        finally:
            await close_async_clients()

    jobs = expect_value(run(lambda: asyncio.run(six_at_once()), 3 * 0.3), 3 * 0.3)
    assert len(jobs) == 6
    assert target.server.peak_connections <= 2, f"{target.server.peak_connections} connections at once"


def airflow_reads_connection(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
