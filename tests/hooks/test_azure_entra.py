"""Azure OpenAI with Entra ID credentials that refresh (azure-identity on the transport's bounds),
against the emulated Entra ID: service principal (secret, certificate), managed identity, workload
identity; waits spanning many token lifetimes, sync (worker) and deferred (triggerer); a stalled or
hostile token endpoint ends at its deadline with a typed error; secrets never in exception text."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_ft_provider.errors import (
    AuthenticationError,
    ConnectionConfigError,
    RequestTimeoutError,
    ResponseTooLargeError,
)
from airflow_ft_provider.hooks.azure_auth import AzureCredentialAuth
from airflow_ft_provider.hooks.azure_openai import AzureOpenAITuningHook
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.testing.dags import ensure_db, run_dag_source
from airflow_ft_provider.testing.entra import ServicePrincipal
from airflow_ft_provider.transport.credentials import CredentialHttp
from airflow_ft_provider.triggers.job_state import JobStateEvent, TuningJobStateTrigger
from tests.conftest import connection_dict

PLATFORM = "azure_openai"
CONN_ID = "azure_entra_test"
TOKEN_PATH = "/oauth2/v2.0/token"


@pytest.fixture(autouse=True)
def _fresh_credentials() -> Iterator[None]:
    process_cache.reset()
    yield
    process_cache.reset()


def entra_connection(emu: Any, sp: ServicePrincipal | None = None, **extra: Any) -> dict[str, Any]:
    """A service-principal connection (secret in Password, or the certificate) on the emulator."""
    conn = connection_dict(emu, PLATFORM, authority_host=emu.url, **extra)
    conn.pop("password", None)
    if sp is not None:
        conn["extra"].update(auth_type="service_principal", tenant_id=sp.tenant_id, client_id=sp.client_id)
        if sp.client_secret:
            conn["password"] = sp.client_secret
        else:
            conn["extra"]["client_certificate"] = sp.certificate_pem
    return conn


@pytest.fixture
def through_transport(monkeypatch) -> list[str]:
    """The URLs every credential exchange sent through the transport's CredentialHttp."""
    sent: list[str] = []
    real = CredentialHttp.request

    def request(self: CredentialHttp, method: str, url: str, **kwargs: Any) -> Any:
        sent.append(url.split("?", 1)[0])
        return real(self, method, url, **kwargs)

    monkeypatch.setattr(CredentialHttp, "request", request)
    return sent


def token_requests(emu: Any) -> list[Any]:
    return [r for r in emu.requests(PLATFORM) if r.path.endswith(TOKEN_PATH)]


def job_answers(emu: Any) -> list[Any]:
    return [r for r in emu.requests(PLATFORM) if r.path.startswith("/openai/")]


# -- the long wait: many token lifetimes --------------------------------------------------------------
LIFETIME_S = 2.5
WAIT_S = 15.0  # six lifetimes; an hour-long wait is the same at 60-90 min a token


def check_refused_reads(answers: list[Any], fetched: int) -> None:
    """The reads the platform refused, which must be rare: a token is refreshed a fifth of its life
    before expiry (0.5 s here, 5 min with real tokens); on a loaded machine a read checked inside
    that margin can still arrive late, and its 401 gets the one retry with a new token (the caller
    never sees it). More than one in four tokens refused would mean the refresh comes too late."""
    refused = [r.status for r in answers if r.status != 200]
    assert set(refused) <= {401} and len(refused) <= fetched // 4, (refused, fetched)


def sensor_dag(dag_id: str, job_id: str, deferrable: bool) -> str:
    mode = "deferrable=True, poll_interval=0.5" if deferrable else "mode='poke', poke_interval=0.5"
    return f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.sensors.job_state import TuningJobStateSensor

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}) as dag:
        TuningJobStateSensor(
            task_id="wait", conn_id={CONN_ID!r}, job_id={job_id!r}, target_states=["SUCCEEDED"], {mode}
        )
    """


def end_after_first_read(emu: Any, job_id: str, seconds: float) -> threading.Thread:
    """The job succeeds ``seconds`` after the wait's first read (starting a DAG run takes a while)."""

    def run() -> None:
        stop = time.monotonic() + 120
        while not job_answers(emu) and time.monotonic() < stop:
            time.sleep(0.05)
        time.sleep(seconds)
        emu.set_native_state(PLATFORM, job_id, "succeeded")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_a_wait_over_many_token_lifetimes_refreshes_and_confirms_the_end(emu, set_connection, deferrable):
    """The Done-when of issue 17 (Azure): a wait far longer than a token's life, with a service
    principal, keeps minting tokens before they expire, never shows the caller a 401, confirms the end."""
    ensure_db()  # before the job's clock starts: a first migration takes seconds
    emu.entra.token_lifetime_s = LIFETIME_S
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp))
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    ender = end_after_first_read(emu, job_id, WAIT_S)
    dag_id = f"azure_entra_wait_{'deferred' if deferrable else 'worker'}"
    result = run_dag_source(dag_id, sensor_dag(dag_id, job_id, deferrable))
    ender.join()
    assert result.task_states == {"wait": "success"}
    assert result.xcom("wait")["state"] == "SUCCEEDED"  # the end, confirmed
    answers = job_answers(emu)
    span = answers[-1].time - answers[0].time
    lifetimes = span / LIFETIME_S
    fetched = emu.entra.issued.get("client_secret", 0)
    print(f"span={span:.1f}s lifetimes={lifetimes:.1f} token_fetches={fetched} reads={len(answers)}")
    assert span >= WAIT_S - 2 and lifetimes >= 5, span
    assert fetched >= int(lifetimes), (fetched, lifetimes)
    assert len(token_requests(emu)) == fetched
    assert len(answers) > 2 * lifetimes  # read all along
    check_refused_reads(answers, fetched)  # refreshed before expiry


async def _events(trigger: TuningJobStateTrigger) -> list[dict[str, Any]]:
    try:
        events = [event.payload async for event in trigger.run()]
        await trigger.cleanup()
        return events
    finally:
        await process_cache.aclose()


def test_the_trigger_refreshes_off_the_event_loop(emu, set_connection, monkeypatch):
    """The triggerer's wait: every fetch runs in the credential's own thread, never on the loop."""
    emu.entra.token_lifetime_s = LIFETIME_S
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp))
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    trigger = TuningJobStateTrigger(
        conn_id=CONN_ID, platform=PLATFORM, job_id=job_id, min_poll_interval=0.3, poll_interval=0.5
    )
    fetched_in: list[str] = []
    real_fetch = AzureCredentialAuth.fetch

    def fetch(self: AzureCredentialAuth, http: Any) -> Any:
        fetched_in.append(threading.current_thread().name)
        return real_fetch(self, http)

    monkeypatch.setattr(AzureCredentialAuth, "fetch", fetch)
    loop_threads: list[str] = []

    async def main() -> list[dict[str, Any]]:
        loop_threads.append(threading.current_thread().name)
        return await _events(trigger)

    ender = end_after_first_read(emu, job_id, WAIT_S)
    (event,) = asyncio.run(main())
    ender.join()
    parsed = JobStateEvent.parse(event)
    assert parsed.status == "reached" and parsed.job is not None and parsed.job.state == "SUCCEEDED"
    answers = job_answers(emu)
    lifetimes = (answers[-1].time - answers[0].time) / LIFETIME_S
    fetched = emu.entra.issued.get("client_secret", 0)
    assert lifetimes >= 5 and fetched >= int(lifetimes), (fetched, lifetimes)
    check_refused_reads(answers, fetched)
    assert len(fetched_in) == fetched and set(fetched_in) == {"ft-credential-azure_openai"}
    assert loop_threads[0] not in fetched_in


def test_a_revoked_token_gets_one_401_and_a_new_token(emu, set_connection):
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp))
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    hook = AzureOpenAITuningHook(conn_id=CONN_ID)
    assert hook.get_job(job_id).state is TuningJobState.RUNNING
    emu.revoke_tokens()
    assert hook.get_job(job_id).state is TuningJobState.RUNNING
    assert [r.status for r in job_answers(emu)] == [200, 401, 200]
    assert emu.entra.issued == {"client_secret": 2}


def test_tokens_are_shared_by_the_connections_tasks_and_masked(emu, set_connection, monkeypatch):
    masked: list[str] = []
    monkeypatch.setattr("airflow_ft_provider.version_compat.mask_secrets", lambda s: masked.extend(s))
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp))
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    for _ in range(3):
        AzureOpenAITuningHook(conn_id=CONN_ID).get_job(job_id)
    assert emu.entra.issued == {"client_secret": 1}
    setup = AzureOpenAITuningHook(conn_id=CONN_ID).configure(
        Connection(
            conn_id=CONN_ID,
            **{k: v for k, v in entra_connection(emu, sp).items() if k != "extra"},
            extra=json.dumps(entra_connection(emu, sp)["extra"]),
        )
    )
    assert sp.client_secret in setup.secrets
    assert isinstance(setup.auth, AzureCredentialAuth)
    assert sp.client_secret not in repr(setup) and sp.client_secret not in repr(setup.auth)
    assert any(s.startswith("eyJ") and s.count(".") == 2 for s in masked)  # the minted access token


# -- every credential type -----------------------------------------------------------------------------
def test_a_certificate_signs_the_assertion(emu, set_connection, through_transport):
    sp = emu.entra.service_principal(certificate=True)
    set_connection(CONN_ID, entra_connection(emu, sp))
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert AzureOpenAITuningHook(conn_id=CONN_ID).get_job(job_id).state is TuningJobState.RUNNING
    assert emu.entra.issued == {"certificate": 1}
    assert through_transport[-1] == f"{emu.url}/{sp.tenant_id}{TOKEN_PATH}"  # https mapped back to http


def test_a_certificate_file(emu, set_connection, tmp_path):
    sp = emu.entra.service_principal(certificate=True)
    path = tmp_path / "sp.pem"
    path.write_text(sp.certificate_pem or "")
    conn = entra_connection(emu, sp)
    del conn["extra"]["client_certificate"]
    conn["extra"]["client_certificate_path"] = str(path)
    set_connection(CONN_ID, conn)
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert AzureOpenAITuningHook(conn_id=CONN_ID).get_job(job_id).state is TuningJobState.RUNNING
    assert emu.entra.issued == {"certificate": 1}


def test_workload_identity_from_the_token_file(emu, set_connection, tmp_path, monkeypatch, through_transport):
    sp = emu.entra.service_principal(federated=True)
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(next(iter(sp.federated_tokens)))
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AZURE_TENANT_ID", sp.tenant_id)
    conn = entra_connection(emu, None, auth_type="workload_identity", client_id=sp.client_id)
    set_connection(CONN_ID, conn)
    emu.entra.token_lifetime_s = 2.0
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    hook = AzureOpenAITuningHook(conn_id=CONN_ID)
    for _ in range(3):
        assert hook.get_job(job_id).state is TuningJobState.RUNNING
        time.sleep(2.0)  # the token is past its refresh margin: the file is read and exchanged again
    # A read that reaches the emulator after its 2 s token expired (a loaded machine: seen in CI) is
    # refused, and the transport mints a new token and retries it: each refusal costs one exchange.
    refused = [r for r in job_answers(emu) if r.status == 401]
    assert emu.entra.issued.get("federated", 0) >= 3 + len(refused) and set(emu.entra.issued) == {"federated"}
    # (MSAL may keep the tenant discovery of an earlier test: only the token requests are sure)
    assert through_transport.count(f"{emu.url}/{sp.tenant_id}{TOKEN_PATH}") == emu.entra.issued["federated"]
    assert all(url.startswith(emu.url + "/") for url in through_transport)


def test_managed_identity_through_imds(emu, set_connection, monkeypatch, through_transport):
    # IMDS's address, as azure-identity and MSAL let AKS pod identity move it.
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.url)
    for name in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    emu.entra.managed_identity("user-assigned-1")
    conn = entra_connection(emu, None, auth_type="managed_identity", client_id="user-assigned-1")
    set_connection(CONN_ID, conn)
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert AzureOpenAITuningHook(conn_id=CONN_ID).get_job(job_id).state is TuningJobState.RUNNING
    assert emu.entra.issued == {"managed_identity": 1}
    (imds,) = [r for r in emu.requests(PLATFORM) if r.path == "/metadata/identity/oauth2/token"]
    assert "client_id=user-assigned-1" in imds.query
    assert through_transport == [f"{emu.url}/metadata/identity/oauth2/token"]


def test_the_test_button_mints_a_token_and_lists(emu, set_connection):
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp))
    ok, message = AzureOpenAITuningHook(conn_id=CONN_ID).test_connection()
    assert ok, message
    conn = entra_connection(emu, sp)
    conn["password"] = "wrong~secret-7"
    set_connection(CONN_ID, conn)
    process_cache.reset()
    ok, message = AzureOpenAITuningHook(conn_id=CONN_ID).test_connection()
    assert not ok and "Invalid client secret" in message and "wrong~secret-7" not in message


def test_static_key_and_token_connections_are_unchanged(emu, set_connection):
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    for extra in ({}, {"auth_type": "entra_token"}):
        set_connection(CONN_ID, connection_dict(emu, PLATFORM, **extra))
        assert AzureOpenAITuningHook(conn_id=CONN_ID).get_job(job_id).state is TuningJobState.RUNNING
    assert emu.entra.issued == {} and token_requests(emu) == []


# -- refusals and bounds -------------------------------------------------------------------------------
def test_a_wrong_secret_is_an_authentication_error_without_the_secret(emu, set_connection):
    sp = emu.entra.service_principal()
    conn = entra_connection(emu, sp)
    conn["password"] = "wrong~secret-value-4242"
    set_connection(CONN_ID, conn)
    with pytest.raises(AuthenticationError, match="Invalid client secret") as info:
        AzureOpenAITuningHook(conn_id=CONN_ID).get_job("ftjob-1")
    text = "".join(str(e) for e in (info.value, info.value.__cause__, info.value.__context__) if e)
    assert "wrong~secret-value-4242" not in text
    assert len(token_requests(emu)) == 1  # a refusal is not retried


def test_a_stalled_token_endpoint_ends_at_the_deadline_with_a_typed_error(emu, set_connection):
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp, timeout=1, max_retries=0))
    emu.inject(PLATFORM, Fault.slow(30, path=TOKEN_PATH, count=None))
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError) as info:
        AzureOpenAITuningHook(conn_id=CONN_ID).get_job("ftjob-1")
    assert time.monotonic() - started < 5
    assert sp.client_secret not in str(info.value)
    assert job_answers(emu) == []


def test_azure_core_retries_a_5xx_from_the_token_endpoint(emu, set_connection):
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp, max_retries=0))
    emu.inject(PLATFORM, Fault.status(503, path=TOKEN_PATH))
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    assert AzureOpenAITuningHook(conn_id=CONN_ID).get_job(job_id).state is TuningJobState.RUNNING
    assert [r.status for r in token_requests(emu)] == [503, 200]


def test_a_retry_pause_past_the_deadline_is_not_slept(emu, set_connection):
    """azure-core would sleep the 429's Retry-After (30 s); the exchange's deadline (timeout=2) ends it."""
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp, timeout=2, max_retries=0))
    emu.inject(PLATFORM, Fault.status(429, path=TOKEN_PATH, retry_after=30, count=None))
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError, match="after the credential exchange's deadline"):
        AzureOpenAITuningHook(conn_id=CONN_ID).get_job("ftjob-1")
    assert time.monotonic() - started < 5
    assert [r.status for r in token_requests(emu)] == [429]


async def test_a_stalled_token_endpoint_ends_the_async_call_at_its_deadline(emu, set_connection):
    sp = emu.entra.service_principal()
    set_connection(CONN_ID, entra_connection(emu, sp, timeout=1, max_retries=0))
    emu.inject(PLATFORM, Fault.slow(30, path=TOKEN_PATH, count=None))
    started = time.monotonic()
    try:
        with pytest.raises(RequestTimeoutError):
            await AzureOpenAITuningHook(conn_id=CONN_ID).aget_job("ftjob-1")
    finally:
        await process_cache.aclose()
    assert time.monotonic() - started < 5


class _BombingAuthority(http.server.ThreadingHTTPServer):
    """An Entra ID authority whose token endpoint answers a gzip bomb."""

    daemon_threads = True

    def __init__(self) -> None:
        from tests.hostile.servers import gzip_bomb

        bomb = gzip_bomb(512)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # tenant discovery
                origin = f"https://127.0.0.1:{self.server.server_address[1]}"
                tenant = self.path.strip("/").split("/", 1)[0]
                self._send(json.dumps({
                    "token_endpoint": f"{origin}/{tenant}{TOKEN_PATH}",
                    "authorization_endpoint": f"{origin}/{tenant}/oauth2/v2.0/authorize",
                    "issuer": f"{origin}/{tenant}/v2.0",
                }).encode(), {})  # fmt: skip

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self._send(bomb, {"Content-Encoding": "gzip, gzip"})

            def _send(self, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_a_gzip_bomb_from_the_token_endpoint_is_response_too_large(emu, set_connection):
    sp = emu.entra.service_principal()
    authority = _BombingAuthority()
    try:
        conn = entra_connection(emu, sp, max_response_mb=1, max_retries=0)
        conn["extra"]["authority_host"] = f"http://127.0.0.1:{authority.server_address[1]}"
        set_connection(CONN_ID, conn)
        with pytest.raises(ResponseTooLargeError) as info:
            AzureOpenAITuningHook(conn_id=CONN_ID).get_job("ftjob-1")
        assert sp.client_secret not in str(info.value)
    finally:
        authority.shutdown()
        authority.server_close()
    assert job_answers(emu) == []


def configure(password: str | None = "s3cret~value", **extra: Any):
    conn = Connection(
        conn_id="azure_cfg",
        conn_type="ft_azure_openai",
        host="https://contoso.openai.azure.com",
        password=password,
        extra=json.dumps(extra),
    )
    return AzureOpenAITuningHook().configure(conn)


SP = {"auth_type": "service_principal", "tenant_id": "contoso.onmicrosoft.com", "client_id": "app-1"}


@pytest.mark.parametrize(
    ("password", "extra", "expected"),
    [
        ("s", {"auth_type": "service_principal", "client_id": "a"}, r"service_principal needs the extra tenant_id"),
        ("s", {"auth_type": "service_principal", "tenant_id": "t"}, r"service_principal needs the extra client_id"),
        (None, SP, r"needs the client secret in Password, or a certificate in the client_certificate"),
        ("s", {**SP, "client_certificate": "x"}, r"both a client secret \(Password\) and a certificate"),
        (None, {**SP, "client_certificate": "x", "client_certificate_path": "/p"}, r"both client_certificate and"),
        (None, {**SP, "client_certificate_path": "/nonexistent.pem"}, r"client_certificate_path .* is not a file"),
        (None, {**SP, "client_certificate": "not a pem"}, r"azure-identity refused the certificate in client_cert"),
        ("s", {**SP, "tenant_id": "bad tenant!"}, r"azure-identity refused tenant_id .*GUID or a domain name"),
        ("s", {**SP, "authority_host": "http://login.example.com"}, r"plain http://.*only a loopback"),
        ("s", {**SP, "authority_host": "ftp://x"}, r"authority_host 'ftp://x' is not an https URL"),
        ("s", {**SP, "authority_host": "https://login.microsoftonline.com/t"}, r"has a path"),
        ("s", {"auth_type": "managed_identity"}, r"managed_identity takes no Password"),
        (
            None,
            {"auth_type": "workload_identity"},
            r"workload_identity needs the extra tenant_id \(or .*AZURE_TENANT_ID",
        ),
        (
            None,
            {"auth_type": "workload_identity", "tenant_id": "t", "client_id": "c", "token_file_path": "/nope"},
            r"token_file_path '/nope' is not a file",
        ),
        ("s", {"auth_type": "oauth"}, r"auth_type='oauth' is not one of api_key, entra_token, service_principal"),
    ],
)
def test_connections_that_cannot_work_are_refused_naming_the_field(password, extra, expected, monkeypatch):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConnectionConfigError, match=expected) as info:
        configure(password, **extra)
    assert "s3cret~value" not in str(info.value)


def test_the_certificate_and_secrets_are_masked(emu):
    sp = emu.entra.service_principal(certificate=True)
    setup = configure(None, **{**SP, "client_certificate": sp.certificate_pem})
    pem = sp.certificate_pem or ""
    private = pem[: pem.index("-----END PRIVATE KEY-----") + len("-----END PRIVATE KEY-----")]
    assert pem.strip() in setup.secrets and private in setup.secrets
    assert private.replace("\n", "\\n") in setup.secrets
    with pytest.raises(ConnectionConfigError, match=r"refused the certificate .*client_certificate_password") as info:
        configure(None, **{**SP, "client_certificate": pem, "client_certificate_password": "pw-4242"})
    assert "pw-4242" not in str(info.value) and "PRIVATE" not in str(info.value)


def test_without_azure_identity_the_error_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_azure(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("azure"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_azure)
    with pytest.raises(ConnectionConfigError, match=r"pip install 'airflow-ft-provider\[azure\]'"):
        configure(**SP)
    assert configure(auth_type="entra_token").auth is not None  # the static token needs nothing
