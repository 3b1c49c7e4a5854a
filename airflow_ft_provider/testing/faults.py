"""Fault injection: what makes an emulator worth testing against.

Faults are queued per platform and consumed by the next matching requests, so a test
can say "the next two cancels get a 429" and then check the client retried exactly so.
Quotas and rate limits are :mod:`~airflow_ft_provider.testing.metering`'s.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from airflow_ft_provider.platforms.registry import Platform

__all__ = ["Fault", "FaultBook"]

FaultKind = Literal["status", "drop", "slow", "malformed"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for the next ``count`` matching requests (None: forever).

    ``path`` matches as a substring of the vendor's path (below the platform's prefix:
    ``/v1/fine_tuning/jobs``, not ``/openai/v1/...``) and ``method`` exactly; both unset
    means every API request of the platform (an auxiliary endpoint such as the OAuth
    ``/token`` is only hit by a fault whose ``path`` names it).
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

    def matches(self, method: str, path: str, auxiliary: bool = False) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.path is None:
            return not auxiliary
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
        self._faults: defaultdict[Platform, list[_Pending]] = defaultdict(list)

    def add(self, platform: Platform, fault: Fault) -> None:
        with self._lock:
            self._faults[platform].append(_Pending(fault, fault.count))

    def take(self, platform: Platform, method: str, path: str, auxiliary: bool = False) -> Fault | None:
        queue = self._faults.get(platform)
        if not queue:  # the common case, without taking the lock
            return None
        with self._lock:
            for entry in queue:
                if entry.fault.matches(method, path, auxiliary):
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
