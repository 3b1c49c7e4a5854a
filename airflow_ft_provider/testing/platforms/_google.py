"""google.rpc.Status error bodies, shared by Vertex AI and the Gemini API."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from airflow_ft_provider.testing.platforms._base import json_response

__all__ = ["STATUS_NAMES", "duration", "google_error"]

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
