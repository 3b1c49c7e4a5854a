"""DashScope and Together hooks: Airflow connection -> dialect, auth and settings."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from airflow.sdk import Connection

from airflow_ft_provider.errors import ConnectionConfigError
from airflow_ft_provider.hooks.api_key import DashScopeTuningHook, TogetherTuningHook
from airflow_ft_provider.hooks.base import TuningJobHook
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.platforms.dashscope import DashScopeDialect
from airflow_ft_provider.platforms.together import TogetherDialect
from airflow_ft_provider.transport import RequestBudget, SyncTransport

KEY = "sk-test-0123456789"


def conn(conn_type: str, host: str | None = None, password: str | None = KEY, **extra: Any) -> Connection:
    return Connection(
        conn_id=f"{conn_type}_test", conn_type=conn_type, host=host, password=password, extra=json.dumps(extra)
    )


def dashscope(**kwargs: Any) -> DashScopeDialect:
    dialect = DashScopeTuningHook().configure(conn("ft_dashscope", **kwargs)).dialect
    assert isinstance(dialect, DashScopeDialect)
    return dialect


# -- registration ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hook", "conn_type", "default", "platform"),
    [
        (DashScopeTuningHook, "ft_dashscope", "ft_dashscope_default", Platform.DASHSCOPE),
        (TogetherTuningHook, "ft_together", "ft_together_default", Platform.TOGETHER),
    ],
)
def test_hook_identity(hook: type[TuningJobHook], conn_type: str, default: str, platform: Platform) -> None:
    assert (hook.conn_type, hook.default_conn_name, hook.platform) == (conn_type, default, platform)
    assert hook.hook_name
    assert hook().conn_id == default


# -- DashScope ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({}, "https://dashscope-intl.aliyuncs.com/api/v1"),
        ({"region": "intl"}, "https://dashscope-intl.aliyuncs.com/api/v1"),
        ({"region": "cn"}, "https://dashscope.aliyuncs.com/api/v1"),
        ({"region": " CN "}, "https://dashscope.aliyuncs.com/api/v1"),
        ({"region": ""}, "https://dashscope-intl.aliyuncs.com/api/v1"),
        ({"extra__ft_dashscope__region": "cn"}, "https://dashscope.aliyuncs.com/api/v1"),
    ],
)
def test_dashscope_region_picks_the_url(extra: dict[str, str], url: str) -> None:
    assert dashscope(**extra).base_url == url


@pytest.mark.parametrize("region", ["us", "beijing", "cn-hangzhou", 1])
def test_dashscope_bad_region(region: object) -> None:
    with pytest.raises(ConnectionConfigError, match="cn, intl"):
        dashscope(region=region)


def test_dashscope_bad_region_refused_even_with_host() -> None:
    with pytest.raises(ConnectionConfigError, match="region"):
        dashscope(host="http://127.0.0.1:8080/api/v1", region="eu")


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("http://127.0.0.1:8080/api/v1", "http://127.0.0.1:8080/api/v1"),
        ("http://localhost:8080/api/v1/", "http://localhost:8080/api/v1"),
        ("https://dashscope.example.com/api/v1", "https://dashscope.example.com/api/v1"),
        ("dashscope.example.com", "https://dashscope.example.com"),
    ],
)
def test_dashscope_host_overrides_region(host: str, url: str) -> None:
    assert dashscope(host=host, region="cn").base_url == url


def test_dashscope_workspace_header() -> None:
    assert dashscope(workspace=" llm-ws1 ").get_request("ft-1").headers == {"X-DashScope-WorkSpace": "llm-ws1"}
    assert dashscope().get_request("ft-1").headers == {}
    assert dashscope(workspace="").get_request("ft-1").headers == {}


def test_dashscope_workspace_with_control_characters() -> None:
    with pytest.raises(ConnectionConfigError, match="workspace"):
        dashscope(workspace="ws\r\nX-Injected: 1")


# -- Together -------------------------------------------------------------------------------
def together_url(**kwargs: Any) -> str:
    dialect = TogetherTuningHook().configure(conn("ft_together", **kwargs)).dialect
    assert isinstance(dialect, TogetherDialect)
    return dialect.base_url


def test_together_default_and_host() -> None:
    assert together_url() == "https://api.together.ai/v1"
    assert together_url(host="http://127.0.0.1:9000/v1") == "http://127.0.0.1:9000/v1"
    assert together_url(base_url="https://proxy.example.com/together/v1") == "https://proxy.example.com/together/v1"


# -- shared rules ---------------------------------------------------------------------------
HOOKS = [(DashScopeTuningHook, "ft_dashscope"), (TogetherTuningHook, "ft_together")]


@pytest.mark.parametrize(("hook", "conn_type"), HOOKS)
@pytest.mark.parametrize("password", [None, ""])
def test_missing_key(hook: type[TuningJobHook], conn_type: str, password: str | None) -> None:
    with pytest.raises(ConnectionConfigError, match="Password"):
        hook().configure(conn(conn_type, password=password))


@pytest.mark.parametrize(("hook", "conn_type"), HOOKS)
def test_plain_http_refused_for_remote_hosts(hook: type[TuningJobHook], conn_type: str) -> None:
    with pytest.raises(ConnectionConfigError, match="unencrypted") as info:
        hook().configure(conn(conn_type, host="http://10.1.2.3:8080/v1"))
    assert KEY not in str(info.value)
    setup = hook().configure(conn(conn_type, host="http://10.1.2.3:8080/v1", allow_insecure_http=True))
    assert setup.dialect.base_url == "http://10.1.2.3:8080/v1"


@pytest.mark.parametrize(("hook", "conn_type"), HOOKS)
def test_key_is_a_registered_secret_and_never_shown(hook: type[TuningJobHook], conn_type: str) -> None:
    setup = hook().configure(conn(conn_type, timeout=5, max_retries=0))
    assert setup.secrets == [KEY]
    assert KEY not in repr(setup.auth)
    assert (setup.settings.timeout, setup.settings.max_attempts) == (5.0, 1)


# -- the setup on the wire (httpx.MockTransport: no server) ---------------------------------
def send(setup: Any, answer: dict[str, Any], job_id: str) -> tuple[httpx.Request, Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        transport = SyncTransport(setup.dialect, setup.auth, setup.settings, client, RequestBudget(600))
        job = transport.call(setup.dialect.get_request(job_id), setup.dialect.parse_job)
    return seen[0], job


def test_dashscope_request_on_the_wire() -> None:
    setup = DashScopeTuningHook().configure(conn("ft_dashscope", region="cn", workspace="llm-ws1"))
    answer = {"request_id": "r", "output": {"job_id": "ft-1", "status": "CANCELED", "code": "1"}}
    request, job = send(setup, answer, "ft-1")
    assert str(request.url) == "https://dashscope.aliyuncs.com/api/v1/fine-tunes/ft-1"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-DashScope-WorkSpace"] == "llm-ws1"
    assert job.state is TuningJobState.CANCELLED


def test_together_request_on_the_wire() -> None:
    setup = TogetherTuningHook().configure(conn("ft_together"))
    request, job = send(setup, {"id": "ft-1", "status": "cancel_requested"}, "ft-1")
    assert str(request.url) == "https://api.together.ai/v1/fine-tunes/ft-1"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert job.state is TuningJobState.CANCELLING
