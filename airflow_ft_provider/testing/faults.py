"""Fault injection and rate limiting: what makes an emulator worth testing against.

Faults are queued per platform and consumed by the next matching requests, so a test
can say "the next two cancels get a 429" and then check the client retried exactly so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from airflow_ft_provider.platforms.registry import Platform

__all__ = ["Fault", "FaultBook", "RateLimiter"]

FaultKind = Literal["status", "drop", "slow", "malformed"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for the next ``count`` matching requests (None: forever).

    ``path`` matches as a substring of the request path and ``method`` exactly; both
    unset means every API request of the platform (the OAuth ``/token`` endpoint is
    only hit by a fault whose ``path`` names it).
    """

    kind: FaultKind
    count: int | None = 1
    path: str | None = None
    method: str | None = None
    http_status: int = 0
    #: Seconds, rendered as the platform's own hint (RetryInfo, retry-after headers).
    retry_after: float | None = None
    #: Overrides the platform's error code, e.g. OpenAI ``"insufficient_quota"``.
    error_code: str | None = None
    #: ``slow``: seconds to wait before answering.
    delay: float = 0.0
    #: ``drop``: process the request first (its effect happens), then drop the reply.
    after: bool = False

    @classmethod
    def status(
        cls,
        http_status: int,
        *,
        retry_after: float | None = None,
        error_code: str | None = None,
        count: int | None = 1,
        path: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """Answer with the platform's own error body for ``http_status`` (429, 500, 503...)."""
        return cls("status", count, path, _up(method), http_status, retry_after, error_code)

    @classmethod
    def drop(
        cls, *, count: int | None = 1, path: str | None = None, method: str | None = None, after: bool = False
    ) -> Fault:
        """Close the connection without any response."""
        return cls("drop", count, path, _up(method), after=after)

    @classmethod
    def slow(cls, delay: float, *, count: int | None = 1, path: str | None = None, method: str | None = None) -> Fault:
        """Wait ``delay`` seconds, then answer normally."""
        return cls("slow", count, path, _up(method), delay=delay)

    @classmethod
    def malformed(cls, *, count: int | None = 1, path: str | None = None, method: str | None = None) -> Fault:
        """Process the request, then answer 200 with its JSON body cut in half."""
        return cls("malformed", count, path, _up(method))

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.path is None:
            return path != "/token"
        return self.path in path

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """From JSON; ``status`` is accepted for ``http_status``."""
        fields = dict(data)
        if "status" in fields:
            fields.setdefault("http_status", fields.pop("status"))
        unknown = set(fields) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown Fault fields: {sorted(unknown)}")
        if fields.get("kind") not in ("status", "drop", "slow", "malformed"):
            raise ValueError(f"unknown fault kind {fields.get('kind')!r}")
        fields["method"] = _up(fields.get("method"))
        return cls(**fields)


def _up(method: str | None) -> str | None:
    return method.upper() if method else None


@dataclass
class _Pending:
    fault: Fault
    left: int | None


class FaultBook:
    """Per-platform FIFO of pending faults; the first match is consumed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[Platform, list[_Pending]] = {p: [] for p in Platform}

    def add(self, platform: Platform, fault: Fault) -> None:
        with self._lock:
            self._faults[platform].append(_Pending(fault, fault.count))

    def take(self, platform: Platform, method: str, path: str) -> Fault | None:
        queue = self._faults[platform]
        if not queue:  # the common case, without taking the lock
            return None
        with self._lock:
            for entry in queue:
                if entry.fault.matches(method, path):
                    if entry.left is not None:
                        entry.left -= 1
                        if entry.left <= 0:
                            queue.remove(entry)
                    return entry.fault
        return None

    def pending(self, platform: Platform | None = None) -> list[tuple[Platform, Fault, int | None]]:
        with self._lock:
            return [(p, e.fault, e.left) for p, queue in self._faults.items() if platform in (None, p) for e in queue]

    def clear(self, platform: Platform | None = None) -> None:
        with self._lock:
            for p, queue in self._faults.items():
                if platform in (None, p):
                    queue.clear()


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets per platform; :meth:`acquire` answers how long to wait, 0 if allowed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[Platform, _Bucket] = {}

    def set(self, platform: Platform, per_second: float | None, burst: float | None = None) -> None:
        with self._lock:
            if per_second is None:
                self._buckets.pop(platform, None)
                return
            if per_second <= 0:
                raise ValueError("per_second must be > 0 (None disables the limit)")
            size = float(burst if burst is not None else max(1.0, per_second))
            self._buckets[platform] = _Bucket(per_second, size, size, self._clock())

    def acquire(self, platform: Platform) -> float:
        bucket = self._buckets.get(platform)
        if bucket is None:
            return 0.0
        with self._lock:
            now = self._clock()
            bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.stamp) * bucket.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / bucket.rate

    def limits(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {str(p): {"per_second": b.rate, "burst": b.burst} for p, b in self._buckets.items()}

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
