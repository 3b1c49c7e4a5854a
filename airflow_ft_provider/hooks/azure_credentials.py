"""Microsoft Entra ID credentials for Azure OpenAI that refresh: service principal (client secret or
certificate), managed identity and workload identity, from an ``ft_azure_openai`` connection.

azure-identity keeps its logic (MSAL's client-credentials grant, certificate assertions, IMDS and the
other managed-identity sources, the federated token file); every request it makes goes through the
transport's bounds (:mod:`airflow_ft_provider.hooks.azure_auth`), and its own retry policy never
sleeps past the exchange's deadline. :class:`AzureCredentialAuth` mints the token for
``https://cognitiveservices.azure.com/.default`` and mints another before it expires, once per
connection and process. azure-identity is an optional extra, imported only here and only when such
a connection is used, so parsing DAGs never pays for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_ft_provider.errors import (
    ConnectionConfigError,
)
from airflow_ft_provider.hooks import connection
from airflow_ft_provider.hooks.azure_auth import AzureCredentialAuth, azure_transport
from airflow_ft_provider.hooks.connection import config_error
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.process_cache import process_cache

if TYPE_CHECKING:
    from airflow.sdk import Connection

INSTALL_HINT = "pip install 'airflow-ft-provider[azure]'"
#: The auth types whose token azure-identity mints (and mints again before it expires).
MINTED = ("service_principal", "managed_identity", "workload_identity")
#: azure-identity's environment variables for workload identity (set by the AKS webhook).
_WORKLOAD_ENV = {
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "token_file_path": "AZURE_FEDERATED_TOKEN_FILE",
}


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
