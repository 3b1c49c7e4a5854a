"""What a platform module provides (:class:`PlatformSpec`), and the small wire helpers they share.

A platform's emulator is one module under ``testing/platforms/`` defining ``SPEC``, an
instance of a :class:`PlatformSpec` subclass. The subclass holds only what is the
platform's own (job JSON, error body, state table, id shape, auth rule, paging style and
its quirks); the routes every platform has (get, list, cancel, create) are served by
:mod:`._routes` from it, and the controller, admin API, CLI and ``airflow_connection``
ask it whatever differs between platforms.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Scope

from airflow_ft_provider.platforms.paging_base import Paging
from airflow_ft_provider.platforms.registry import Platform, record_for
from airflow_ft_provider.platforms.states import StateTable
from airflow_ft_provider.testing.store import Job, JobView, Phase

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore
    from airflow_ft_provider.testing.metering import Per
    from airflow_ft_provider.testing.platforms._routes import JobApi

Handler = Callable[[Request], Awaitable[Response]]
#: The standard operations :mod:`._routes` serves for a platform.
STANDARD_OPERATIONS = frozenset({"list", "get", "cancel", "create"})


class EmulatorLike(Protocol):
    """What building a connection needs: an in-process :class:`Emulator` or a ``RemoteEmulator``."""

    def platform_url(self, platform: Platform | str) -> str: ...
    def base_url(self, platform: Platform | str) -> str: ...
    def api_key(self, platform: Platform | str) -> str: ...
    def service_account_info(self, project_id: str) -> dict[str, str]: ...


class PlatformSpec(ABC):
    """One platform's wire format and quirks; subclass it once per platform module."""

    # -- identity and addresses -------------------------------------------------------------
    platform: ClassVar[Platform]
    #: The provider's connection type for this platform (``ft_openai``).
    conn_type: ClassVar[str]
    #: Appended to the platform's URL (``<emulator>/<platform>``, standing in for the vendor's host)
    #: to get what the provider's connection and most SDKs call the base URL (OpenAI's ``/v1``).
    base_path: ClassVar[str] = ""
    #: Vendor paths served here that are not the jobs API (an OAuth token endpoint): never metered,
    #: hit only by a fault that names them, their bodies never logged.
    auxiliary_paths: ClassVar[tuple[str, ...]] = ()
    #: How a client authenticates, in one line, for the CLI banner and the docs.
    auth_note: ClassVar[str] = "Authorization: Bearer <key>"

    # -- jobs ---------------------------------------------------------------------------------
    default_base_model: ClassVar[str]
    #: Where a job lives (``seed()`` keywords) and their defaults: Vertex AI's project and location.
    seed_fields: ClassVar[Mapping[str, str | None]] = {}

    # -- routes -------------------------------------------------------------------------------
    #: Job collections: list and create at each, a job at ``{collection}/{job_id}``.
    collections: ClassVar[tuple[str, ...]]
    #: Which standard operations the platform has (the Gemini API: no create).
    operations: ClassVar[frozenset[str]] = STANDARD_OPERATIONS
    #: Appended to a job's path to cancel it (``:cancel`` on Google platforms).
    cancel_suffix: ClassVar[str] = "/cancel"
    #: A second cancel while cancelling: accepted again (most) or refused like an ended job.
    repeat_cancel_refused: ClassVar[bool] = False
    #: The list endpoint's paging: the dialect's own object (``paging = OpenAIDialect.paging``).
    paging: ClassVar[Paging]

    # -- what every platform must say -------------------------------------------------------
    @abstractmethod
    def new_id(self, display_name: str, created: float) -> str:
        """A fresh native id for a job created at ``created`` (epoch seconds)."""

    @abstractmethod
    def error(
        self, status: int, message: str | None = None, retry_after: float | None = None, code: str | None = None
    ) -> Response:
        """The platform's error answer; ``retry_after`` is rendered as its own retry hint."""

    @abstractmethod
    def authorize(self, core: EmulatorCore, request: Request, action: str) -> Response | None:
        """None when the request's credentials may do ``action`` (``get``, ``list``...), else the refusal."""

    @abstractmethod
    def render(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        """The job's JSON as ``get`` returns it."""

    # -- defaults a platform may override ---------------------------------------------------
    def native_id(self, client_id: str) -> str:
        """Accept a resource name or a bare id."""
        return client_id.rstrip("/").rsplit("/", 1)[-1]

    def client_id(self, core: EmulatorCore, job: Job) -> str:
        """The id a client passes back (a full resource name on Google platforms)."""
        return job.native_id

    def native_state(self, view: JobView) -> str:
        """What a client reads: a pinned state, else the table's timeline at the job's phase."""
        return view.pinned or self.states.shown(view.phase, Phase(view.job.script.cancel_outcome))

    def respond(self, data: Any, status: int = 200) -> Response:
        """A success answer: plain JSON, or the platform's envelope and headers."""
        return json_response(data, status)

    def render_listed(self, core: EmulatorCore, view: JobView) -> dict[str, Any]:
        """A job as listings show it (Together: truncated)."""
        return self.render(core, view)

    def not_found(self, request: Request) -> Response:
        """The answer for a job id nobody can see."""
        return self.error(404)

    def scope(self, core: EmulatorCore, fields: Mapping[str, str | None]) -> tuple[dict[str, str], Hashable]:
        """A new job's :attr:`Job.scope` and partition, from its :attr:`seed_fields` values."""
        return {k: v for k, v in fields.items() if v is not None}, None

    def partitions(self, core: EmulatorCore, request: Request) -> tuple[Hashable, ...]:
        """The partitions whose jobs ``request`` can see (Vertex AI: the path's project and region)."""
        return (None,)

    def list_filter(self, request: Request) -> Callable[[JobView], bool] | None:
        """A predicate from the list request's filter parameters, if the platform has any."""
        return None

    def cancel_unavailable(self, core: EmulatorCore) -> Response | None:
        """The answer to every cancel when the platform has no cancel method, else None."""
        return None

    def cancel_answer(self, core: EmulatorCore, view: JobView) -> Any:
        """The body of an accepted cancel."""
        return {}

    def cancel_refused(self, view: JobView) -> Response:
        """The answer to a cancel of an ended job."""
        return self.error(400, f"Job {view.job.native_id} is {self.native_state(view)} and cannot be cancelled.")

    def create_fields(self, request: Request, body: dict[str, Any]) -> dict[str, Any] | Response:
        """``seed()`` keywords for a job created by ``body``, or the error answer."""
        raise NotImplementedError(f"{self.platform} has no create operation")

    def extra_routes(self, api: JobApi) -> list[BaseRoute]:
        """Routes beyond the standard operations (events, logs, pause, an OAuth endpoint)."""
        return []

    def root_routes(self, api: JobApi) -> list[BaseRoute]:
        """Auxiliary routes at the emulator's root instead of under the platform's prefix, for a
        service whose clients insist on a bare host (Microsoft Entra ID's authority)."""
        return []

    def credential(self, request: Request) -> str | None:
        """The key or token the request carries."""
        return bearer_token(request)

    def secret_fields(self, key: str) -> dict[str, Any]:
        """The connection fields that make ``key`` its one credential (an AWS platform: the access
        key's secret, beside the emulator's access key id)."""
        return {"password": key}

    def client_auth(self, key: str) -> httpx.Auth:
        """How a plain HTTP client (a test's) authenticates with ``key``: a bearer token by default."""
        return _BearerAuth(key)

    def bearer(self, core: EmulatorCore) -> str:
        """What a client holding the valid key sends as ``Authorization: Bearer``: the key itself, or
        where the platform exchanges keys for tokens (watsonx.ai's IAM), a token minted for it."""
        return core.api_key(self.platform)

    def quota_project(self, core: EmulatorCore, request: Request) -> str | None:
        """Which project a request's quota counts against, where the platform has projects."""
        return None

    def connection(
        self, emu: EmulatorLike, *, key: str | None, project: str, location: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """An Airflow connection (JSON form) for this platform on ``emu``; ``key`` replaces the valid one."""
        password = key if key is not None else emu.api_key(self.platform)
        return {"conn_type": self.conn_type, "host": emu.base_url(self.platform), "password": password, "extra": extra}

    # -- derived ------------------------------------------------------------------------------
    @property
    def states(self) -> StateTable:
        """The platform's state table, as its dialect declares it (never repeated here)."""
        return record_for(self.platform).dialect.states

    @property
    def terminal(self) -> frozenset[str]:
        """Native states in which a cancel is refused: the table's ended ones."""
        return self.states.ended

    @property
    def ended_cancel_answered(self) -> bool:
        """Whether a cancel of an ended job is answered as an accepted one is, with the job as it
        is, instead of :meth:`cancel_refused`: where the dialect's acknowledgement says the platform
        refuses that way (``Ack.ended_is_refusal``: Replicate)."""
        return record_for(self.platform).dialect.cancel_ack.ended_is_refusal

    def is_auxiliary(self, path: str) -> bool:
        return path in self.auxiliary_paths

    def quota_subject(self, core: EmulatorCore, request: Request, per: Per) -> str:
        """Who a request's quota belongs to; a key is kept only as a short fingerprint."""
        if per == "key":
            key = self.credential(request)
            return "key " + hashlib.sha256(key.encode()).hexdigest()[:12] if key else "no key"
        if per == "project":
            project = self.quota_project(core, request)
            return f"project {project}" if project else "the platform"
        return "the platform"


class _BearerAuth(httpx.Auth):
    def __init__(self, key: str) -> None:
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.key}"
        yield request


def vendor_path(scope: Scope) -> str:
    """The request's path as the vendor serves it: below the platform's prefix (Starlette's ``root_path``)."""
    path: str = scope["path"]
    return path.removeprefix(scope.get("root_path", ""))


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object body, or {} for an empty or non-object body."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def rfc3339(epoch: float) -> str:
    """Google's timestamp format, e.g. ``2024-10-29T08:53:53.123456Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso8601(epoch: float) -> str:
    """Together's format, e.g. ``2024-10-29T08:53:53.123Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CST = timezone(timedelta(hours=8))


def china_time(epoch: float) -> str:
    """DashScope's ``YYYY-MM-DD HH:MM:SS``: China Standard Time with no zone marker."""
    return datetime.fromtimestamp(epoch, _CST).strftime("%Y-%m-%d %H:%M:%S")


def random_id(n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    """Random characters for an id: unguessable is not needed, speed is (seeding 30,000 jobs)."""
    return "".join(random.choices(alphabet, k=n))


def int_param(request: Request, name: str, default: int) -> int | None:
    """An integer query parameter, or None when it is not an integer."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def openai_style_error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """The ``{"error": {message, type, param, code}}`` body OpenAI and Together share."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def retry_headers(retry_after: float | None) -> dict[str, str]:
    """``retry-after`` (whole seconds, per HTTP) and the precise ``retry-after-ms``."""
    if retry_after is None:
        return {}
    seconds = max(0, int(-(-retry_after // 1)))
    return {"retry-after": str(seconds), "retry-after-ms": str(max(0, round(retry_after * 1000)))}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
