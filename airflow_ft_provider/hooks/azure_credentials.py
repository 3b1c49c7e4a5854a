"""Microsoft Entra ID credentials for Azure OpenAI that refresh: service principal (client secret or
certificate), managed identity and workload identity, from an ``ft_azure_openai`` connection.

azure-identity keeps its logic (MSAL's client-credentials grant, certificate assertions, IMDS and the
other managed-identity sources, the federated token file); every request it makes goes through the
transport's bounds (:class:`CredentialHttp`, via an azure-core ``HttpTransport``), and its own retry
policy never sleeps past the exchange's deadline. :class:`AzureCredentialAuth` mints the token for
``https://cognitiveservices.azure.com/.default`` and mints another before it expires, once per
connection and process. azure-identity is an optional extra, imported only here and only when such
a connection is used, so parsing DAGs never pays for it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx

from airflow_ft_provider import server_text
from airflow_ft_provider.errors import (
    AuthenticationError,
    ConnectionConfigError,
    PlatformUnavailableError,
    RequestTimeoutError,
)
from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.connection import config_error
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.transport.credentials import CredentialHttp, Minted, RefreshingAuth, typed_cause

if TYPE_CHECKING:
    from airflow.sdk import Connection

PLATFORM = "azure_openai"
SCOPE = "https://cognitiveservices.azure.com/.default"
INSTALL_HINT = "pip install 'airflow-ft-provider[azure]'"
#: The auth types whose token azure-identity mints (and mints again before it expires).
MINTED = ("service_principal", "managed_identity", "workload_identity")
#: azure-identity's environment variables for workload identity (set by the AKS webhook).
_WORKLOAD_ENV = {
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "token_file_path": "AZURE_FEDERATED_TOKEN_FILE",
}
#: The longest text of Entra ID's that goes into an exception.
_SHOWN = 300


@dataclass
class FoundCredentials:
    """What the connection's Entra ID settings resolve to."""

    auth: AzureCredentialAuth
    secrets: list[str] = field(repr=False)
    #: For the log: service_principal (secret|certificate), managed_identity, workload_identity.
    source: str


def entra_credentials(conn: Connection, auth_type: str, extras: Extras) -> FoundCredentials:
    """The refreshing auth for ``auth_type`` (one of :data:`MINTED`), or a :class:`ConnectionConfigError`
    naming the field and the fix. Nothing is sent here."""
    _require_azure_identity(auth_type)
    authority, plain_origin = _authority(conn, extras)
    common: dict[str, Any] = {}
    if authority is not None:
        # An authority the connection names is trusted as named: MSAL's instance discovery would ask
        # login.microsoftonline.com to vouch for it, which fails for anything but Microsoft's own.
        common["authority"] = authority
        common["disable_instance_discovery"] = True
    if auth_type == "service_principal":
        tenant_id, client_id = _required(conn, extras, "tenant_id"), _required(conn, extras, "client_id")
        certificate = _certificate(conn, extras)
        secret = (conn.password or "").strip()
        if certificate is not None:
            if secret:
                raise config_error(
                    conn,
                    "it holds both a client secret (Password) and a certificate (client_certificate"
                    f"{'_path' if certificate[0] == 'client_certificate_path' else ''}). Keep one of them.",
                )
            where, pem = certificate
            password = _text(extras, "client_certificate_password")
            secrets = _pem_secrets(pem) + ([password] if password else [])

            def make(transport: Any) -> Any:
                from azure.identity import CertificateCredential

                return CertificateCredential(
                    tenant_id,
                    client_id,
                    certificate_data=pem.encode(),
                    password=password.encode() if password else None,
                    transport=transport,
                    **common,
                    **_PIPELINE,
                )

            material = f"sp|{tenant_id}|{client_id}|{pem}|{password}"
            _check_builds(conn, make, f"the certificate in {where}", "Check the PEM (and client_certificate_password).")
            source = "service_principal (certificate)"
        else:
            if not secret:
                raise config_error(
                    conn,
                    "auth_type=service_principal needs the client secret in Password, or a certificate in the "
                    "client_certificate (PEM text) or client_certificate_path extra.",
                )
            secrets = [secret]

            def make(transport: Any) -> Any:
                from azure.identity import ClientSecretCredential

                return ClientSecretCredential(tenant_id, client_id, secret, transport=transport, **common, **_PIPELINE)

            material = f"sp|{tenant_id}|{client_id}|{secret}"
            _check_builds(conn, make, "tenant_id", "Use the directory (tenant) id: a GUID or a domain name.")
            source = "service_principal (secret)"
    elif auth_type == "managed_identity":
        _no_password(conn, auth_type)
        identity = _text(extras, "client_id")
        secrets = []

        def make(transport: Any) -> Any:
            from azure.identity import ManagedIdentityCredential

            return ManagedIdentityCredential(client_id=identity, transport=transport, **_PIPELINE)

        material = f"mi|{identity}"
        _check_builds(conn, make, "client_id", "Use the user-assigned identity's client id, or leave it empty.")
        source = "managed_identity"
    elif auth_type == "workload_identity":
        _no_password(conn, auth_type)
        tenant_id = _required(conn, extras, "tenant_id", env=True)
        client_id = _required(conn, extras, "client_id", env=True)
        token_file = os.path.expanduser(_required(conn, extras, "token_file_path", env=True))
        if not os.path.isfile(token_file):
            raise config_error(
                conn,
                f"token_file_path {token_file!r} is not a file on this machine. Mount the federated service "
                "account token there (the AKS workload identity webhook sets AZURE_FEDERATED_TOKEN_FILE).",
            )
        secrets = []

        def make(transport: Any) -> Any:
            from azure.identity import WorkloadIdentityCredential

            return WorkloadIdentityCredential(
                tenant_id=tenant_id,
                client_id=client_id,
                token_file_path=token_file,
                transport=transport,
                **common,
                **_PIPELINE,
            )

        material = f"wi|{tenant_id}|{client_id}|{token_file}"
        _check_builds(conn, make, "tenant_id", "Use the directory (tenant) id: a GUID or a domain name.")
        source = "workload_identity"
    else:  # pragma: no cover - the hook passes only MINTED
        raise ValueError(auth_type)
    material += f"|{authority}"
    key = ("azure_identity", conn.conn_id, hashlib.sha256(material.encode()).hexdigest())
    auth = process_cache.get(key, lambda: AzureCredentialAuth(make, plain_origin))
    return FoundCredentials(auth, secrets, source)


#: azure-core pipeline settings for every credential: its retries stay (a 429 or 5xx from Entra ID,
#: IMDS's 410 while it updates), each within the exchange's deadline (the transport's ``sleep``).
#: azure-core logs every request and answer at INFO (headers redacted): a task log would hold three
#: entries per token. They go to this logger instead, quiet unless its level is lowered.
HTTP_LOG = logging.getLogger("airflow_ft_provider.azure_identity_http")
HTTP_LOG.setLevel(logging.WARNING)
_PIPELINE: dict[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 8,
    "logger": HTTP_LOG,
}


def _require_azure_identity(auth_type: str) -> None:
    try:
        import azure.identity  # noqa: F401
    except ImportError:
        raise ConnectionConfigError(
            f"Azure OpenAI with auth_type={auth_type} needs azure-identity, which is not installed: "
            f"{INSTALL_HINT} (or use auth_type api_key, or entra_token with a token in Password)."
        ) from None


def _text(extras: Extras, name: str) -> str | None:
    value = extras.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _required(conn: Connection, extras: Extras, name: str, *, env: bool = False) -> str:
    value = _text(extras, name)
    if value is None and env:
        value = (os.environ.get(_WORKLOAD_ENV[name]) or "").strip() or None
    if value is None:
        also = f" (or the environment variable {_WORKLOAD_ENV[name]})" if env else ""
        raise config_error(conn, f"auth_type={_auth_type(extras)} needs the extra {name}{also}.")
    return value


def _auth_type(extras: Extras) -> str:
    return str(extras.get("auth_type"))


def _no_password(conn: Connection, auth_type: str) -> None:
    if conn.password and conn.password.strip():
        raise config_error(
            conn,
            f"auth_type={auth_type} takes no Password (the identity comes from the machine or the pod). Clear "
            "Password, or choose service_principal for a client secret or entra_token for a token.",
        )


def _certificate(conn: Connection, extras: Extras) -> tuple[str, str] | None:
    """(where, PEM text) of the service principal's certificate, if the connection holds one."""
    pem = _text(extras, "client_certificate")
    path = _text(extras, "client_certificate_path")
    if pem is not None and path is not None:
        raise config_error(conn, "it sets both client_certificate and client_certificate_path. Keep one of them.")
    if pem is not None:
        return "client_certificate", pem.replace("\\n", "\n")
    if path is None:
        return None
    text = connection.read_credential_file(
        conn,
        path,
        "client_certificate_path",
        "the PEM (certificate and private key)",
        "paste the PEM into client_certificate",
    )
    return "client_certificate_path", text


def _pem_secrets(pem: str) -> list[str]:
    """The PEM, its private key block, and both with escaped line breaks (as a dump shows them)."""
    found = [pem]
    start = pem.find("-----BEGIN")
    while start != -1:
        end = pem.find("-----END", start)
        stop = pem.find("-----", end + 8) + 5 if end != -1 else -1
        block = pem[start:stop] if stop > start else pem[start:]
        if "PRIVATE KEY" in block.split("\n", 1)[0]:
            found.append(block)
        start = pem.find("-----BEGIN", max(stop, start + 1))
    return list(dict.fromkeys([*found, *(s.replace("\n", "\\n") for s in found)]))


def _check_builds(conn: Connection, make: Callable[[Any], Any], field_name: str, fix: str) -> None:
    """Build the credential once (no I/O) to refuse what azure-identity refuses, by name."""
    try:
        make(azure_transport()).close()
    except Exception as exc:
        # Only the type: a parser's message is not guaranteed free of the key it parsed.
        raise config_error(conn, f"azure-identity refused {field_name} ({type(exc).__name__}). {fix}") from None


def _authority(conn: Connection, extras: Extras) -> tuple[str | None, str | None]:
    """(authority for azure-identity, plain-http origin the transport maps it back to).

    azure-identity and MSAL accept only https authorities. A loopback ``http://`` authority (an
    emulator) is given to them as https and sent as http by the transport; elsewhere http is refused.
    """
    raw = _text(extras, "authority_host")
    if raw is None:
        return None, None
    url = raw if "://" in raw else f"https://{raw}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise config_error(
            conn,
            f"authority_host {raw[:80]!r} is not an https URL. Use e.g. https://login.microsoftonline.us "
            "(Azure Government), or leave it empty for https://login.microsoftonline.com.",
        )
    if parts.path.strip("/"):
        raise config_error(
            conn,
            f"authority_host {raw[:80]!r} has a path. Give the host alone (the tenant goes in tenant_id).",
        )
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme == "http":
        if not connection.is_loopback(parts.hostname):
            raise config_error(
                conn,
                f"authority_host {raw[:80]!r} is plain http://, which would send the credential unencrypted. "
                "Use https:// (only a loopback emulator may use http).",
            )
        return "https://" + parts.netloc, origin
    return origin, None


# -- the auth ---------------------------------------------------------------------------
class AzureCredentialAuth(RefreshingAuth[str]):
    """``Authorization: Bearer`` from an azure-identity credential, minted and refreshed on demand.

    The credential is built on first use with :func:`azure_transport` as its transport, so every
    request of azure-identity and MSAL keeps the transport's bounds. A 401 from Azure OpenAI gets one
    retry with a newly minted token.
    """

    platform = PLATFORM

    def __init__(self, make: Callable[[Any], Any], plain_origin: str | None) -> None:
        super().__init__()
        self._make = make
        self._transport = azure_transport(plain_origin)
        self._credential: Any = None

    def apply(self, request: httpx.Request, credential: str) -> None:
        request.headers["Authorization"] = f"Bearer {credential}"

    def fetch(self, http: CredentialHttp) -> Minted[str]:
        from azure.core.exceptions import ClientAuthenticationError

        self._transport.http = http
        self._transport.statuses.clear()
        try:
            info = self._library_token()
            held = self._minted
            if held is not None and info.token == held.credential:
                # The library's cache (MSAL's) gave back the token this auth holds, which Azure OpenAI
                # refused or which is within the refresh margin: a new credential has an empty cache.
                self._credential = None
                info = self._library_token()
        except Exception as exc:
            typed = typed_cause(exc)
            if typed is not None:  # our bounds ended it (deadline, size, network): the typed error
                raise typed from None
            statuses = list(self._transport.statuses)
            if statuses and (statuses[-1] >= 500 or statuses[-1] == 429):
                raise PlatformUnavailableError(
                    f"Microsoft Entra ID's token endpoint failed (HTTP {statuses[-1]}).", platform=PLATFORM
                ) from None
            what = (
                server_text.clean(getattr(exc, "message", None) or str(exc), _SHOWN)
                if isinstance(exc, ClientAuthenticationError)
                else type(exc).__name__
            )
            raise AuthenticationError(
                f"Microsoft Entra ID refused the connection's credentials: {what}. Check tenant_id, client_id "
                "and the secret, certificate or identity, and that it may use the Azure OpenAI resource.",
                platform=PLATFORM,
            ) from None
        finally:
            self._transport.http = None
        token = info.token
        if not token:
            raise AuthenticationError("Microsoft Entra ID returned no access token.", platform=PLATFORM)
        return Minted(str(token), float(info.expires_on), [str(token)])

    def _library_token(self) -> Any:
        if self._credential is None:
            self._credential = self._make(self._transport)
        return self._credential.get_token_info(SCOPE)


@functools.cache
def _azure_transport_class() -> type:
    """azure-core's transport interface on :class:`CredentialHttp` (made on first use: azure-core
    comes with the optional azure-identity)."""
    from azure.core.pipeline.transport import HttpTransport
    from azure.core.rest import HttpRequest as RestRequest
    from azure.core.rest import HttpResponse as RestResponse

    class _Response(RestResponse):
        def __init__(self, request: Any, status: int, headers: Mapping[str, str], body: bytes) -> None:
            from azure.core.utils import CaseInsensitiveDict

            self._request, self._status, self._body = request, status, body
            # The body is already decoded (the size bound counts after decompression).
            self._headers = CaseInsensitiveDict(
                {k: v for k, v in headers.items() if k.lower() not in ("content-encoding", "content-length")}
            )
            self._encoding: str | None = None

        @property
        def request(self) -> Any:
            return self._request

        @property
        def status_code(self) -> int:
            return self._status

        @property
        def headers(self) -> Any:
            return self._headers

        @property
        def reason(self) -> str:
            return ""

        @property
        def content_type(self) -> str | None:
            return self._headers.get("content-type")

        @property
        def is_closed(self) -> bool:
            return True

        @property
        def is_stream_consumed(self) -> bool:
            return True

        @property
        def encoding(self) -> str | None:
            return self._encoding

        @encoding.setter
        def encoding(self, value: str | None) -> None:
            self._encoding = value

        @property
        def url(self) -> str:
            return str(self._request.url)

        @property
        def content(self) -> bytes:
            return self._body

        def text(self, encoding: str | None = None) -> str:
            return self._body.decode(encoding or self._encoding or "utf-8", "replace")

        def json(self) -> Any:
            import json

            return json.loads(self._body)

        def raise_for_status(self) -> None:
            from azure.core.exceptions import HttpResponseError

            if self._status >= 400:
                raise HttpResponseError(response=self)

        def __enter__(self) -> _Response:
            return self

        def __exit__(self, *args: Any) -> None:
            return None

        def close(self) -> None:
            return None

        def read(self) -> bytes:
            return self._body

        def iter_raw(self, **kwargs: Any) -> Iterator[bytes]:
            yield self._body

        def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
            yield self._body

        # The legacy transport response's reader, which some policies still call.
        def body(self) -> bytes:
            return self._body

    class _Transport(HttpTransport):
        def __init__(self, plain_origin: str | None) -> None:
            self.http: CredentialHttp | None = None
            #: Status of each answer of the current fetch (to tell a failing endpoint from a refusal).
            self.statuses: list[int] = []
            self._plain = plain_origin
            self._https = None if plain_origin is None else "https://" + plain_origin.split("://", 1)[1]

        def send(self, request: Any, **kwargs: Any) -> _Response:
            http = self.http
            if http is None:
                raise RuntimeError("azure-identity made a request outside a credential fetch")
            url = str(request.url)
            if self._https is not None and self._plain is not None and _same_origin(url, self._https):
                url = self._plain + url[len(self._https) :]
            answer = http.request(request.method, url, headers=dict(request.headers), body=_body(request))
            self.statuses.append(answer.status)
            return _Response(request, answer.status, answer.headers, answer.body)

        def sleep(self, duration: float) -> None:
            """A retry's pause, never past the exchange's deadline."""
            deadline = None if self.http is None else self.http.deadline
            if deadline is not None and time.time() + duration >= deadline:
                raise RequestTimeoutError(
                    f"{PLATFORM}: Microsoft Entra ID asked to retry in {duration:g} s, after the credential "
                    "exchange's deadline (each exchange is bounded by the connection's timeout).",
                    platform=PLATFORM,
                )
            time.sleep(duration)

        def open(self) -> None:
            return None

        def close(self) -> None:
            return None

        def __enter__(self) -> _Transport:
            return self

        def __exit__(self, *args: Any) -> None:
            return None

    def _body(request: Any) -> bytes | None:
        if isinstance(request, RestRequest):
            data = getattr(request, "_data", None)
            content = request.content
        else:  # a legacy azure.core.pipeline.transport.HttpRequest
            data, content = None, request.body
        if isinstance(content, dict):
            return urlencode(content).encode()
        if isinstance(data, dict):
            return urlencode(data).encode()
        if isinstance(content, str):
            return content.encode()
        return content if isinstance(content, bytes) else None

    return _Transport


def _same_origin(url: str, origin: str) -> bool:
    return url == origin or url.startswith(origin + "/") or url.startswith(origin + "?")


def azure_transport(plain_origin: str | None = None) -> Any:
    """An ``azure.core.pipeline.transport.HttpTransport`` whose requests keep the transport's bounds;
    ``plain_origin``: a loopback ``http://host:port`` that azure-identity is told is https."""
    return _azure_transport_class()(plain_origin)
