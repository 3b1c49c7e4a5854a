"""TLS is verified by default; plain http:// only to loopback hosts or with an explicit extra.

The TLS checks talk to a real HTTPS server on 127.0.0.1 with a self-signed certificate: with
the defaults the handshake is refused and no HTTP request is ever read by the server;
``verify_tls: false`` (sync and async) lets the same request through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import Connection

from airflow_ft_provider.errors import ConnectionConfigError
from airflow_ft_provider.hooks.base import TuningJobHook
from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing.platforms import SPECS
from airflow_ft_provider.transport import AsyncClientPool, ClientSettings, new_sync_client, shared_async_pool
from tests.conftest import CONN_TYPES, PLATFORMS
from tests.platforms.emulated import connection_extra, new_core

KEY = "sk-tls-test-0123456789"
#: The host that stands for "the platform's default" where a platform has none (one endpoint per resource).
NO_DEFAULT_HOST = {Platform("azure_openai"): "https://tls-test.openai.azure.com"}


def make_conn(platform: Platform, host: str | None, **extra: Any) -> Connection:
    # What the platform's connection needs besides its host (a watsonx.ai project), as its emulator writes it.
    extra = {**connection_extra(new_core(), platform), "max_retries": 0, "timeout": 5, **extra}
    host = host if host is not None else NO_DEFAULT_HOST.get(platform)
    secret = SPECS[platform].secret_fields(KEY)
    if platform is Platform.VERTEX_AI:
        extra = {"project": "tls-project", "access_token": KEY, **extra}
        secret = {}
    return Connection(
        conn_id=f"tls_{platform.value}", conn_type=CONN_TYPES[platform], host=host, extra=json.dumps(extra), **secret
    )


def hook_on(platform: Platform, conn: Connection) -> TuningJobHook:
    """A hook whose connection is ``conn`` (no Airflow lookup)."""
    hook = hook_class_for_platform(platform)(conn_id=conn.conn_id)
    hook.get_connection = lambda conn_id: conn  # type: ignore[method-assign]

    async def aprepare() -> Any:
        return hook.prepare()

    hook.aprepare = aprepare  # type: ignore[method-assign]
    return hook


def ssl_context_of(client: httpx.Client | httpx.AsyncClient) -> ssl.SSLContext:
    return client._transport._pool._ssl_context  # type: ignore[union-attr]


# -- the defaults reach httpx ---------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_default_settings_verify_tls(platform):
    setup = hook_class_for_platform(platform)().configure(make_conn(platform, None))
    assert setup.settings.verify_tls is True
    assert setup.settings.verify_tls is True
    assert setup.dialect.base_url.startswith("https://"), setup.dialect.base_url


@pytest.mark.parametrize("platform", PLATFORMS)
def test_sync_and_async_clients_verify_certificates_by_default(platform):
    hook = hook_on(platform, make_conn(platform, None))
    context = ssl_context_of(hook.get_conn().client)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True

    async def async_context() -> ssl.SSLContext:
        try:
            return ssl_context_of((await hook.atransport()).pool.clients[0])
        finally:
            await process_cache.aclose()

    context = asyncio.run(async_context())
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


@pytest.mark.parametrize("value", [False, "false", "False", "0", "no", "off"])
def test_verify_tls_false_reaches_httpx(value):
    hook = hook_on(Platform.OPENAI, make_conn(Platform.OPENAI, None, verify_tls=value))
    assert hook.prepare().settings.verify_tls is False
    assert ssl_context_of(hook.get_conn().client).verify_mode == ssl.CERT_NONE

    async def async_mode() -> ssl.VerifyMode:
        try:
            pool = (await hook.atransport()).pool
            return ssl_context_of(pool.clients[0]).verify_mode
        finally:
            await process_cache.aclose()

    assert asyncio.run(async_mode()) == ssl.CERT_NONE


def test_verified_and_unverified_clients_never_share_a_pool():
    """An edited connection (verify_tls flipped) must not reuse a pooled client of the old setting."""
    verified, unverified = ClientSettings(), ClientSettings(verify_tls=False)

    async def clients() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        try:
            base = ("conn", "https://api.example.com")
            return (
                (await shared_async_pool((*base, verified), verified)).clients[0],
                (await shared_async_pool((*base, unverified), unverified)).clients[0],
            )
        finally:
            await process_cache.aclose()

    one, other = asyncio.run(clients())
    assert one is not other
    assert ssl_context_of(one).verify_mode == ssl.CERT_REQUIRED
    assert ssl_context_of(other).verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize("value", ["/etc/ssl/certs/ca-certificates.crt", "t", "y", "enabled", "required", "ture"])
def test_unrecognised_verify_tls_never_turns_verification_off(value):
    """A CA-bundle path (what requests' ``verify=`` takes) or a typo must not disable TLS silently:
    the connection either keeps verifying or is refused with a message naming verify_tls."""
    try:
        setup = hook_class_for_platform(Platform.OPENAI)().configure(make_conn(Platform.OPENAI, None, verify_tls=value))
    except ConnectionConfigError as exc:
        assert "verify_tls" in str(exc)
        return
    assert setup.settings.verify_tls is True, f"verify_tls={value!r} silently disabled certificate checks"


# -- a real TLS server with a certificate nobody trusts -------------------------------------
@dataclass
class TlsServer:
    url: str
    requests: list[str] = field(default_factory=list)
    handshake_failures: list[str] = field(default_factory=list)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    """An OpenAI-shaped HTTPS endpoint (empty job list) with a self-signed certificate."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    state = TlsServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = json.dumps({"object": "list", "data": [], "has_more": False}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> Any:
            sock, address = super().get_request()
            # The handshake runs in the handler thread, so a refused one cannot stall accept().
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

        def finish_request(self, request: Any, client_address: Any) -> None:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                state.handshake_failures.append(type(exc).__name__)
                return
            super().finish_request(request, client_address)

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"https://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def list_async(hook: TuningJobHook) -> list[Any]:
    async def run() -> list[Any]:
        try:
            return [job async for job in hook.alist_jobs(1)]
        finally:
            await process_cache.aclose()

    return asyncio.run(run())


def test_untrusted_certificate_is_refused_sync_and_async(tls_server):
    # With retries allowed: a certificate that is not trusted fails every handshake, so none is retried.
    hook = hook_on(Platform.OPENAI, make_conn(Platform.OPENAI, tls_server.url, max_retries=3, backoff_max=0.05))
    with pytest.raises(ConnectionConfigError, match=r"CERTIFICATE_VERIFY_FAILED.*install that CA"):
        list(hook.list_jobs(1))
    with pytest.raises(ConnectionConfigError, match="CERTIFICATE_VERIFY_FAILED"):
        list_async(hook)
    ok, message = hook.test_connection()
    assert not ok
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert tls_server.requests == [], "an HTTP request (with the key) crossed an unverified TLS connection"
    # The server notes a refused handshake in its own thread, possibly after the client gave up.
    deadline = time.monotonic() + 5
    while len(tls_server.handshake_failures) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(tls_server.handshake_failures) == 3, "a handshake that cannot succeed was retried"
    assert KEY not in message


@pytest.fixture
def plain_http_server() -> Iterator[PlainServer]:
    """A plain-HTTP server (Python's own, answering 400 to a TLS hello) counting its connections."""
    state = PlainServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> Any:
            state.connections += 1
            return super().get_request()

    server = Server(("127.0.0.1", 0), Handler)
    state.hostport = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class PlainServer:
    hostport: str = ""
    connections: int = 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_host_without_scheme_on_a_plain_http_server_fails_at_once(plain_http_server, mode):
    """A host written without http:// is https: a plain-HTTP server's answer to the TLS hello cannot
    change on retry, so the first handshake ends the call with the fix (the host as http://host:port)."""
    conn = make_conn(Platform.OPENAI, f"{plain_http_server.hostport}/v1", max_retries=5, backoff_max=0.05)
    hook = hook_on(Platform.OPENAI, conn)
    with pytest.raises(ConnectionConfigError) as info:
        list(hook.list_jobs(1)) if mode == "sync" else list_async(hook)
    message = str(info.value)
    assert f"https://{plain_http_server.hostport}/v1" in message
    assert "WRONG_VERSION_NUMBER" in message or "wrong version number" in message.lower()
    assert "write the connection's host as http://host:port" in message
    assert "taken as https://" in message
    assert plain_http_server.connections == 1, f"{plain_http_server.connections} handshakes: retried"
    assert KEY not in message


def test_verify_tls_false_accepts_the_same_server_sync_and_async(tls_server):
    hook = hook_on(Platform.OPENAI, make_conn(Platform.OPENAI, tls_server.url, verify_tls=False))
    assert list(hook.list_jobs(1)) == []
    assert list_async(hook) == []
    assert hook.test_connection()[0]
    assert len(tls_server.requests) == 3
    assert all(path.startswith("/v1/fine_tuning/jobs") for path in tls_server.requests)


# -- plain http -----------------------------------------------------------------------------
NON_LOOPBACK_HTTP = [
    "http://api.openai.com/v1",
    "http://10.0.0.5:8080/v1",
    "http://192.168.1.10/v1",
    "http://0.0.0.0:8080/v1",
    "http://localhost.evil.example/v1",
    "http://127.0.0.1.nip.io/v1",
    "http://evil.example/127.0.0.1",
    "http://2130706433/v1",  # 127.0.0.1 as a decimal integer: not parsed as loopback, so refused
    "http://[::ffff:127.0.0.1]/v1",
    "http://[fe80::1]/v1",
    "HTTP://API.EXAMPLE.COM/v1",
]
LOOPBACK_HTTP = [
    "http://127.0.0.1:8765/v1",
    "http://127.0.0.2:8765/v1",
    "http://localhost:8765/v1",
    "http://LOCALHOST:8765/v1",
    "http://[::1]:8765/v1",
]
NOT_HTTP = ["ftp://api.example.com/v1", "file:///etc/passwd", "gopher://127.0.0.1/", "https://", "http:///v1"]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("url", NON_LOOPBACK_HTTP)
def test_plain_http_to_a_network_host_is_refused(platform, url):
    hook = hook_on(platform, make_conn(platform, url))
    with pytest.raises(ConnectionConfigError) as info:
        hook.prepare()
    message = str(info.value)
    assert "allow_insecure_http" in message
    assert "http://" in message
    assert hook.conn_id in message
    assert KEY not in message
    ok, shown = hook.test_connection()
    assert not ok
    assert "allow_insecure_http" in shown


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("url", NON_LOOPBACK_HTTP[:3])
@pytest.mark.parametrize("flag", [True, "true", "yes", "1"])
def test_plain_http_with_the_explicit_extra_is_allowed(platform, url, flag):
    setup = hook_on(platform, make_conn(platform, url, allow_insecure_http=flag)).prepare()
    assert setup.dialect.base_url.lower().startswith("http://")


@pytest.mark.parametrize("flag", [False, "false", "0", "", None, "maybe"])
def test_anything_but_an_explicit_yes_keeps_http_refused(flag):
    with pytest.raises(ConnectionConfigError, match="allow_insecure_http"):
        hook_on(
            Platform.OPENAI, make_conn(Platform.OPENAI, "http://api.example.com", allow_insecure_http=flag)
        ).prepare()


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("url", LOOPBACK_HTTP)
def test_plain_http_to_loopback_is_allowed(platform, url):
    setup = hook_on(platform, make_conn(platform, url)).prepare()
    assert setup.dialect.base_url.lower().startswith("http://")


@pytest.mark.parametrize("url", NOT_HTTP)
def test_other_schemes_are_refused(url):
    with pytest.raises(ConnectionConfigError, match="not an http"):
        hook_on(Platform.OPENAI, make_conn(Platform.OPENAI, url)).prepare()


def test_bare_host_means_https():
    setup = hook_on(Platform.OPENAI, make_conn(Platform.OPENAI, "api.example.com/v1")).prepare()
    assert setup.dialect.base_url == "https://api.example.com/v1"


def test_loopback_http_really_works_against_the_emulator(emu, connections):
    """The emulators are plain http on 127.0.0.1: the allowed case works end to end."""
    from tests.conftest import conn_id_for

    for platform in PLATFORMS:
        ok, message = hook_class_for_platform(platform)(conn_id=conn_id_for(platform)).test_connection()
        assert ok, message


def test_redirects_are_not_followed():
    """A 30x must not carry the key to another host (httpx drops Authorization across hosts, but a
    same-host downgrade to http:// would not be caught): the provider never follows redirects."""
    assert new_sync_client(ClientSettings()).follow_redirects is False
    assert all(client.follow_redirects is False for client in AsyncClientPool.build(ClientSettings()).clients)
