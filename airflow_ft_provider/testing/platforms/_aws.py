"""What the AWS platforms' emulators share (Bedrock, SageMaker): SigV4 checked for real, STS, regions.

Every request is SigV4-signed and the signature is recomputed over the request as received (from
AWS's specification, independently of botocore), with the spec's access key id and the platform's
emulator key as its secret. Jobs live in a region (``seed(region=...)``); a request sees the jobs of
the region its signature is scoped to. ``/sts`` answers STS AssumeRole (signed with the emulator's
key) with temporary credentials the platform's routes then accept. A spec words the refusals in its
protocol's error body (:meth:`AwsSpec.aws_error`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from abc import abstractmethod
from collections.abc import Generator, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, parse_qsl, quote
from xml.sax.saxutils import escape

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_ft_provider.testing.platforms._base import EmulatorLike, PlatformSpec, random_id

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
#: How far a request's X-Amz-Date may be from the emulator's clock (AWS allows 15 minutes).
MAX_SKEW_S = 15 * 60
#: Where STS AssumeRole is served (the ``sts_endpoint_url`` extra of a connection with ``role_arn``).
STS_PATH = "/sts"
#: Lifetime of the credentials AssumeRole hands out, unless the request asks for less.
ASSUMED_LIFETIME_S = 3600
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
AUTH_HEADER = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class Signed:
    """What a valid ``Authorization`` header said."""

    key_id: str
    region: str


class AwsSpec(PlatformSpec):
    """An AWS service's emulator: SigV4 auth, regions as partitions, STS AssumeRole."""

    #: The emulator's access key id; its secret access key is the platform's emulator key.
    access_key_id: ClassVar[str]
    #: SigV4's signing name the requests must be scoped to.
    signing_name: ClassVar[str]
    auxiliary_paths = (STS_PATH,)
    seed_fields = {"region": DEFAULT_REGION}

    def __init__(self) -> None:
        #: Temporary credentials handed out by AssumeRole: access key id -> (secret, token, expiry).
        self.issued: dict[str, tuple[str, str, float]] = {}

    @abstractmethod
    def aws_error(self, status: int, kind: str | None = None, message: str | None = None) -> Response:
        """The protocol's error answer of type ``kind`` (None: the status's usual one)."""

    def scope(self, core: EmulatorCore, fields: Mapping[str, str | None]) -> tuple[dict[str, str], Hashable]:
        region = str(fields.get("region") or DEFAULT_REGION)
        return {"region": region}, region

    def partitions(self, core: EmulatorCore, request: Request) -> tuple[Hashable, ...]:
        """The region the request's signature is scoped to (no signature: the default region)."""
        match = AUTH_HEADER.fullmatch(request.headers.get("authorization", "").strip())
        return (match["region"] if match else DEFAULT_REGION,)

    def credential(self, request: Request) -> str | None:
        match = AUTH_HEADER.fullmatch(request.headers.get("authorization", "").strip())
        return match["key"] if match else None

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        # Checked where the body is at hand: see :meth:`verified`.
        return None

    async def verified(self, core: EmulatorCore, request: Request) -> Response | None:
        """None if the request is signed by the emulator's key or by credentials STS issued, else the refusal."""
        if "authorization" not in request.headers:
            return self.aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        now = time.time()
        temporary = self.issued.get(self.credential(request) or "")
        if temporary is not None:
            _, token, expires = temporary
            if now >= expires:
                return self.aws_error(
                    403, "ExpiredTokenException", "The security token included in the request is expired"
                )
            if not hmac.compare_digest(request.headers.get("x-amz-security-token", "").encode(), token.encode()):
                return self.aws_error(
                    403, "UnrecognizedClientException", "The security token included in the request is invalid."
                )
        keys = {self.access_key_id: core.api_key(self.platform), **{k: v[0] for k, v in self.issued.items()}}
        signed = self.verify_sigv4(request, await request.body(), keys, now, self.signing_name)
        return signed if isinstance(signed, Response) else None

    def verify_sigv4(
        self, request: Request, body: bytes, keys: Mapping[str, str], now: float, service: str
    ) -> Signed | Response:
        """The signer, if ``request`` carries a valid SigV4 signature by a known key; else AWS's refusal.

        The signature is recomputed over the request as received (method, the raw path, the query,
        the signed headers, the body's hash) and compared in constant time.
        """
        error = self.aws_error
        match = AUTH_HEADER.fullmatch(request.headers.get("authorization", "").strip())
        if match is None:
            return error(403, "IncompleteSignatureException", "Authorization header requires a valid SigV4 signature.")
        secret = keys.get(match["key"])
        if secret is None:
            return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if match["service"] != service:
            return error(
                403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'."
            )
        stamp = request.headers.get("x-amz-date", "")
        signed_names = match["headers"].split(";")
        if "host" not in signed_names or "x-amz-date" not in signed_names or not stamp.startswith(match["date"]):
            return error(403, "IncompleteSignatureException", "The host and x-amz-date headers must be signed.")
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return error(403, "IncompleteSignatureException", f"Invalid X-Amz-Date {stamp[:40]!r}.")
        if abs(now - when) > MAX_SKEW_S:
            return error(403, "InvalidSignatureException", "Signature expired: the request time is too far from now.")
        if not hmac.compare_digest(_signature(request, body, match, secret), match["signature"]):
            return error(403, "InvalidSignatureException", _BAD_SIGNATURE)
        return Signed(match["key"], match["region"])

    async def assume_role(self, core: EmulatorCore, request: Request) -> Response:
        """STS AssumeRole (query protocol): temporary credentials for the role, as XML."""
        body = await request.body()
        signed = self.verify_sigv4(request, body, {self.access_key_id: core.api_key(self.platform)}, time.time(), "sts")
        if isinstance(signed, Response):
            return _sts_error(403, "SignatureDoesNotMatch" if signed.status_code == 403 else "InvalidClientTokenId")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        role, session = form.get("RoleArn", ""), form.get("RoleSessionName", "")
        if form.get("Action") != "AssumeRole" or not re.fullmatch(r"arn:aws:iam::[0-9]{12}:role/[\w+=,.@/-]+", role):
            return _sts_error(400, "ValidationError")
        lifetime = min(int(form.get("DurationSeconds", ASSUMED_LIFETIME_S)), ASSUMED_LIFETIME_S)
        key_id, secret, token = "ASIA" + random_id(16).upper(), secrets.token_urlsafe(30), secrets.token_urlsafe(60)
        expires = time.time() + lifetime
        self.issued[key_id] = (secret, token, expires)
        expiration = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        xml = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
            f"<SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROAEMULATOR:{escape(session)}</AssumedRoleId>"
            f"<Arn>{escape(role)}/{escape(session)}</Arn></AssumedRoleUser></AssumeRoleResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        )
        return Response(xml, 200, media_type="text/xml")

    def secret_fields(self, key: str) -> dict[str, Any]:
        return {"login": self.access_key_id, "password": key}

    def client_auth(self, key: str) -> httpx.Auth:
        """Requests signed with the emulator's access key and ``key`` as its secret, in the default region."""
        return SigV4Signer(self.access_key_id, key, self.signing_name, DEFAULT_REGION)

    def sts_route(self, api: JobApi) -> Route:
        async def sts(request: Request) -> Response:
            return await self.assume_role(api.core, request)

        return Route(STS_PATH, sts, methods=["POST"])

    def connection(
        self, emu: EmulatorLike, *, key: str | None, project: str, location: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """Signed with the emulator's access key; ``key`` replaces the secret (a wrong one is refused)."""
        secret = key if key is not None else emu.api_key(self.platform)
        return {
            "conn_type": self.conn_type,
            "host": emu.base_url(self.platform),
            "login": self.access_key_id,
            "password": secret,
            "extra": {"region_name": DEFAULT_REGION, **extra},
        }


class SigV4Signer(httpx.Auth):
    """A test client's SigV4 over the host, the date and the AWS headers it sends, computed as the
    emulator checks it (SDK and hook tests sign with botocore: those are the independent check)."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str, service: str, region: str) -> None:
        self.key_id, self.secret, self.service, self.region = key_id, secret, service, region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        request.headers["x-amz-date"] = stamp
        names = sorted(n for n in ("host", "content-type", "x-amz-date", "x-amz-target") if n in request.headers)
        scope = (stamp[:8], self.region, self.service)
        raw_path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
        body_hash = hashlib.sha256(request.content).hexdigest()
        signature = sigv4(request.method, raw_path, raw_query, request.headers, names, body_hash, scope, self.secret)
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.key_id}/{'/'.join(scope)}/aws4_request, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        yield request


def _signature(request: Request, body: bytes, match: re.Match[str], secret: str) -> str:
    """SigV4 of the request as received, computed from AWS's specification (not botocore's code,
    which signs on the client side: two implementations must agree)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path, _, raw_query = raw_path.decode("latin-1").partition("?")
    raw_query = raw_query or request.scope.get("query_string", b"").decode("latin-1")
    payload = request.headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    scope = (match["date"], match["region"], match["service"])
    return sigv4(request.method, path, raw_query, request.headers, match["headers"].split(";"), payload, scope, secret)


def sigv4(
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    names: list[str],
    payload: str,
    scope: tuple[str, str, str],
    secret: str,
) -> str:
    """The SigV4 signature of a request's parts, for ``scope`` (date, region, service)."""
    pairs = sorted((_aws_quote(k), _aws_quote(v)) for k, v in parse_qsl(raw_query, keep_blank_values=True))
    canonical_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
    canonical = "\n".join(
        [
            method.upper(),
            # Every segment encoded once more (all services but S3): '%3A' is signed as '%253A'.
            quote(path or "/", safe="/~"),
            "&".join(f"{k}={v}" for k, v in pairs),
            canonical_headers,
            ";".join(names),
            payload,
        ]
    )
    stamp = headers.get("x-amz-date", "")
    to_sign = (
        f"AWS4-HMAC-SHA256\n{stamp}\n{'/'.join(scope)}/aws4_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    key = f"AWS4{secret}".encode()
    for part in (*scope, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _aws_quote(text: str) -> str:
    return quote(text, safe="-_.~")


def _sts_error(status: int, code: str) -> Response:
    xml = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{code} (emulator)</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Response(xml, status, media_type="text/xml")
