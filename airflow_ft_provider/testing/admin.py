"""``/_emulator/...``: drive a running emulator over HTTP from another process.

The demo and users' DAGs run the emulator with ``python -m airflow_ft_provider.testing``
and seed jobs or inject faults from outside; :class:`RemoteEmulator` wraps these calls.
Never logged, never faulted, never rate limited, and unauthenticated: it only ever
listens on a test machine.
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
        "project",
        "location",
        "workspace",
        "native_state",
        "error_message",
        "extra",
        "job_id",
    }
)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


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
        try:
            return Platform(value)
        except ValueError:
            raise ValueError(f"unknown platform {value!r}") from None

    async def health(_: Request) -> Any:
        return {"status": "ok"}

    async def config(_: Request) -> Any:
        allowed = core.config.vertex_allowed_projects
        return {
            "url": core.url,
            "base_urls": {p.value: core.base_url(p) for p in Platform},
            "api_keys": {p.value: core.api_key(p) for p in Platform},
            "gemini_cancel_supported": core.config.gemini_cancel_supported,
            "vertex_allowed_projects": sorted(allowed) if allowed is not None else None,
            "latency": {str(k) if k else "default": v for k, v in core.latency.items()},
            "rate_limits": core.limiter.limits(),
        }

    async def seed(request: Request) -> Any:
        body = await _body(request)
        platform = platform_arg(body.get("platform"))
        unknown = set(body) - _SEED_KEYS - {"platform", "n", "script"}
        if unknown:
            raise ValueError(f"unknown seed fields: {sorted(unknown)}")
        kwargs = {k: v for k, v in body.items() if k in _SEED_KEYS}
        if body.get("script") is not None:
            kwargs["script"] = JobScript.from_dict(body["script"])
        if "n" in body:
            return {"job_ids": core.seed_many(platform, int(body["n"]), **kwargs)}
        return {"job_ids": [core.seed(platform, **kwargs)]}

    async def jobs(request: Request) -> Any:
        platform = request.query_params.get("platform")
        return {"jobs": core.jobs(platform_arg(platform) if platform else None)}

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
        core.set_native_state(platform_arg(body.get("platform")), str(body.get("job_id")), body.get("native_state"))
        return {"ok": True}

    async def add_fault(request: Request) -> Any:
        body = await _body(request)
        platform = platform_arg(body.pop("platform", None))
        core.inject(platform, Fault.from_dict(body.get("fault", body)))
        return {"ok": True}

    async def list_faults(request: Request) -> Any:
        platform = request.query_params.get("platform")
        pending = core.faults.pending(platform_arg(platform) if platform else None)
        return {"faults": [{"platform": p.value, "fault": f.to_dict(), "remaining": left} for p, f, left in pending]}

    async def clear_faults(request: Request) -> Any:
        platform = request.query_params.get("platform")
        core.clear_faults(platform_arg(platform) if platform else None)
        return {"ok": True}

    async def latency(request: Request) -> Any:
        body = await _body(request)
        platform = body.get("platform")
        core.set_latency(float(body.get("seconds", 0.0)), platform_arg(platform) if platform else None)
        return {"ok": True}

    async def rate_limit(request: Request) -> Any:
        body = await _body(request)
        per_second, burst = body.get("per_second"), body.get("burst")
        core.set_rate_limit(
            platform_arg(body.get("platform")),
            float(per_second) if per_second is not None else None,
            float(burst) if burst is not None else None,
        )
        return {"ok": True}

    async def requests(request: Request) -> Any:
        q = request.query_params
        platform, since = q.get("platform"), q.get("since")
        records = core.requests(platform_arg(platform) if platform else None, float(since) if since else None)
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

    table: list[tuple[str, str, Callable[[Request], Awaitable[Any]]]] = [
        ("GET", "/health", health),
        ("GET", "/config", config),
        ("POST", "/seed", seed),
        ("GET", "/jobs", jobs),
        ("GET", "/job", job),
        ("POST", "/job-state", pin),
        ("POST", "/faults", add_fault),
        ("GET", "/faults", list_faults),
        ("DELETE", "/faults", clear_faults),
        ("POST", "/latency", latency),
        ("POST", "/rate-limit", rate_limit),
        ("GET", "/requests", requests),
        ("DELETE", "/requests", clear_requests),
        ("POST", "/reset", reset),
        ("GET", "/service-account", service_account),
        ("GET", "/project-number", project_number),
    ]
    return Router(
        routes=[Route(f"/_emulator{path}", endpoint(fn), methods=[method]) for method, path, fn in table],
        redirect_slashes=False,
    )
