"""``/_emulator/...``: drive a running emulator over HTTP from another process.

The demo and users' DAGs run the emulator with ``python -m airflow_ft_provider.testing``
and seed jobs or inject faults from outside; :class:`RemoteEmulator` wraps these calls.
Never logged, never faulted, never metered, and unauthenticated: it only ever listens
on a test machine. JSON in and out; bad input answers 400 and an unknown job 404, both
as ``{"error": "..."}``. ``platform`` is ``vertex_ai``, ``gemini``, ``dashscope``,
``together`` or ``openai`` (any emulated platform).

=======  ===================  ==============================================================
GET      /_emulator/          this index: every endpoint with a one-line description
GET      /_emulator/health    ``{"status": "ok"}`` once serving
GET      /_emulator/config    URL, base URL and key per platform, latency, quotas, knobs
POST     /_emulator/seed      add jobs: ``{"platform", "n"?, "script"?, "display_name"?,
                              "base_model"?, "labels"?, "created_ago_s"?, "native_state"?,
                              "undocumented"?, "error_message"?, "extra"?, "job_id"?, scope
                              fields such as
                              "project", "location", "workspace"}``; with ``n`` also
                              ``"created_over_s"``, ``"end_in_s"``, ``"end_spread_s"``.
                              Answers ``{"job_ids": [...]}`` (oldest first)
GET      /_emulator/jobs      every job (``?platform=`` one platform's): id, phase, state
GET      /_emulator/job       one job's phase and native state (``?platform=&job_id=``)
POST     /_emulator/job-state pin a job's reported state: ``{"platform", "job_id",
                              "native_state", "undocumented"?}`` (null resumes its script);
                              a state the platform's table lacks is refused (400, naming
                              the known ones) unless ``"undocumented": true``
POST     /_emulator/faults    queue a fault: ``{"platform", "fault": {"kind": "status" |
                              "drop" | "slow" | "malformed", "status"?, "retry_after"?,
                              "error_code"?, "count"?, "path"?, "method"?, "delay"?,
                              "after"?}}`` (the fault's fields may also sit at the top)
GET      /_emulator/faults    pending faults (``?platform=``), with how many uses remain
DELETE   /_emulator/faults    drop pending faults (``?platform=`` one platform's)
POST     /_emulator/latency   delay every answer: ``{"seconds", "platform"?}``
POST     /_emulator/rate-limit  token bucket: ``{"platform", "per_second", "burst"?,
                              "per"?, "hint"?}`` (``per_second`` null lifts it)
POST     /_emulator/quota     request quota: ``{"platform", "limit", "window_s"?,
                              "per"?: "project" | "key" | "platform", "sliding"?,
                              "hint"?: "seconds" | "exact" | "none"}`` (``limit`` null lifts it)
GET      /_emulator/requests  the request log (``?platform=&since=``), credentials redacted
DELETE   /_emulator/requests  empty the request log
POST     /_emulator/reset     forget jobs, faults, quotas, latency and the log
GET      /_emulator/service-account  a service-account key (``?project_id=``) for Vertex AI
GET      /_emulator/project-number   the number Vertex AI shows for ``?project=``
=======  ===================  ==============================================================

See :mod:`~airflow_ft_provider.testing.metering` for the quota modes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.faults import Fault
from airflow_ft_provider.testing.platforms import SPECS, seed_field_names
from airflow_ft_provider.testing.store import JobScript

if TYPE_CHECKING:
    from airflow_ft_provider.testing.core import EmulatorCore

__all__ = ["admin_router"]

_SEED_KEYS = frozenset(
    {
        "display_name",
        "base_model",
        "labels",
        "created_ago_s",
        "native_state",
        "undocumented",
        "error_message",
        "extra",
        "job_id",
    }
)
#: Only for many jobs at once (``n``).
_MANY_KEYS = frozenset({"created_over_s", "end_in_s", "end_spread_s"})
_QUOTA_KEYS = frozenset({"platform", "limit", "window_s", "per", "sliding", "hint"})
_RATE_KEYS = frozenset({"platform", "per_second", "burst", "per", "hint"})


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _only(body: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown {what} fields: {sorted(unknown)}; allowed: {sorted(allowed)}")


def admin_router(core: EmulatorCore) -> ASGIApp:
    def endpoint(fn: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        """JSON in, JSON out; bad input is a 400 and an unknown job a 404."""

        async def wrapped(request: Request) -> Response:
            try:
                result = await fn(request)
            except KeyError as exc:
                return _json({"error": str(exc.args[0] if exc.args else exc)}, 404)
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)
            return result if isinstance(result, Response) else _json(result)

        return wrapped

    def platform_arg(value: Any) -> Platform:
        return core.spec(str(value)).platform

    def optional_platform(value: str | None) -> Platform | None:
        return platform_arg(value) if value else None

    async def index(_: Request) -> Any:
        return {
            "endpoints": [{"method": m, "path": f"/_emulator{p}", "description": d} for m, p, _f, d in table],
            "platforms": {p.value: core.base_url(p) for p in SPECS},
        }

    async def health(_: Request) -> Any:
        return {"status": "ok"}

    async def config(_: Request) -> Any:
        allowed = core.config.vertex_allowed_projects
        return {
            "url": core.url,
            "platform_urls": {p.value: core.platform_url(p) for p in SPECS},
            "base_urls": {p.value: core.base_url(p) for p in SPECS},
            "api_keys": {p.value: core.api_key(p) for p in SPECS},
            "gemini_cancel_supported": core.config.gemini_cancel_supported,
            "vertex_allowed_projects": sorted(allowed) if allowed is not None else None,
            "latency": {str(k) if k else "default": v for k, v in core.latency.items()},
            "rate_limits": core.limiter.limits(),
        }

    async def seed(request: Request) -> Any:
        body = await _body(request)
        platform = platform_arg(body.get("platform"))
        many = "n" in body
        _only(
            body,
            _SEED_KEYS | seed_field_names() | {"platform", "n", "script"} | (_MANY_KEYS if many else set()),
            "seed",
        )
        kwargs = {k: v for k, v in body.items() if k not in ("platform", "n", "script")}
        if body.get("script") is not None:
            kwargs["script"] = JobScript.from_dict(body["script"])
        if many:
            return {"job_ids": core.seed_many(platform, int(body["n"]), **kwargs)}
        return {"job_ids": [core.seed(platform, **kwargs)]}

    async def jobs(request: Request) -> Any:
        return {"jobs": core.jobs(optional_platform(request.query_params.get("platform")))}

    async def job(request: Request) -> Any:
        q = request.query_params
        platform, job_id = platform_arg(q.get("platform")), q.get("job_id", "")
        return {
            "platform": platform.value,
            "job_id": job_id,
            "phase": core.job_phase(platform, job_id),
            "native_state": core.job_state(platform, job_id),
        }

    async def pin(request: Request) -> Any:
        body = await _body(request)
        core.set_native_state(
            platform_arg(body.get("platform")),
            str(body.get("job_id")),
            body.get("native_state"),
            undocumented=body.get("undocumented") is True,
        )
        return {"ok": True}

    async def add_fault(request: Request) -> Any:
        body = await _body(request)
        platform = platform_arg(body.pop("platform", None))
        core.inject(platform, Fault.from_dict(body.get("fault", body)))
        return {"ok": True}

    async def list_faults(request: Request) -> Any:
        pending = core.faults.pending(optional_platform(request.query_params.get("platform")))
        return {"faults": [{"platform": p.value, "fault": f.to_dict(), "remaining": left} for p, f, left in pending]}

    async def clear_faults(request: Request) -> Any:
        core.clear_faults(optional_platform(request.query_params.get("platform")))
        return {"ok": True}

    async def latency(request: Request) -> Any:
        body = await _body(request)
        core.set_latency(float(body.get("seconds", 0.0)), optional_platform(body.get("platform")))
        return {"ok": True}

    async def rate_limit(request: Request) -> Any:
        body = await _body(request)
        _only(body, _RATE_KEYS, "rate-limit")
        per_second, burst = body.get("per_second"), body.get("burst")
        core.set_rate_limit(
            platform_arg(body.get("platform")),
            float(per_second) if per_second is not None else None,
            float(burst) if burst is not None else None,
            per=body.get("per", "platform"),
            hint=body.get("hint", "exact"),
        )
        return {"ok": True}

    async def quota(request: Request) -> Any:
        body = await _body(request)
        _only(body, _QUOTA_KEYS, "quota")
        if "limit" not in body:
            raise ValueError("quota needs a limit (requests per window; null lifts the quota)")
        limit = body["limit"]
        core.set_quota(
            platform_arg(body.get("platform")),
            int(limit) if limit is not None else None,
            window_s=float(body.get("window_s", 60.0)),
            per=body.get("per", "project"),
            sliding=bool(body.get("sliding", False)),
            hint=body.get("hint", "seconds"),
        )
        return {"ok": True}

    async def requests(request: Request) -> Any:
        q = request.query_params
        since = q.get("since")
        records = core.requests(optional_platform(q.get("platform")), float(since) if since else None)
        return {"requests": [r.to_dict() for r in records]}

    async def clear_requests(_: Request) -> Any:
        core.clear_requests()
        return {"ok": True}

    async def reset(_: Request) -> Any:
        core.reset()
        return {"ok": True}

    async def service_account(request: Request) -> Any:
        project_id = request.query_params.get("project_id")
        if not project_id:
            raise ValueError("project_id is required")
        return core.service_account_info(project_id)

    async def project_number(request: Request) -> Any:
        project = request.query_params.get("project")
        if not project:
            raise ValueError("project is required")
        return {"project": project, "number": core.project_number(project)}

    table: list[tuple[str, str, Callable[[Request], Awaitable[Any]], str]] = [
        ("GET", "/", index, "this index"),
        ("GET", "/health", health, "liveness: {'status': 'ok'}"),
        ("GET", "/config", config, "URL, base URL and key per platform, latency, quotas"),
        ("POST", "/seed", seed, "add one job, or n jobs at once"),
        ("GET", "/jobs", jobs, "every job (?platform=): id, phase, native state"),
        ("GET", "/job", job, "one job's phase and native state (?platform=&job_id=)"),
        ("POST", "/job-state", pin, "pin a job's reported native state (null resumes its script)"),
        ("POST", "/faults", add_fault, "queue a fault for the next matching requests"),
        ("GET", "/faults", list_faults, "pending faults (?platform=)"),
        ("DELETE", "/faults", clear_faults, "drop pending faults (?platform=)"),
        ("POST", "/latency", latency, "delay every answer (per platform or the default)"),
        ("POST", "/rate-limit", rate_limit, "token bucket per platform, project or key"),
        ("POST", "/quota", quota, "requests per window (fixed or sliding) per project, key or platform"),
        ("GET", "/requests", requests, "the request log (?platform=&since=), credentials redacted"),
        ("DELETE", "/requests", clear_requests, "empty the request log"),
        ("POST", "/reset", reset, "forget jobs, faults, quotas, latency and the log"),
        ("GET", "/service-account", service_account, "a Vertex AI service-account key (?project_id=)"),
        ("GET", "/project-number", project_number, "the number Vertex AI shows for a project (?project=)"),
    ]
    routes = [Route(f"/_emulator{path}", endpoint(fn), methods=[method]) for method, path, fn, _ in table]
    routes.append(Route("/_emulator", endpoint(index), methods=["GET"]))
    return Router(routes=routes, redirect_slashes=False)
