"""What Google-shaped APIs' emulators share: google.rpc.Status error bodies (Vertex AI, the Gemini
API, Fireworks AI) and AIP-160 list filters (Vertex AI, Fireworks AI)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_ft_provider.testing.platforms._base import PlatformSpec, json_response
from airflow_ft_provider.testing.store import Job, JobView

__all__ = ["STATUS_NAMES", "aip160_filter", "duration", "filter_matches", "google_error"]

#: HTTP status -> canonical google.rpc.Code name.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}


def duration(seconds: float) -> str:
    """A google.protobuf.Duration in JSON form: ``"0.25s"``, ``"53s"``."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def google_error(
    status: int,
    message: str | None = None,
    retry_after: float | None = None,
    code: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """``{"error": {"code", "message", "status", "details"}}``; ``code`` overrides ``status``."""
    error: dict[str, Any] = {
        "code": status,
        "message": message or _DEFAULT_MESSAGES.get(status, "Error."),
        "status": code or STATUS_NAMES.get(status, "UNKNOWN"),
    }
    details = list(details or [])
    if retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": duration(retry_after)})
    if details:
        error["details"] = details
    return json_response({"error": error}, status, headers)


# -- list filters: a useful subset of AIP-160 -------------------------------------------
def aip160_filter(spec: PlatformSpec, request: Request) -> Callable[[JobView], bool] | None:
    """The list request's ``filter`` (``state="JOB_STATE_RUNNING"``, ``display_name=...``,
    ``labels.k=v``) as a predicate on the spec's jobs; None without one."""
    expr = request.query_params.get("filter", "").strip()
    if not expr:
        return None
    return lambda view: filter_matches(expr, spec.native_state(view), view.job)


_TERM = re.compile(r'^\s*(-|NOT\s+)?([\w.]+)\s*(!=|=|:)\s*("(?:[^"\\]|\\.)*"|\S+)\s*$')


def _term_matches(term: str, state: str, job: Job) -> bool:
    m = _TERM.match(term.strip().strip("()"))
    if m is None:
        return True  # unknown syntax: ignored, as the brief allows
    negate, field, op, raw = m.groups()
    value = raw[1:-1] if raw.startswith('"') else raw
    if field == "state":
        actual: str | None = state
    elif field.startswith("labels."):
        actual = job.labels.get(field[len("labels.") :])
        if op == ":" and value == "*":
            return (actual is not None) != bool(negate)
    elif field in ("tuned_model_display_name", "display_name"):
        actual = job.display_name
    else:
        return True
    hit = actual == value if op in ("=", ":") else actual != value
    return hit != bool(negate)


def filter_matches(expr: str, state: str, job: Job) -> bool:
    """Conjuncts split on AND, each a disjunction split on OR (AIP-160 precedence)."""
    for conjunct in re.split(r"\s+AND\s+", expr.strip()):
        alternatives = re.split(r"\s+OR\s+", conjunct.strip().strip("()"))
        if not any(_term_matches(alt, state, job) for alt in alternatives):
            return False
    return True
