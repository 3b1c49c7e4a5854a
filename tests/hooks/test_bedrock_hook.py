"""The Bedrock hook on the emulator: every credential source, SigV4 sync and async, STS, errors, lazy botocore."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from airflow_ft_provider.errors import AuthenticationError, ConnectionConfigError, JobNotCancellableError
from airflow_ft_provider.flows import CancelAction, run_flow
from airflow_ft_provider.flows.cancel import cancel_flow
from airflow_ft_provider.hooks.aws_credentials import INSTALL_HINT, SigV4Auth
from airflow_ft_provider.hooks.bedrock import BedrockCustomizationHook
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.platforms.bedrock import ACCESS_KEY_ID, STS_PATH
from tests.conftest import FAST_RETRIES

pytest.importorskip("botocore")

NEVER_ENDS = JobScript(running_s=None, cancel_s=30.0)  # a stopped job stays Stopping
ROLE = "arn:aws:iam::123456789012:role/airflow-cancel"


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch, tmp_path):
    """No credentials, region or profile from the machine running the tests; no metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    process_cache.reset()
    yield
    process_cache.reset()


def hook_with(set_connection, emu, *, conn_type: str = "ft_bedrock", **fields: Any) -> BedrockCustomizationHook:
    extra = {**FAST_RETRIES, "region_name": "us-east-1", **fields.pop("extra", {})}
    conn = {"conn_type": conn_type, "host": emu.base_url("bedrock"), **fields, "extra": extra}
    set_connection("bedrock_case", conn)
    return BedrockCustomizationHook(conn_id="bedrock_case")


def schemes(emu) -> list[str]:
    """The auth scheme of each Bedrock API request (the request log redacts the rest)."""
    return [r.headers.get("authorization", "").split(" ")[0] for r in emu.requests("bedrock") if r.path != STS_PATH]


def test_access_key_in_login_and_password_sync_and_async(emu, set_connection):
    arn = emu.seed("bedrock", display_name="sft", script=NEVER_ENDS)
    hook = hook_with(set_connection, emu, login=ACCESS_KEY_ID, password=emu.api_key("bedrock"))
    assert hook.get_job("sft").job_id == arn
    assert isinstance(hook.prepare().auth, SigV4Auth)

    async def run() -> Any:
        try:
            return await BedrockCustomizationHook(conn_id="bedrock_case").aget_job(arn)
        finally:
            await process_cache.aclose()

    assert asyncio.run(run()).state is TuningJobState.RUNNING
    assert schemes(emu) == ["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256"]
    assert hook.prepare().auth.access_key_id == ACCESS_KEY_ID  # type: ignore[union-attr]


def test_cancel_flow_stops_then_reads_and_a_second_cancel_is_already_cancelling(emu, set_connection):
    arn = emu.seed("bedrock", display_name="to-stop", script=NEVER_ENDS)
    hook = hook_with(set_connection, emu, login=ACCESS_KEY_ID, password=emu.api_key("bedrock"))
    first = run_flow(hook, cancel_flow("to-stop"))
    assert first.action is CancelAction.SENT and first.before.job_id == arn
    assert [(r.method, r.status) for r in emu.requests("bedrock")] == [("GET", 200), ("POST", 200)]
    assert run_flow(hook, cancel_flow(arn)).action is CancelAction.ALREADY_CANCELLING
    with pytest.raises(JobNotCancellableError):  # the raw call: ConflictException
        hook.cancel_job(arn)


def test_an_aws_connection_with_its_own_extras(emu, set_connection):
    emu.seed("bedrock", script=NEVER_ENDS)
    extra = {
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": emu.api_key("bedrock"),
        "endpoint_url": emu.base_url("bedrock"),
    }
    set_connection("aws_case", {"conn_type": "aws", "extra": {**FAST_RETRIES, "region_name": "us-east-1", **extra}})
    hook = BedrockCustomizationHook(conn_id="aws_case")
    assert len(hook.list_all_jobs()) == 1
    assert hook.prepare().dialect.base_url == emu.base_url("bedrock")


def test_a_wrong_secret_is_an_authentication_error_without_the_secret(emu, set_connection):
    hook = hook_with(set_connection, emu, login=ACCESS_KEY_ID, password="wrong-secret-0123456789")
    with pytest.raises(AuthenticationError) as info:
        hook.list_all_jobs()
    assert "signature" in str(info.value) and "wrong-secret" not in str(info.value)
    assert "wrong-secret" not in repr(hook.prepare().auth)
    ok, message = hook.test_connection()
    assert not ok and "access key id" in message


def test_a_session_token_is_signed_and_masked(emu, set_connection):
    emu.seed("bedrock", script=NEVER_ENDS)
    hook = hook_with(
        set_connection,
        emu,
        login=ACCESS_KEY_ID,
        password=emu.api_key("bedrock"),
        extra={"aws_session_token": "token-0123456789abcdef"},
    )
    assert len(hook.list_all_jobs()) == 1
    (request,) = emu.requests("bedrock")
    assert request.headers["x-amz-security-token"] == "***"  # sent (the request log redacts it)
    assert "token-0123456789abcdef" in hook.prepare().secrets


def test_the_default_chain_and_region_from_the_environment(emu, set_connection, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", emu.api_key("bedrock"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    emu.seed("bedrock", script=NEVER_ENDS, region="us-west-2")
    set_connection("chain_case", {"conn_type": "ft_bedrock", "host": emu.base_url("bedrock"), "extra": FAST_RETRIES})
    hook = BedrockCustomizationHook(conn_id="chain_case")
    assert [":us-west-2:" in j.job_id for j in hook.list_all_jobs()] == [True]
    assert hook.prepare().dialect.region == "us-west-2"


def test_no_credentials_anywhere_says_where_to_put_them(emu, set_connection):
    set_connection("empty_case", {"conn_type": "ft_bedrock", "host": emu.base_url("bedrock"), "extra": FAST_RETRIES})
    with pytest.raises(AuthenticationError, match="Put the access key id in Login"):
        BedrockCustomizationHook(conn_id="empty_case").list_all_jobs()
    assert emu.requests("bedrock") == []


def test_a_bedrock_api_key_in_password_alone(emu, set_connection):
    emu.seed("bedrock", script=NEVER_ENDS)
    hook = hook_with(set_connection, emu, password=emu.api_key("bedrock"))
    assert len(hook.list_all_jobs()) == 1
    assert emu.requests("bedrock")[0].headers["authorization"].startswith("Bearer ")


def test_role_arn_is_assumed_through_sts_once_for_many_calls(emu, set_connection):
    arn = emu.seed("bedrock", script=NEVER_ENDS)
    extra = {"role_arn": ROLE, "sts_endpoint_url": emu.platform_url("bedrock") + STS_PATH}
    hook = hook_with(set_connection, emu, login=ACCESS_KEY_ID, password=emu.api_key("bedrock"), extra=extra)
    for _ in range(3):
        assert hook.get_job(arn).state is TuningJobState.RUNNING

    async def run() -> Any:
        try:
            return await BedrockCustomizationHook(conn_id="bedrock_case").aget_job(arn)
        finally:
            await process_cache.aclose()

    assert asyncio.run(run()).job_id == arn
    sts_calls = [r for r in emu.requests("bedrock") if r.path == STS_PATH]
    assert len(sts_calls) == 1 and sts_calls[0].body is None  # the exchange's body is never logged
    assert schemes(emu) == ["AWS4-HMAC-SHA256"] * 4
    signer = hook.prepare().auth
    assert isinstance(signer, SigV4Auth) and (signer.access_key_id or "").startswith("ASIA")


def test_a_role_the_source_credentials_cannot_assume(emu, set_connection):
    extra = {"role_arn": ROLE, "sts_endpoint_url": emu.platform_url("bedrock") + STS_PATH}
    hook = hook_with(set_connection, emu, login=ACCESS_KEY_ID, password="not-the-secret", extra=extra)
    with pytest.raises(AuthenticationError, match="role_arn") as info:
        hook.list_all_jobs()
    assert "not-the-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"login": ACCESS_KEY_ID, "password": "has space"}, "spaces"),
        ({"password": "k", "extra": {"role_arn": ROLE}}, "role_arn needs an access key pair"),
        ({"login": ACCESS_KEY_ID, "password": "s", "extra": {"region_name": "Mars"}}, "region_name"),
    ],
)
def test_bad_connections_are_refused_naming_the_fix(emu, set_connection, fields, problem):
    with pytest.raises(ConnectionConfigError, match=problem):
        hook_with(set_connection, emu, **fields).prepare()


def test_without_botocore_the_error_names_the_extra(emu, set_connection, monkeypatch):
    monkeypatch.setitem(sys.modules, "botocore", None)
    hook = hook_with(set_connection, emu, login=ACCESS_KEY_ID, password="secret")
    with pytest.raises(ConnectionConfigError) as info:
        hook.prepare()
    assert INSTALL_HINT in str(info.value)


def test_parsing_dags_never_imports_botocore():
    code = (
        "import sys, airflow_ft_provider.hooks.bedrock, airflow_ft_provider.operators.cancel, "
        "airflow_ft_provider.operators.bulk_cancel, airflow_ft_provider.sensors.job_state, "
        "airflow_ft_provider.get_provider_info as g; g.get_provider_info(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3'))))"
    )
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
