"""A Google OAuth token endpoint and service-account keys, enough for google-auth.

google-auth signs a JWT with the key's private key and POSTs it to the key's
``token_uri``; pointing that at the emulator lets the real credential classes (and
their refresh logic) run in tests. Keys are generated here, so signatures are checked
for real and a forged or foreign key is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["JWT_BEARER", "GoogleAuth", "Grant"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME_S = 3600


@dataclass(frozen=True)
class Grant:
    """What a bearer token may touch: ``projects`` None means every project."""

    projects: frozenset[str] | None
    subject: str


@dataclass(frozen=True)
class _Key:
    key_id: str
    project_id: str
    email: str
    private_pem: str
    public: rsa.RSAPublicKey


class OAuthError(Exception):
    """An RFC 6749 error answer from the token endpoint."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_RSA_CACHE: dict[str, rsa.RSAPrivateKey] = {}
_RSA_LOCK = threading.Lock()


def _private_key(project_id: str) -> rsa.RSAPrivateKey:
    """One 2048-bit key per project per process: generating one takes up to a second."""
    with _RSA_LOCK:
        if project_id not in _RSA_CACHE:
            _RSA_CACHE[project_id] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _RSA_CACHE[project_id]


class GoogleAuth:
    """Service-account keys per project, and the access tokens issued for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}  # by key id
        self._by_project: dict[str, _Key] = {}
        self._tokens: dict[str, tuple[Grant, float]] = {}

    def service_account_info(self, project_id: str, token_uri: str) -> dict[str, str]:
        """A complete service-account JSON key for ``project_id`` (one key per project)."""
        key = self._key_for(project_id)
        client_id = str(int(key.key_id[:16], 16))
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key.key_id,
            "private_key": key.private_pem,
            "client_email": key.email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{key.email}",
            "universe_domain": "googleapis.com",
        }

    def _key_for(self, project_id: str) -> _Key:
        with self._lock:
            key = self._by_project.get(project_id)
            if key is not None:
                return key
        private = _private_key(project_id)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        key = _Key(
            key_id=secrets.token_hex(20),
            project_id=project_id,
            email=f"emulator-sa@{project_id}.iam.gserviceaccount.com",
            private_pem=pem,
            public=private.public_key(),
        )
        with self._lock:
            existing = self._by_project.setdefault(project_id, key)
            self._keys[existing.key_id] = existing
            return existing

    def verify_jwt(self, token: str) -> _Key:
        """Check an RS256 JWT signed by one of our keys; returns the key or raises OAuthError."""
        try:
            head_b64, body_b64, sig_b64 = token.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(body_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_grant", "Invalid JWT: malformed.") from exc
        if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT: only RS256 is supported.")
        with self._lock:
            key = self._keys.get(str(header.get("kid")))
            if key is None:
                key = next((k for k in self._keys.values() if k.email == claims.get("iss")), None)
        if key is None:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            key.public.verify(signature, f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
        if claims.get("iss") != key.email:
            raise OAuthError("invalid_grant", "Invalid JWT: iss does not match the key.")
        now = time.time()
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 60:
            raise OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token.")
        return key

    def grant_token(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint: a JWT-bearer grant in, an access token out."""
        if form.get("grant_type") != JWT_BEARER:
            raise OAuthError("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        key = self.verify_jwt(form.get("assertion", ""))
        token = "ya29.emulator-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (
                Grant(frozenset({key.project_id}), key.email),
                time.time() + TOKEN_LIFETIME_S,
            )
        return {"access_token": token, "expires_in": TOKEN_LIFETIME_S - 1, "token_type": "Bearer"}

    def check_bearer(self, token: str) -> Grant | None:
        """A token we issued (or a self-signed JWT from one of our keys), else None."""
        with self._lock:
            found = self._tokens.get(token)
        if found is not None:
            grant, expires = found
            return grant if expires > time.time() else None
        if token.count(".") == 2:
            try:
                key = self.verify_jwt(token)
            except OAuthError:
                return None
            return Grant(frozenset({key.project_id}), key.email)
        return None

    def reset_tokens(self) -> None:
        """Forget issued tokens (keys stay, so keys handed out earlier keep working)."""
        with self._lock:
            self._tokens.clear()
