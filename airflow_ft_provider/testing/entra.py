"""A Microsoft Entra ID authority, enough for azure-identity and MSAL, and the tokens it issues.

Served with Entra ID's own paths at the emulator's root, not under a platform's prefix (MSAL takes
the tenant from the first path segment of its authority, so ``authority_host`` must be a bare host;
the requests count as Azure OpenAI's), so the real credential classes run in tests:
``GET /common/discovery/instance`` (instance discovery), ``GET /{tenant}/v2.0/.well-known/
openid-configuration`` (tenant discovery), ``POST /{tenant}/oauth2/v2.0/token`` (the client-credentials
grant, with a client secret, a certificate's signed assertion, or a federated token for workload
identity) and ``GET /metadata/identity/oauth2/token`` (IMDS, for managed identity). Tokens live
:attr:`EntraAuth.token_lifetime_s` (set it to seconds to test refreshing); Azure OpenAI refuses an
expired one with 401.

Microsoft's authorities are https only, and so are azure-identity and MSAL: the discovery documents
name ``https://<emulator host>``; the provider reaches a loopback ``authority_host=http://...`` by
plain http (see ``hooks/azure_credentials.py`` and ``hooks/azure_auth.py``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

__all__ = ["AZURE_OPENAI_SCOPE", "EntraAuth", "EntraError", "ServicePrincipal"]

AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default"
AZURE_OPENAI_RESOURCE = "https://cognitiveservices.azure.com"
CLIENT_CREDENTIALS = "client_credentials"
JWT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_TENANT = "00000000-0000-4000-8000-0000000000e1"
_TOKEN_PATH = re.compile(r"^/([A-Za-z0-9.-]+)/oauth2/v2\.0/token$")


class EntraError(Exception):
    """An OAuth 2 error answer (AADSTS code and description), with its HTTP status."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def body(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description}",
            "error_codes": [self.code],
            "timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


@dataclass
class ServicePrincipal:
    """An app registration in a tenant and what it may authenticate with."""

    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    #: The certificate and private key, PEM (what a connection's client_certificate holds).
    certificate_pem: str | None = field(default=None, repr=False)
    #: Federated tokens (workload identity) this app trusts, as the pod's token file holds them.
    federated_tokens: set[str] = field(default_factory=set, repr=False)
    _public: Any = field(default=None, repr=False)


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_CERT_KEY: rsa.RSAPrivateKey | None = None
_CERT_LOCK = threading.Lock()


def _certificate_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key per process (generating one takes up to a second)."""
    global _CERT_KEY
    with _CERT_LOCK:
        if _CERT_KEY is None:
            _CERT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _CERT_KEY


class EntraAuth:
    """Service principals, managed identities and the access tokens issued for them."""

    def __init__(self, token_lifetime_s: float = 3600.0) -> None:
        self._lock = threading.Lock()
        self.token_lifetime_s = self.default_lifetime_s = token_lifetime_s
        self._principals: dict[tuple[str, str], ServicePrincipal] = {}
        #: Managed identities of "this machine": client id -> object id (None: the system-assigned).
        self._identities: set[str | None] = {None}
        self._tokens: dict[str, float] = {}
        #: Tokens issued, per grant (client_secret, certificate, federated, managed_identity).
        self.issued: dict[str, int] = {}

    # -- what a test sets up ----------------------------------------------------------------
    def service_principal(
        self,
        tenant_id: str = DEFAULT_TENANT,
        client_id: str | None = None,
        *,
        certificate: bool = False,
        federated: bool = False,
    ) -> ServicePrincipal:
        """A new app registration: with a client secret, or a certificate, or a federated token."""
        client_id = client_id or str(uuid.uuid4())
        sp = ServicePrincipal(tenant_id, client_id)
        if certificate:
            key = _certificate_key()
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"emulator-{client_id}")])
            now = datetime.datetime.now(datetime.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .sign(key, hashes.SHA256())
            )
            sp.certificate_pem = (
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ).decode()
                + cert.public_bytes(serialization.Encoding.PEM).decode()
            )
            sp._public = key.public_key()
        elif federated:
            sp.federated_tokens.add(_fake_jwt({"sub": f"system:serviceaccount:default:{client_id}"}))
        else:
            sp.client_secret = "emu~" + secrets.token_urlsafe(30)
        with self._lock:
            self._principals[(tenant_id, client_id)] = sp
        return sp

    def managed_identity(self, client_id: str | None = None) -> str | None:
        """Give "this machine" a managed identity (None: the system-assigned one, always there)."""
        with self._lock:
            self._identities.add(client_id)
        return client_id

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- what the routes call ---------------------------------------------------------------
    def check(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and expires > time.time()

    def openid_configuration(self, origin: str, tenant: str) -> dict[str, Any]:
        base = f"{origin}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{origin}/{tenant}/v2.0",
            "jwks_uri": f"{origin}/{tenant}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }

    def instance_discovery(self, origin: str, authorize_endpoint: str) -> dict[str, Any]:
        host = origin.split("://", 1)[1]
        tenant = authorize_endpoint.split(host, 1)[-1].strip("/").split("/", 1)[0] or "common"
        return {
            "tenant_discovery_endpoint": f"{origin}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def grant(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint: the client-credentials grant in, an access token out."""
        m = _TOKEN_PATH.match(path)
        tenant = m.group(1) if m else ""
        if form.get("grant_type") != CLIENT_CREDENTIALS:
            raise EntraError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        scope = form.get("scope", "")
        if AZURE_OPENAI_SCOPE not in scope.split():
            raise EntraError(400, "invalid_scope", 1002012, f"The provided value for scope {scope[:80]} is not valid.")
        client_id = form.get("client_id", "")
        with self._lock:
            sp = self._principals.get((tenant, client_id))
        if sp is None:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id[:40]}' was not found in the directory '{tenant[:40]}'.",
            )
        assertion = form.get("client_assertion")
        if assertion is not None:
            if form.get("client_assertion_type") != JWT_ASSERTION:
                raise EntraError(400, "invalid_request", 90014, "client_assertion_type is missing or invalid.")
            if assertion in sp.federated_tokens:
                how = "federated"
            elif sp._public is not None and self._signed_by(assertion, sp._public):
                how = "certificate"
            else:
                raise EntraError(401, "invalid_client", 700027, "Client assertion failed signature validation.")
        elif sp.client_secret is not None and secrets.compare_digest(form.get("client_secret", ""), sp.client_secret):
            how = "client_secret"
        else:
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent "
                "in the request is the client secret value, not the client secret ID.",
            )
        return self._issue(how, ext_expires=True)

    def imds(self, params: dict[str, str], metadata_header: str | None) -> dict[str, Any]:
        """IMDS's token endpoint (managed identity)."""
        if (metadata_header or "").lower() != "true":
            raise EntraError(400, "invalid_request", 0, "Required metadata header not specified")
        if params.get("resource", "").rstrip("/") != AZURE_OPENAI_RESOURCE:
            raise EntraError(400, "invalid_resource", 500011, "The resource principal was not found.")
        client_id = params.get("client_id") or None
        with self._lock:
            known = client_id in self._identities
        if not known:
            raise EntraError(400, "invalid_request", 0, "Identity not found")
        issued = self._issue("managed_identity", ext_expires=False)
        now = int(time.time())
        return {
            **issued,
            "expires_in": str(issued["expires_in"]),
            "expires_on": str(now + int(issued["expires_in"])),
            "not_before": str(now),
            "resource": AZURE_OPENAI_RESOURCE,
            "client_id": client_id or "system-assigned",
        }

    # -- inside -------------------------------------------------------------------------------
    def _issue(self, how: str, *, ext_expires: bool) -> dict[str, Any]:
        token = _fake_jwt({"aud": AZURE_OPENAI_RESOURCE, "jti": secrets.token_hex(8)}) + "." + secrets.token_hex(4)
        lifetime = self.token_lifetime_s
        with self._lock:
            self._tokens[token] = time.time() + lifetime
            self.issued[how] = self.issued.get(how, 0) + 1
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": max(1, int(lifetime)), "access_token": token}
        if ext_expires:
            body["ext_expires_in"] = body["expires_in"]
        return body

    @staticmethod
    def _signed_by(assertion: str, public: rsa.RSAPublicKey) -> bool:
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return False
        signed = f"{head_b64}.{body_b64}".encode()
        alg = header.get("alg") if isinstance(header, dict) else None
        try:
            if alg == "RS256":
                public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            elif alg == "PS256":
                public.verify(
                    signature, signed, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256()
                )
            else:
                return False
        except InvalidSignature:
            return False
        return True


def _fake_jwt(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT (header.claims), opaque to clients as Entra ID's tokens are."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return part({"typ": "JWT", "alg": "none"}) + "." + part({**claims, "iat": int(time.time())})
