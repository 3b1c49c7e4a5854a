"""Amazon Bedrock model customization jobs under ``/model-customization-jobs`` (rest-json).

Faithful points: every request is SigV4-signed (service ``bedrock``) and the signature is
recomputed over the request as received (from AWS's specification, independently of botocore),
with the emulator's access key (:data:`ACCESS_KEY_ID`, secret: the platform's emulator key); a Bedrock API key
(``Authorization: Bearer``) works too. Jobs are named by ARN or name, the ARN percent-encoded as
one path segment; stop answers 200 with an empty body and ``ConflictException`` (400) for a job
no longer in progress; errors carry their type in ``x-amzn-ErrorType`` and ``{"message"}``;
listings page on ``maxResults``/``nextToken`` and filter on ``statusEquals``,
``creationTimeAfter``/``Before`` and ``nameContains``. Jobs live in a region (``seed(region=...)``);
a request sees the jobs of the region its signature is scoped to. ``/sts`` answers STS AssumeRole
(signed with the emulator's key) with temporary credentials the Bedrock routes then accept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, quote
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_ft_provider.platforms.bedrock import BedrockDialect
from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms._base import (
    EmulatorLike,
    PlatformSpec,
    bearer_token,
    iso8601,
    json_response,
    random_id,
)
from airflow_ft_provider.testing.platforms._paging import list_answer
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.platforms._routes import JobApi

#: The emulator's access key id; its secret access key is the platform's emulator key.
ACCESS_KEY_ID = "AKIAEMULATORBEDROCK0"
ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
#: How far a request's X-Amz-Date may be from the emulator's clock (AWS allows 15 minutes).
MAX_SKEW_S = 15 * 60
COLLECTION = "/model-customization-jobs"
#: ``SortOrder`` of botocore's bedrock service model (2023-04-20).
SORT_ORDERS = ("Ascending", "Descending")
#: Where STS AssumeRole is served (the ``sts_endpoint_url`` extra of a connection with ``role_arn``).
STS_PATH = "/sts"
#: Lifetime of the credentials AssumeRole hands out, unless the request asks for less.
ASSUMED_LIFETIME_S = 3600
_ERRORS = {
    400: ("ValidationException", "Input validation failed."),
    401: ("UnrecognizedClientException", "The security token included in the request is invalid."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "The specified resource was not found."),
    409: ("ConflictException", "The request conflicts with the resource's current state."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "An internal server error occurred. Retry your request."),
    503: ("ServiceUnavailableException", "The service isn't currently available. Retry your request."),
}
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
_AUTH_HEADER = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:([a-z0-9-]+):([0-9]{12}):model-customization-job/(.+)/([a-z0-9]{12})")
_MODEL_ID = re.compile(r"[a-z0-9-]{1,63}[.][a-z0-9.-]{1,126}(?::[a-z0-9-]{1,63}){0,2}")


def error(status: int, kind: str | None = None, message: str | None = None) -> Response:
    """An AWS rest-json error: the type in ``x-amzn-ErrorType`` (with Coral's namespace), ``{"message"}``."""
    default_kind, default_message = _ERRORS.get(
        status, ("InternalServerException" if status >= 500 else "ValidationException", "Error.")
    )
    kind = kind or default_kind
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
    }
    return json_response({"message": message or default_message}, status, headers)


def arn(job: Job) -> str:
    model = job.base_model if _MODEL_ID.fullmatch(job.base_model) else BedrockSpec.default_base_model
    return f"arn:aws:bedrock:{job.scope['region']}:{ACCOUNT}:model-customization-job/{model}/{job.native_id}"


def render(view: JobView, state: str) -> dict[str, Any]:
    job = view.job
    region = job.scope["region"]
    out: dict[str, Any] = {
        "jobArn": arn(job),
        "jobName": job.display_name,
        "outputModelName": f"{job.display_name}-model",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/BedrockCustomization",
        "status": state,
        "creationTime": iso8601(view.created_at),
        "lastModifiedTime": iso8601(view.updated_at),
        "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{job.base_model.split(':')[0]}",
        "hyperParameters": {"epochCount": "2", "batchSize": "1", "learningRate": "0.00001"},
        "trainingDataConfig": {"s3Uri": "s3://emulator-bucket/train.jsonl"},
        "validationDataConfig": {"validators": []},
        "outputDataConfig": {"s3Uri": "s3://emulator-bucket/output/"},
        "customizationType": "FINE_TUNING",
    }
    if view.ended_at is not None:
        out["endTime"] = iso8601(view.ended_at)
    if state == "Completed":
        out["outputModelArn"] = f"arn:aws:bedrock:{region}:{ACCOUNT}:custom-model/{job.base_model}/{job.native_id}"
    if view.phase is Phase.FAILED:
        out["failureMessage"] = job.error_message or "The job failed: training data validation error."
    out.update(job.extra)
    return out


def summary(full: dict[str, Any]) -> dict[str, Any]:
    """A listing's ``ModelCustomizationJobSummary`` of a job's full record."""
    keys = ("jobArn", "baseModelArn", "jobName", "status", "lastModifiedTime", "creationTime", "endTime")
    out = {k: full[k] for k in keys if k in full}
    if "outputModelArn" in full:
        out["customModelArn"] = full["outputModelArn"]
        out["customModelName"] = full["outputModelName"]
    out["customizationType"] = full["customizationType"]
    return out


@dataclass(frozen=True)
class Signed:
    """What a valid ``Authorization`` header said."""

    key_id: str
    region: str


def verify_sigv4(
    request: Request, body: bytes, keys: Mapping[str, str], now: float, service: str = "bedrock"
) -> Signed | Response:
    """The signer, if ``request`` carries a valid SigV4 signature by a known key; else AWS's refusal.

    The signature is recomputed over the request as received (method, the raw path, the query,
    the signed headers, the body's hash) and compared in constant time.
    """
    match = _AUTH_HEADER.fullmatch(request.headers.get("authorization", "").strip())
    if match is None:
        return error(403, "IncompleteSignatureException", "Authorization header requires a valid SigV4 signature.")
    secret = keys.get(match["key"])
    if secret is None:
        return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if match["service"] != service:
        return error(403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
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


def _signature(request: Request, body: bytes, match: re.Match[str], secret: str) -> str:
    """SigV4 of the request as received, computed from AWS's specification (not botocore's code,
    which signs on the client side: two implementations must agree)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path, _, raw_query = raw_path.decode("latin-1").partition("?")
    raw_query = raw_query or request.scope.get("query_string", b"").decode("latin-1")
    pairs = sorted((_aws_quote(k), _aws_quote(v)) for k, v in parse_qsl(raw_query, keep_blank_values=True))
    names = match["headers"].split(";")
    canonical_headers = "".join(f"{n}:{' '.join(request.headers.get(n, '').split())}\n" for n in names)
    payload = request.headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join(
        [
            request.method.upper(),
            # Every segment encoded once more (all services but S3): '%3A' is signed as '%253A'.
            quote(path or "/", safe="/~"),
            "&".join(f"{k}={v}" for k, v in pairs),
            canonical_headers,
            match["headers"],
            payload,
        ]
    )
    scope = f"{match['date']}/{match['region']}/{match['service']}/aws4_request"
    stamp = request.headers.get("x-amz-date", "")
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret}".encode()
    for part in (match["date"], match["region"], match["service"], "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _aws_quote(text: str) -> str:
    return quote(text, safe="-_.~")


async def _listing(api: JobApi, request: Request) -> Response:
    """One page of ListModelCustomizationJobs, after its sort order and filters are checked."""
    q = request.query_params
    # botocore's service model: sortBy is CreationTime only, sortOrder Ascending or Descending.
    order = q.get("sortOrder", "Descending")
    if order not in SORT_ORDERS or q.get("sortBy", "CreationTime") != "CreationTime":
        return error(
            400,
            message="1 validation error detected: sortBy must be CreationTime and sortOrder Ascending or Descending.",
        )
    where = _list_filter(api.spec, request)
    if isinstance(where, Response):
        return where
    return await list_answer(api, request, where, oldest_first=order == "Ascending")


def _list_filter(spec: PlatformSpec, request: Request) -> Callable[[JobView], bool] | Response | None:
    q = request.query_params
    status, contains = q.get("statusEquals"), q.get("nameContains")
    if status is not None and status not in spec.states:
        return error(400, message=f"1 validation error detected: statusEquals {status[:40]!r} is not valid.")
    bounds: list[float | None] = []
    for name in ("creationTimeAfter", "creationTimeBefore"):
        raw = q.get(name, "")
        try:
            bounds.append(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() if raw else None)
        except ValueError:
            return error(400, message=f"1 validation error detected: {name} {raw[:40]!r} is not a timestamp.")
    after, before = bounds
    if status is None and contains is None and after is None and before is None:
        return None

    def matches(view: JobView) -> bool:
        created = view.created_at
        return (
            (status is None or spec.native_state(view) == status)
            and (after is None or created > after)
            and (before is None or created < before)
            and (contains is None or contains.lower() in view.job.display_name.lower())
        )

    return matches


class BedrockSpec(PlatformSpec):
    platform = Platform("bedrock")
    conn_type = "ft_bedrock"
    auxiliary_paths = (STS_PATH,)
    auth_note = f"SigV4 (service bedrock) with access key {ACCESS_KEY_ID} and the key as its secret, or Bearer <key>"
    default_base_model = "amazon.titan-text-express-v1:0:8k"
    seed_fields = {"region": DEFAULT_REGION}
    collections = (COLLECTION,)
    # Served by :meth:`extra_routes`: an ARN holds "/" once decoded, and auth needs the body.
    operations = frozenset[str]()
    repeat_cancel_refused = True
    paging = BedrockDialect.paging

    def __init__(self) -> None:
        #: Temporary credentials handed out by AssumeRole: access key id -> (secret, token, expiry).
        self.issued: dict[str, tuple[str, str, float]] = {}

    def new_id(self, display_name: str, created: float) -> str:
        return random_id(12)

    def native_id(self, client_id: str) -> str:
        """An ARN's last segment; a name is a name (see :meth:`find`)."""
        match = _ARN.fullmatch(client_id)
        return match.group(4) if match else client_id

    def client_id(self, core: EmulatorCore, job: Job) -> str:
        return arn(job)

    def scope(self, core: EmulatorCore, fields: Mapping[str, str | None]) -> tuple[dict[str, str], Hashable]:
        region = str(fields.get("region") or DEFAULT_REGION)
        return {"region": region}, region

    def partitions(self, core: EmulatorCore, request: Request) -> tuple[Hashable, ...]:
        """The region the request's signature is scoped to (a Bedrock API key: the default region)."""
        match = _AUTH_HEADER.fullmatch(request.headers.get("authorization", "").strip())
        return (match["region"] if match else DEFAULT_REGION,)

    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        # No retry hint: Bedrock documents none (botocore backs off on its own).
        return error(status, code, message)

    def respond(self, data: Any, status: int = 200) -> Response:
        return json_response(data, status, {"x-amzn-RequestId": str(uuid.uuid4())})

    def credential(self, request: Request) -> str | None:
        match = _AUTH_HEADER.fullmatch(request.headers.get("authorization", "").strip())
        return match["key"] if match else bearer_token(request)

    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        # Checked where the body is at hand: see :meth:`verified`.
        return None

    async def verified(self, core: EmulatorCore, request: Request) -> Response | None:
        """None if the request is signed (or carries the Bedrock API key), else the refusal."""
        token = bearer_token(request)
        if token is not None:
            ok = hmac.compare_digest(token.encode(), core.api_key(self.platform).encode())
            return None if ok else error(403, "UnrecognizedClientException", "Invalid API key.")
        if "authorization" not in request.headers:
            return error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        now = time.time()
        temporary = self.issued.get(_key_id(request))
        if temporary is not None:
            _, token, expires = temporary
            if now >= expires:
                return error(403, "ExpiredTokenException", "The security token included in the request is expired")
            if not hmac.compare_digest(request.headers.get("x-amz-security-token", "").encode(), token.encode()):
                return error(
                    403, "UnrecognizedClientException", "The security token included in the request is invalid."
                )
        keys = {ACCESS_KEY_ID: core.api_key(self.platform), **{k: v[0] for k, v in self.issued.items()}}
        signed = verify_sigv4(request, await request.body(), keys, now)
        return signed if isinstance(signed, Response) else None

    async def assume_role(self, core: EmulatorCore, request: Request) -> Response:
        """STS AssumeRole (query protocol): temporary credentials for the role, as XML."""
        body = await request.body()
        signed = verify_sigv4(request, body, {ACCESS_KEY_ID: core.api_key(self.platform)}, time.time(), "sts")
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

    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return render(view, self.native_state(view))

    def render_listed(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        return summary(self.render(core, view))

    def not_found(self, request: Request) -> Response:
        return error(404, message=f"Model customization job {request.path_params.get('job_id', '')[:200]} not found.")

    def cancel_refused(self, view: JobView) -> Response:
        return error(
            400, "ConflictException", f"Job is in {self.native_state(view)} state; only InProgress jobs can be stopped."
        )

    def connection(
        self, emu: EmulatorLike, *, key: str | None, project: str, location: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """Signed with the emulator's access key; ``key`` replaces the secret (a wrong one is refused)."""
        secret = key if key is not None else emu.api_key(self.platform)
        return {
            "conn_type": self.conn_type,
            "host": emu.base_url(self.platform),
            "login": ACCESS_KEY_ID,
            "password": secret,
            "extra": {"region_name": DEFAULT_REGION, **extra},
        }

    def find(self, api: JobApi, request: Request, job_id: str) -> Job | None:
        """The job an ARN or a name names, among those the request can see."""
        match = _ARN.fullmatch(job_id)
        if match is not None:
            job = api.core.store.get(self.platform, match.group(4))
            ok = job is not None and job.partition in api.partitions(request) and arn(job) == job_id
            return job if ok else None
        views, _ = api.page(request, limit=1, where=lambda v: v.job.display_name == job_id)
        return views[0].job if views else None

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        """Get and stop, on ``{job_id:path}``: a job ARN decodes to several path segments."""
        core = api.core

        async def get(request: Request) -> Response:
            refused = await self.verified(core, request)
            if refused is not None:
                return refused
            job = self.find(api, request, request.path_params["job_id"])
            return self.not_found(request) if job is None else self.respond(self.render(core, api.view(job)))

        async def stop(request: Request) -> Response:
            refused = await self.verified(core, request)
            if refused is not None:
                return refused
            job = self.find(api, request, request.path_params["job_id"])
            if job is None:
                return self.not_found(request)
            result, view = core.store.cancel(job, self.native_state, self.terminal)
            if result != "accepted":
                return self.cancel_refused(view)
            return Response(b"", 200, {"x-amzn-RequestId": str(uuid.uuid4()), "content-type": "application/json"})

        async def listing(request: Request) -> Response:
            refused = await self.verified(core, request)
            return refused or await _listing(api, request)

        async def sts(request: Request) -> Response:
            return await self.assume_role(core, request)

        return [
            Route(STS_PATH, sts, methods=["POST"]),
            Route(COLLECTION, listing, methods=["GET"]),
            Route(COLLECTION + "/{job_id:path}/stop", stop, methods=["POST"]),
            Route(COLLECTION + "/{job_id:path}", get, methods=["GET"]),
        ]


def _key_id(request: Request) -> str:
    match = _AUTH_HEADER.fullmatch(request.headers.get("authorization", "").strip())
    return match["key"] if match else ""


def _sts_error(status: int, code: str) -> Response:
    xml = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{code} (emulator)</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Response(xml, status, media_type="text/xml")


SPEC = BedrockSpec()
