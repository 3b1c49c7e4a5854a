"""Vertex AI credentials from every connection form, and the token-refreshing auth, without a server."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from airflow.sdk import Connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_ft_provider import version_compat
from airflow_ft_provider.errors import (
    AuthenticationError,
    ConnectionConfigError,
    PlatformUnavailableError,
    RequestTimeoutError,
)
from airflow_ft_provider.hooks.api_key import GeminiTuningHook
from airflow_ft_provider.hooks.auth import HeaderAuth as BearerAuth
from airflow_ft_provider.hooks.google_credentials import GoogleCredentialsAuth, google_credentials
from airflow_ft_provider.hooks.vertex_ai import VertexAITuningHook
from airflow_ft_provider.platforms.gemini import GeminiDialect
from airflow_ft_provider.platforms.vertex_ai import VertexAIDialect
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.transport import AsyncClientPool, AsyncTransport, ClientSettings, SyncTransport
from airflow_ft_provider.transport.budget import RequestBudget
from airflow_ft_provider.transport.credentials import RefreshingAuth


@pytest.fixture(autouse=True)
def _fresh_credentials() -> Iterator[None]:
    process_cache.reset()
    yield
    process_cache.reset()


@pytest.fixture(scope="module")
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key_info(private_key: str) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "key-project",
        "private_key_id": "abc123",
        "private_key": private_key,
        "client_email": "tuner@key-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def conn(
    conn_type: str = "ft_vertex_ai", password: str | None = None, host: str | None = None, **extra: Any
) -> Connection:
    return Connection(conn_id="vertex_test", conn_type=conn_type, host=host, password=password, extra=json.dumps(extra))


def configure(connection: Connection) -> tuple[VertexAIDialect, Any, list[str]]:
    setup = VertexAITuningHook("vertex_test").configure(connection)
    assert isinstance(setup.dialect, VertexAIDialect)
    return setup.dialect, setup.auth, setup.secrets


def authorization(auth: httpx.Auth) -> str:
    """The Authorization header of one request sent with ``auth`` (through the transport when the
    auth mints its credential: the transport drives the refresh)."""
    if not isinstance(auth, RefreshingAuth):
        request = httpx.Request("GET", "https://example.com")
        return next(auth.sync_auth_flow(request)).headers["Authorization"]
    seen: list[str] = []
    get(sync_transport(auth, replying(log=seen)))
    return seen[-1]


#: No retries, so a failure is reported by its first attempt.
TEST_SETTINGS = ClientSettings(timeout=5, max_retries=0)


def sync_transport(
    auth: httpx.Auth, mock: httpx.MockTransport, settings: ClientSettings = TEST_SETTINGS
) -> SyncTransport:
    """The worker's transport for ``auth`` on a mock platform (a Vertex AI dialect)."""
    dialect = configure(conn(project="p-1", access_token="t"))[0]
    return SyncTransport(dialect, auth, settings, httpx.Client(transport=mock), RequestBudget(60_000))


def async_transport(
    auth: httpx.Auth, mock: httpx.MockTransport, settings: ClientSettings = TEST_SETTINGS
) -> AsyncTransport:
    """The triggerer's transport for ``auth`` on a mock platform."""
    dialect = configure(conn(project="p-1", access_token="t"))[0]
    pool = AsyncClientPool([httpx.AsyncClient(transport=mock)], 10, settings)
    return AsyncTransport(dialect, auth, settings, pool, RequestBudget(60_000))


def get(transport: SyncTransport) -> int:
    """The status of one job read (errors raised as the transport types them)."""
    return transport.call(transport.dialect.get_request("123"), lambda answer: answer.status_code)


async def aget(transport: AsyncTransport) -> int:
    return await transport.call(transport.dialect.get_request("123"), lambda answer: answer.status_code)


# -- static access token ----------------------------------------------------------------
def test_access_token_is_used_as_is() -> None:
    dialect, auth, secrets = configure(conn(project="p-1", access_token="ya29.static-token"))
    assert isinstance(auth, BearerAuth)
    assert authorization(auth) == "Bearer ya29.static-token"
    assert secrets == ["ya29.static-token"]
    assert (dialect.project, dialect.location) == ("p-1", "us-central1")
    assert dialect.base_url == "https://us-central1-aiplatform.googleapis.com"


def test_access_token_wins_over_a_key(key_info: dict[str, str]) -> None:
    _, auth, _ = configure(conn(password=json.dumps(key_info), project="p-1", access_token="ya29.x"))
    assert isinstance(auth, BearerAuth)


def test_access_token_works_without_google_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    _, auth, _ = configure(conn(project="p-1", access_token="ya29.static-token"))
    assert isinstance(auth, BearerAuth)


# -- service-account keys -----------------------------------------------------------------
def test_key_in_password(key_info: dict[str, str]) -> None:
    raw = json.dumps(key_info, indent=2)
    dialect, auth, secrets = configure(conn(password=raw))
    assert isinstance(auth, GoogleCredentialsAuth)
    assert dialect.project == "key-project"  # from the key when the extras name none
    assert raw in secrets
    assert key_info["private_key"] in secrets
    assert json.dumps(key_info["private_key"])[1:-1] in secrets  # an escaped rendering is masked too
    assert len(secrets) == 3  # not a pattern per PEM line: the masker's cost grows with each


def test_project_extra_wins_over_the_keys(key_info: dict[str, str]) -> None:
    dialect, _, _ = configure(conn(password=json.dumps(key_info), project="jobs-project", location="europe-west4"))
    assert (dialect.project, dialect.location) == ("jobs-project", "europe-west4")
    assert dialect.base_url == "https://europe-west4-aiplatform.googleapis.com"


@pytest.mark.parametrize("as_text", [True, False])
def test_keyfile_dict_as_text_or_object(key_info: dict[str, str], as_text: bool) -> None:
    keyfile: Any = json.dumps(key_info) if as_text else key_info
    dialect, auth, secrets = configure(conn(keyfile_dict=keyfile))
    assert isinstance(auth, GoogleCredentialsAuth)
    assert dialect.project == "key-project"
    assert key_info["private_key"] in secrets


def test_key_path(key_info: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_info))
    found = google_credentials(conn(key_path=str(path)))
    assert found.source == "key_path"
    assert found.project == "key-project"
    assert key_info["private_key"] in found.secrets


def test_password_wins_over_keyfile_dict_and_key_path(key_info: dict[str, str]) -> None:
    found = google_credentials(conn(password=json.dumps(key_info), keyfile_dict="{", key_path="/nope"))
    assert found.source == "Password"


def test_google_cloud_platform_connection_with_legacy_extras(key_info: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_info))
    legacy = conn(
        "google_cloud_platform",
        extra__google_cloud_platform__key_path=str(path),
        extra__google_cloud_platform__project="gcp-project",
    )
    dialect, auth, _ = configure(legacy)
    assert isinstance(auth, GoogleCredentialsAuth)
    assert dialect.project == "gcp-project"
    modern = conn("google_cloud_platform", keyfile_dict=json.dumps(key_info), project="gcp-project")
    assert configure(modern)[0].project == "gcp-project"


@pytest.mark.parametrize("name", ["key_secret_name", "credential_config_file"])
def test_unsupported_gcp_credentials_are_refused(name: str) -> None:
    with pytest.raises(ConnectionConfigError, match=name):
        configure(conn("google_cloud_platform", project="p-1", **{name: "x"}))


def test_same_credentials_share_one_auth(key_info: dict[str, str]) -> None:
    first = configure(conn(password=json.dumps(key_info)))[1]
    assert configure(conn(password=json.dumps(key_info)))[1] is first
    other = dict(key_info, client_email="other@key-project.iam.gserviceaccount.com")
    assert configure(conn(password=json.dumps(other)))[1] is not first


# -- clear errors, never echoing the key ----------------------------------------------------
def assert_no_key_in(message: str, key_info: dict[str, str]) -> None:
    for line in key_info["private_key"].splitlines()[1:-1]:
        assert line not in message


def test_broken_json_names_the_problem_without_the_key(key_info: dict[str, str]) -> None:
    broken = json.dumps(key_info)[:-1]
    with pytest.raises(ConnectionConfigError) as info:
        configure(conn(password=broken))
    message = str(info.value)
    assert "Password" in message and "not valid JSON" in message and "vertex_test" in message
    assert_no_key_in(message, key_info)


def test_a_token_pasted_into_password_points_to_access_token() -> None:
    with pytest.raises(ConnectionConfigError, match="access_token"):
        configure(conn(password="ya29.not-json"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"type": "authorized_user"}, "'authorized_user', not 'service_account'"),
        ({"type": None}, "None, not 'service_account'"),
        ({"client_email": ""}, "lacks client_email"),
        ({"token_uri": None}, "lacks token_uri"),
    ],
)
def test_incomplete_keys(key_info: dict[str, str], change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConnectionConfigError, match=expected) as info:
        configure(conn(keyfile_dict=json.dumps({**key_info, **change}), project="p-1"))
    assert_no_key_in(str(info.value), key_info)


def test_private_key_of_the_wrong_type_is_not_echoed(key_info: dict[str, str]) -> None:
    lines = key_info["private_key"].splitlines()
    with pytest.raises(ConnectionConfigError, match="private_key") as info:
        configure(conn(keyfile_dict=json.dumps({**key_info, "private_key": lines}), project="p-1"))
    assert_no_key_in(str(info.value), key_info)


def test_damaged_private_key_is_not_echoed(key_info: dict[str, str]) -> None:
    lines = key_info["private_key"].splitlines()
    damaged = "\n".join([lines[0], *lines[1:5], lines[-1]])
    with pytest.raises(ConnectionConfigError, match="could not be loaded") as info:
        configure(conn(password=json.dumps({**key_info, "private_key": damaged})))
    assert_no_key_in(str(info.value), key_info)


def test_json_that_is_not_an_object() -> None:
    with pytest.raises(ConnectionConfigError, match="JSON list"):
        configure(conn(password="[1, 2]"))


def test_missing_key_file() -> None:
    with pytest.raises(ConnectionConfigError, match=r"key_path '/no/such/key.json' is not a file"):
        configure(conn(key_path="/no/such/key.json", project="p-1"))


def test_key_file_that_is_not_text(tmp_path: Any) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConnectionConfigError, match="not UTF-8"):
        configure(conn(key_path=str(path), project="p-1"))


def test_no_project_anywhere(key_info: dict[str, str]) -> None:
    without = {k: v for k, v in key_info.items() if k != "project_id"}
    with pytest.raises(ConnectionConfigError, match="'project' extra"):
        configure(conn(password=json.dumps(without)))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"location": "us-central1/../x"}, "location"),
        ({"location": "US"}, "location"),
        ({"project": "Bad Project"}, "project"),
        ({"quota_project": "a/b"}, "quota project"),
    ],
)
def test_bad_settings_are_config_errors(extra: dict[str, str], expected: str) -> None:
    settings = {"project": "p-1", "access_token": "ya29.x", **extra}
    with pytest.raises(ConnectionConfigError, match=expected):
        configure(conn(**settings))


def test_host_quota_project_and_global_location() -> None:
    dialect, _, _ = configure(
        conn(host="http://127.0.0.1:9999", project="p-1", location="global", quota_project="bill-1", access_token="t")
    )
    assert dialect.base_url == "http://127.0.0.1:9999"
    assert dialect.get_request("1").headers == {"x-goog-user-project": "bill-1"}
    assert configure(conn(project="p-1", location="global", access_token="t"))[0].base_url == (
        "https://aiplatform.googleapis.com"
    )


def test_google_auth_missing_names_the_extra(key_info: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    for connection in (conn(password=json.dumps(key_info)), conn(project="p-1")):
        with pytest.raises(ConnectionConfigError, match=r"pip install 'airflow-ft-provider\[google\]'"):
            configure(connection)


# -- Application Default Credentials ------------------------------------------------------
def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class FakeCredentials:
    """Just enough of google.auth.credentials.Credentials: a token that refreshes on demand."""

    def __init__(self, fail: Exception | None = None, lifetime: timedelta = timedelta(hours=1)) -> None:
        self.lifetime = lifetime
        self.token: str | None = None
        self.expiry: datetime | None = None
        self.refreshes = 0
        self.fail = fail

    @property
    def valid(self) -> bool:
        return self.token is not None and (self.expiry is None or self.expiry > utcnow())

    def refresh(self, request: object) -> None:
        if self.fail is not None:
            raise self.fail
        self.refreshes += 1
        self.token = f"ya29.minted-{self.refreshes:04d}"
        self.expiry = utcnow() + self.lifetime  # google-auth's expiry: naive UTC


def test_adc_with_a_project_is_loaded_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth

    calls: list[object] = []
    credentials = FakeCredentials()

    def fake_default(scopes: object = None, **kwargs: object) -> tuple[FakeCredentials, str]:
        calls.append(scopes)
        return credentials, "adc-project"

    monkeypatch.setattr(google.auth, "default", fake_default)
    dialect, auth, secrets = configure(conn(project="p-1"))
    assert (dialect.project, secrets, calls) == ("p-1", [], [])  # nothing looked up yet
    assert authorization(auth) == "Bearer ya29.minted-0001"
    assert calls == [("https://www.googleapis.com/auth/cloud-platform",)]


def test_adc_names_the_project_when_the_connection_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth

    monkeypatch.setattr(google.auth, "default", lambda **kwargs: (FakeCredentials(), "adc-project"))
    found = google_credentials(conn())
    assert (found.source, found.project) == ("adc", "adc-project")
    assert configure(conn())[0].project == "adc-project"


def test_adc_not_found_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_adc(**kwargs: object) -> None:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(ConnectionConfigError, match="Application Default Credentials were not found"):
        configure(conn())
    _, auth, _ = configure(conn(project="p-1"))  # deferred: the error comes with the first request
    with pytest.raises(ConnectionConfigError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        authorization(auth)


# -- the auth itself ------------------------------------------------------------------------
@pytest.fixture
def masked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    import airflow.providers.common.compat.sdk as compat_sdk

    async def amask(secrets: list[str]) -> None:
        seen.extend(secrets)

    monkeypatch.setattr(compat_sdk, "mask_secret", seen.append, raising=False)
    monkeypatch.setattr(version_compat, "amask_secrets", amask)
    return seen


def replying(*statuses: int, log: list[str] | None = None) -> httpx.MockTransport:
    """Answers in turn with ``statuses`` (then 200), recording the Authorization headers."""
    answers = iter(statuses)

    def handle(request: httpx.Request) -> httpx.Response:
        if log is not None:
            log.append(request.headers["Authorization"])
        return httpx.Response(next(answers, 200), json={})

    return httpx.MockTransport(handle)


def test_sync_token_is_minted_once_cached_and_masked(masked: list[str]) -> None:
    credentials = FakeCredentials()
    auth = GoogleCredentialsAuth.of(credentials)  # type: ignore[arg-type]
    seen: list[str] = []
    transport = sync_transport(auth, replying(log=seen))
    for _ in range(3):
        assert get(transport) == 200
    assert seen == ["Bearer ya29.minted-0001"] * 3
    assert credentials.refreshes == 1
    assert masked == ["ya29.minted-0001"]


def test_sync_401_refreshes_once_and_retries(masked: list[str]) -> None:
    credentials = FakeCredentials()
    auth = GoogleCredentialsAuth.of(credentials)  # type: ignore[arg-type]
    seen: list[str] = []
    transport = sync_transport(auth, replying(401, 401, log=seen))
    with pytest.raises(AuthenticationError) as info:  # the retry was refused too: reported as is
        get(transport)
    assert info.value.status_code == 401
    assert get(transport) == 200
    assert seen == ["Bearer ya29.minted-0001", "Bearer ya29.minted-0002", "Bearer ya29.minted-0002"]
    assert credentials.refreshes == 2
    assert masked == ["ya29.minted-0001", "ya29.minted-0002"]


async def test_concurrent_async_requests_refresh_once(masked: list[str]) -> None:
    credentials = FakeCredentials()
    auth = GoogleCredentialsAuth.of(credentials)  # type: ignore[arg-type]
    transport = async_transport(auth, replying())
    answers = await asyncio.gather(*(aget(transport) for _ in range(50)))
    assert set(answers) == {200}
    assert credentials.refreshes == 1
    assert masked == ["ya29.minted-0001"]


async def test_async_401_refreshes_once_and_retries(masked: list[str]) -> None:
    credentials = FakeCredentials()
    auth = GoogleCredentialsAuth.of(credentials)  # type: ignore[arg-type]
    seen: list[str] = []
    assert await aget(async_transport(auth, replying(401, log=seen))) == 200
    assert seen == ["Bearer ya29.minted-0001", "Bearer ya29.minted-0002"]
    assert credentials.refreshes == 2
    assert masked == ["ya29.minted-0001", "ya29.minted-0002"]


def test_expired_token_is_refreshed(masked: list[str]) -> None:
    credentials = FakeCredentials(lifetime=timedelta(seconds=-1))  # expired as soon as minted
    auth = GoogleCredentialsAuth.of(credentials)  # type: ignore[arg-type]
    assert authorization(auth) == "Bearer ya29.minted-0001"
    assert authorization(auth) == "Bearer ya29.minted-0002"
    assert credentials.refreshes == 2


def test_a_token_near_its_expiry_is_refreshed_before_it_is_sent(masked: list[str]) -> None:
    credentials = FakeCredentials(lifetime=timedelta(seconds=60))
    auth = GoogleCredentialsAuth.of(credentials)  # type: ignore[arg-type]
    assert authorization(auth) == "Bearer ya29.minted-0001"
    auth._minted.fetched_at -= 3600  # type: ignore[union-attr]  # an hour-long token with a minute left
    assert authorization(auth) == "Bearer ya29.minted-0002"


def refresh_failure(kind: str) -> Exception:
    from google.auth.exceptions import RefreshError, TransportError

    if kind == "transport":
        return TransportError("connection refused")
    if kind == "retryable":
        return RefreshError("internal_failure", retryable=True)
    if kind == "unreadable":
        return TypeError("string indices must be integers")
    return RefreshError("invalid_grant: Invalid JWT Signature.", {"error": "invalid_grant"})


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("transport", PlatformUnavailableError),
        ("retryable", PlatformUnavailableError),
        ("unreadable", PlatformUnavailableError),
        ("refused", AuthenticationError),
    ],
)
def test_refresh_failures_are_typed(kind: str, expected: type[Exception], masked: list[str]) -> None:
    auth = GoogleCredentialsAuth.of(FakeCredentials(fail=refresh_failure(kind)))  # type: ignore[arg-type]
    seen: list[str] = []
    with pytest.raises(expected) as info:
        get(sync_transport(auth, replying(log=seen)))
    assert info.value.platform == "vertex_ai"  # type: ignore[attr-defined]
    assert "string indices" not in str(info.value)  # a library's own text is not shown
    assert (masked, seen) == ([], [])  # nothing was sent without a credential


def test_a_failure_under_google_auths_wrapper_is_the_transports_typed_error(masked: list[str]) -> None:
    from google.auth.exceptions import RefreshError

    def wrapped() -> Exception:
        try:
            raise RequestTimeoutError("token endpoint: no complete answer", platform="vertex_ai")
        except RequestTimeoutError as cause:
            try:
                raise RefreshError("Unable to acquire impersonated credentials") from cause
            except RefreshError as exc:
                return exc

    auth = GoogleCredentialsAuth.of(FakeCredentials(fail=wrapped()))  # type: ignore[arg-type]
    with pytest.raises(RequestTimeoutError, match="no complete answer"):
        get(sync_transport(auth, replying()))


async def test_async_refresh_failure_is_typed(masked: list[str]) -> None:
    auth = GoogleCredentialsAuth.of(FakeCredentials(fail=refresh_failure("refused")))  # type: ignore[arg-type]
    seen: list[str] = []
    with pytest.raises(AuthenticationError, match="Invalid JWT Signature"):
        await aget(async_transport(auth, replying(log=seen)))
    assert seen == []


async def test_each_waiter_gets_its_own_copy_of_a_failure(masked: list[str]) -> None:
    auth = GoogleCredentialsAuth.of(FakeCredentials(fail=refresh_failure("refused")))  # type: ignore[arg-type]
    transport = async_transport(auth, replying())
    failures = await asyncio.gather(*(aget(transport) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(f, AuthenticationError) for f in failures)
    assert len({id(f) for f in failures}) == 5


def test_a_credential_fetched_for_a_caller_that_gave_up_is_still_masked(masked: list[str]) -> None:
    import threading

    release = threading.Event()

    class Slow(FakeCredentials):
        def refresh(self, request: object) -> None:
            release.wait(5)
            super().refresh(request)

    auth = GoogleCredentialsAuth.of(Slow())  # type: ignore[arg-type]
    transport = sync_transport(auth, replying())
    with pytest.raises(RequestTimeoutError, match="credential was not fetched"):
        transport.call(transport.dialect.get_request("1"), lambda a: a.status_code, deadline=time.time() + 0.2)
    release.set()
    assert authorization(auth) == "Bearer ya29.minted-0001"
    assert masked == ["ya29.minted-0001"]


def test_a_caller_without_a_deadline_waits_no_longer_than_the_exchange_may_take(masked: list[str]) -> None:
    import threading

    release = threading.Event()

    class Stuck(FakeCredentials):
        def refresh(self, request: object) -> None:
            release.wait(10)  # blocked where no socket timeout reaches (a host name lookup)
            super().refresh(request)

    auth = GoogleCredentialsAuth.of(Stuck())  # type: ignore[arg-type]
    transport = sync_transport(auth, replying(), ClientSettings(timeout=0.2, max_retries=0))
    started = time.monotonic()
    try:
        with pytest.raises(RequestTimeoutError, match="credential was not fetched"):
            get(transport)
    finally:
        release.set()
    assert time.monotonic() - started < 10  # bounded by timeout + FETCH_GRACE_SECONDS, not the stuck fetch


def test_auth_repr_shows_no_token() -> None:
    credentials = FakeCredentials()
    auth = GoogleCredentialsAuth.of(credentials)  # type: ignore[arg-type]
    authorization(auth)
    assert "ya29" not in repr(auth)


# -- secrets reach the masker through the hook ----------------------------------------------
def test_hook_setup_masks_the_key(key_info: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    connection = conn(password=json.dumps(key_info))
    monkeypatch.setattr(VertexAITuningHook, "get_connection", classmethod(lambda cls, conn_id: connection))
    VertexAITuningHook("vertex_test").prepare()
    line = key_info["private_key"].splitlines()[3]
    assert key_info["private_key"] not in str(redact({"k": key_info["private_key"]}))
    # A dump of the key's dict (repr or JSON escapes the line breaks) hides every line.
    assert line not in str(redact(f"loaded {key_info!r}"))
    assert line not in str(redact(f"loaded {json.dumps(key_info)}"))


# -- Gemini ---------------------------------------------------------------------------------
def test_gemini_key_goes_in_a_header() -> None:
    connection = Connection(conn_id="g", conn_type="ft_gemini", password="AIza-test-key")
    setup = GeminiTuningHook("g").configure(connection)
    assert isinstance(setup.dialect, GeminiDialect)
    assert setup.dialect.base_url == "https://generativelanguage.googleapis.com"
    request = next(setup.auth.sync_auth_flow(httpx.Request("GET", "https://x/")))  # type: ignore[union-attr]
    assert request.headers["x-goog-api-key"] == "AIza-test-key"
    assert "Authorization" not in request.headers
    assert "AIza" not in str(request.url)
    assert setup.secrets == ["AIza-test-key"]


def test_gemini_without_a_key_says_where_to_put_it() -> None:
    with pytest.raises(ConnectionConfigError, match="Password"):
        GeminiTuningHook("g").configure(Connection(conn_id="g", conn_type="ft_gemini"))
