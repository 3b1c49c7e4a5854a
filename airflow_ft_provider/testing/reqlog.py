"""The request log: what each client actually sent, with its credentials redacted.

Tests assert on it ("exactly one cancel was sent", "no request after the 404"), and it
may end up in CI output, so keys and tokens never enter it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from airflow_ft_provider.platforms.registry import Platform

__all__ = ["REDACTED", "RequestLog", "RequestRecord", "redact_headers", "redact_query"]

REDACTED = "***"
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-goog-api-key", "x-api-key", "api-key"}
)
_SECRET_WORDS = ("key", "token", "secret", "password", "auth", "assertion", "signature")
_SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "access_token", "token", "assertion", "sig", "signature", "secret", "password"}
)


@dataclass(frozen=True)
class RequestRecord:
    """One request as received; ``status`` is None when the connection was dropped.

    ``path`` is the vendor's path, below the platform's prefix (``/v1/fine_tuning/jobs`` for a
    request to ``/openai/v1/fine_tuning/jobs``); a request under no platform keeps its whole path.

    ``auxiliary`` marks a request to a vendor path that is not the jobs API (a token endpoint: the
    spec's ``auxiliary_paths``). ``fault`` names what the emulator did instead of serving it (``status``, ``drop``,
    ``slow``, ``malformed``, or ``rate_limit`` when a quota refused it); ``throttle`` says
    which quota and whose budget, e.g. ``fixed_window 600/60s per project: project
    123456789012/us-central1 over quota``.
    """

    platform: Platform | None
    method: str
    path: str
    query: str
    status: int | None
    time: float
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    body: str | None = None
    throttle: str | None = None
    auxiliary: bool = False

    @property
    def is_cancel(self) -> bool:
        """A cancel request, on any platform (``.../cancel``, ``...:cancel``, Bedrock's ``.../stop``, an
        AWS JSON 1.1 ``X-Amz-Target: SageMaker.StopTrainingJob`` to ``/``, watsonx.ai's ``DELETE`` of the job)."""
        if self.method == "DELETE":
            return True
        if self.method != "POST":
            return False
        return self.path.rstrip("/").endswith(("cancel", "/stop")) or ".Stop" in self.headers.get("x-amz-target", "")

    @property
    def is_read(self) -> bool:
        """A request to a platform's jobs API that is no cancel: a ``GET`` on most platforms, an AWS
        JSON 1.1 ``POST /`` naming its operation in ``X-Amz-Target`` on SageMaker; never a token exchange."""
        return self.platform is not None and not self.auxiliary and not self.is_cancel

    def mentions(self, text: str) -> bool:
        """Whether the path or the logged body holds ``text`` (a job's id: AWS JSON 1.1 names the
        job in the body, ``{"TrainingJobName": ...}``, not in the path)."""
        return text in self.path or text in (self.body or "")

    @property
    def throttled(self) -> bool:
        """Refused by a quota or rate limit (not by an injected 429)."""
        return self.fault == "rate_limit"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestRecord:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if fields.get("platform") is not None:
            fields["platform"] = Platform(fields["platform"])
        return cls(**fields)


def redact_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased headers; credential values become ``***`` (keeping an auth scheme)."""
    out: dict[str, str] = {}
    for k, v in raw:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        if name in _SECRET_HEADERS or any(w in name for w in _SECRET_WORDS):
            scheme, sep, _ = value.partition(" ")
            value = f"{scheme} {REDACTED}" if sep and name.endswith("authorization") else REDACTED
        out[name] = value
    return out


def redact_query(query: str) -> str:
    """The query string with credential parameters (``key=``, ``access_token=``) redacted."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
        return query
    return urlencode([(k, REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")


class RequestLog:
    """Bounded, thread-safe list of :class:`RequestRecord`.

    A request is logged when its answer starts, stamped with the time it arrived (``clock``); one
    that arrived before the last :meth:`clear` and is answered after it (a slow answer, a client
    that gave up) belongs to the time before, and is not logged: a test that cleared the log never
    sees the previous test's stragglers.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, maxlen: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)
        self._cleared_at = -math.inf

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            if record.time >= self._cleared_at:
                self._records.append(record)

    def list(self, platform: Platform | None = None, since: float | None = None) -> list[RequestRecord]:
        with self._lock:
            records = list(self._records)
        return [
            r for r in records if (platform is None or r.platform == platform) and (since is None or r.time >= since)
        ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._cleared_at = self._clock()
