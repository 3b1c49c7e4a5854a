"""The Azure OpenAI hook on its emulator: both path styles, both credentials, the Test button, and
connections that cannot work refused by name before anything is sent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_ft_provider.errors import AuthenticationError, ConnectionConfigError, JobNotFoundError
from airflow_ft_provider.hooks.azure_openai import AzureOpenAITuningHook
from airflow_ft_provider.hooks.registry import hook_class_for_conn_type
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import JobScript
from tests.conftest import connection_dict

PLATFORM = "azure_openai"
NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)
#: The connection styles: extras on top of the emulator's default (v1 API, key in api-key).
STYLES = {
    "v1-key": {},
    "v1-entra": {"auth_type": "entra_token"},
    "legacy-key": {"api_version": "2024-10-21"},
    "legacy-entra": {"api_version": "2024-10-21", "auth_type": "entra_token"},
}


@pytest.fixture(params=list(STYLES))
def hook(request, emu, set_connection) -> AzureOpenAITuningHook:
    set_connection("azure_test", connection_dict(emu, PLATFORM, **STYLES[request.param]))
    return AzureOpenAITuningHook(conn_id="azure_test")


def sent(emu: Any) -> list[tuple[str, str, str]]:
    """Each request's path, query and which credential header it carried."""
    out = []
    for r in emu.requests(PLATFORM):
        header = "api-key" if "api-key" in r.headers else r.headers.get("authorization", "none").split(" ")[0]
        out.append((r.path, r.query, header))
    return out


def test_the_connection_type_picks_this_hook():
    assert hook_class_for_conn_type("ft_azure_openai") is AzureOpenAITuningHook
    assert AzureOpenAITuningHook().conn_id == "ft_azure_openai_default"


def test_get_list_and_cancel_in_every_style(emu, hook):
    ids = emu.seed_many(PLATFORM, 7, script=NEVER_ENDS)
    assert hook.get_job(ids[0]).state is TuningJobState.RUNNING
    assert [j.job_id for j in hook.list_jobs(3)] == ids[::-1]
    cancelled = hook.cancel_job(ids[0])
    assert cancelled is not None and cancelled.state is TuningJobState.CANCELLED
    assert emu.job_phase(PLATFORM, ids[0]) == "cancelling"


def sent_matches(extras: dict[str, str], requests: list[tuple[str, str, str]]) -> bool:
    """Whether every request went where and how ``extras`` say: path style, version, header."""
    legacy = "api_version" in extras
    header = "Bearer" if extras.get("auth_type") == "entra_token" else "api-key"
    return all(
        path.startswith("/openai/fine_tuning/" if legacy else "/openai/v1/fine_tuning/")
        and ("api-version=2024-10-21" in query) is legacy
        and used == header
        for path, query, used in requests
    )


@pytest.mark.parametrize("style", list(STYLES))
def test_each_style_sends_its_own_path_version_and_header(emu, set_connection, style):
    set_connection("azure_style", connection_dict(emu, PLATFORM, **STYLES[style]))
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    hook = AzureOpenAITuningHook(conn_id="azure_style")
    hook.get_job(job_id)
    hook.list_all_jobs()
    hook.cancel_job(job_id)
    requests = sent(emu)
    assert len(requests) == 3 and sent_matches(STYLES[style], requests)
    assert not any(sent_matches(other, requests) for name, other in STYLES.items() if name != style)


def test_the_async_path_reads_the_same_jobs(emu, hook):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)

    async def run() -> tuple[Any, list[Any]]:
        try:
            return await hook.aget_job(job_id), await hook.alist_all_jobs()
        finally:
            await process_cache.aclose()

    job, listed = asyncio.run(run())
    assert job.state is TuningJobState.RUNNING and [j.job_id for j in listed] == [job_id]


def test_the_test_button_lists_jobs_or_reports_the_refusal(emu, hook, set_connection):
    ok, message = hook.test_connection()
    assert ok and message.startswith("Azure OpenAI Fine-Tuning: connected to ") and emu.url in message
    set_connection("azure_bad", connection_dict(emu, PLATFORM, key="wrong-secret-4242"))
    ok, message = AzureOpenAITuningHook(conn_id="azure_bad").test_connection()
    assert not ok and "subscription key" in message and "wrong-secret-4242" not in message


def test_a_wrong_credential_and_a_missing_job_are_typed(emu, set_connection):
    set_connection("azure_bad", connection_dict(emu, PLATFORM, key="wrong-secret-4242", auth_type="entra_token"))
    with pytest.raises(AuthenticationError) as info:
        AzureOpenAITuningHook(conn_id="azure_bad").get_job("ftjob-1")
    assert "wrong-secret-4242" not in str(info.value)
    set_connection("azure_ok", connection_dict(emu, PLATFORM))
    with pytest.raises(JobNotFoundError):
        AzureOpenAITuningHook(conn_id="azure_ok").get_job("ftjob-missing")


def configure(host: str | None = "https://contoso.openai.azure.com", password: str | None = "k-1", **extra: Any):
    conn = Connection(
        conn_id="azure_cfg", conn_type="ft_azure_openai", host=host, password=password, extra=json.dumps(extra)
    )
    return AzureOpenAITuningHook().configure(conn)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"host": None}, r"'azure_cfg': it has no endpoint.*Set the connection's Host.*https://<resource>"),
        ({"auth_type": "oauth"}, r"auth_type='oauth' is not one of api_key, entra_token"),
        ({"api_version": "latest"}, r"api_version='latest' is not a dated API version"),
        ({"password": None}, r"no Azure OpenAI API key\. Put it in the connection's Password"),
        ({"password": None, "auth_type": "entra_token"}, r"no Microsoft Entra ID token\. Put it in"),
        ({"host": "http://contoso.openai.azure.com"}, r"plain http:// .* unencrypted"),
    ],
)
def test_connections_that_cannot_work_are_refused_naming_the_fix(kwargs, expected):
    with pytest.raises(ConnectionConfigError, match=expected) as info:
        configure(**kwargs)
    assert "k-1" not in str(info.value)


def test_the_secret_is_masked_and_never_in_the_auth_repr():
    setup = configure(password="sk-azure-secret-9", auth_type="entra_token")
    assert setup.secrets == ["sk-azure-secret-9"]
    assert "sk-azure-secret-9" not in repr(setup) and "sk-azure-secret-9" not in repr(setup.auth)
    assert setup.dialect.base_url == "https://contoso.openai.azure.com"
