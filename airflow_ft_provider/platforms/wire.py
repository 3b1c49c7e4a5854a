"""The request and response types dialects and the transport exchange."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_ft_provider.errors import MalformedResponseError

if TYPE_CHECKING:
    from airflow_ft_provider.jobs import TuningJob


class DuplicateKeyError(ValueError):
    """A JSON object names a key twice: which one a reader takes is a guess (Python's, the last)."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise DuplicateKeyError(f"key {key[:80]!r} appears twice in one object")
        data[key] = value
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(content: bytes) -> Any:
    """The one JSON reader of every answer: ``ValueError`` (or ``RecursionError``) unless it is
    JSON in UTF-8 (not Latin-1, not UTF-16 guessed from the bytes) without ``NaN`` and without a
    duplicate key (``"status":"running","status":"cancelled"`` would otherwise read as cancelled
    to us and as running to the platform)."""
    return json.loads(content.decode("utf-8"), object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)


class Operation(StrEnum):
    """What a request is for; dialects map the same HTTP status differently per operation."""

    GET = "get"
    LIST = "list"
    CANCEL = "cancel"


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, fully addressed, without credentials."""

    operation: Operation
    method: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The job the request is about, for error messages and to check the answer is about it.
    job_id: str | None = None


@dataclass(frozen=True)
class ApiResponse:
    """The parts of an HTTP response a dialect reads."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json_object(self, platform: str) -> dict[str, Any]:
        """The body as a JSON object, or :class:`MalformedResponseError`."""
        try:
            data = parse_json(self.content)
        except (ValueError, RecursionError) as exc:
            raise MalformedResponseError(
                f"Response body is not JSON ({len(self.content)} bytes): {exc}",
                platform=platform,
                status_code=self.status_code,
            ) from None
        if not isinstance(data, dict):
            raise MalformedResponseError(
                f"Expected a JSON object, got {type(data).__name__}",
                platform=platform,
                status_code=self.status_code,
            )
        return data


@dataclass(frozen=True)
class Page:
    """One page of a job listing; ``next_token`` is None on the last page."""

    jobs: list[TuningJob]
    next_token: str | None
    #: The tokens of all the pages after this one, when the platform numbers its pages and this
    #: answer says how many there are (DashScope's first page): a client may fetch them at once.
    later_tokens: tuple[str, ...] = ()
