"""Request metering: how a platform answers a client that sends more than its quota.

One :class:`Quota` per platform at a time (``emu.set_rate_limit`` / ``emu.set_quota``,
the same on :class:`RemoteEmulator`, or ``POST /_emulator/rate-limit`` / ``/_emulator/quota``).
A request over it gets the platform's own 429 body, is never served, and is marked in the
request log (``fault="rate_limit"``, ``throttle`` saying which meter and whose budget).
Only admitted requests count; the admin API and OAuth token endpoint are never metered.

Modes:

``token_bucket`` (``per_second``, ``burst``)
    A bucket of ``burst`` tokens refilled at ``per_second``; each request takes one. The
    429's hint is the exact time until the next token (``hint="exact"``).
``fixed_window`` (``limit`` per ``window_s``, default 60 s)
    At most ``limit`` requests in each window; windows follow each other from the moment
    the quota is set. Like Vertex AI's "600 requests per minute per project and region":
    a burst at the end of one window and the start of the next gets ``2 x limit`` through.
    The hint is the time until the window ends, rounded up to whole seconds
    (``hint="seconds"``), as real servers send ``Retry-After``.
``sliding_window`` (``limit`` per ``window_s``)
    At most ``limit`` requests in any ``window_s`` span; the hint is the time until the
    oldest counted request leaves the window, in whole seconds.

Whose budget a request spends (``per``): ``"platform"`` (one budget for everyone),
``"project"`` (the platform's project: Vertex AI's project number and region, a DashScope
workspace, OpenAI's ``OpenAI-Project`` header; a platform without projects has one) or
``"key"`` (the credential the request carries; requests with none share one budget; keys
are kept only as short fingerprints).

Hints (``hint``): ``"exact"`` (fractional seconds; the platform renders them in its own
way: ``retry-after`` rounded up plus ``retry-after-ms``, or ``RetryInfo.retryDelay``),
``"seconds"`` (whole seconds, rounded up) or ``"none"``: 429s carry no hint at all, and a
client must back off on its own. DashScope documents no hint, so it never sends one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from airflow_ft_provider.platforms.registry import Platform

__all__ = ["Hint", "Metering", "Mode", "Per", "Quota", "Throttle"]

Mode = Literal["token_bucket", "fixed_window", "sliding_window"]
Per = Literal["platform", "project", "key"]
Hint = Literal["exact", "seconds", "none"]


@dataclass(frozen=True)
class Quota:
    """How one platform meters requests; build one with :meth:`token_bucket` or :meth:`window`."""

    mode: Mode
    #: Token bucket: tokens per second; windows: requests per window.
    limit: float
    #: Token bucket only: its size (default ``max(1, limit)``).
    burst: float | None = None
    window_s: float = 60.0
    per: Per = "platform"
    hint: Hint = "exact"

    def __post_init__(self) -> None:
        for name, allowed in (("mode", Mode), ("per", Per), ("hint", Hint)):
            if getattr(self, name) not in get_args(allowed):
                raise ValueError(f"quota {name} must be one of {list(get_args(allowed))}, not {getattr(self, name)!r}")
        if not self.limit > 0:
            raise ValueError("a quota's limit must be > 0 (None lifts the limit)")
        if not self.window_s > 0:
            raise ValueError("a quota's window_s must be > 0")
        if self.burst is not None and (self.mode != "token_bucket" or not self.burst >= 1):
            raise ValueError("burst is for token buckets only, and must be >= 1")

    @classmethod
    def token_bucket(
        cls, per_second: float, burst: float | None = None, *, per: Per = "platform", hint: Hint = "exact"
    ) -> Quota:
        return cls("token_bucket", per_second, burst, per=per, hint=hint)

    @classmethod
    def window(
        cls,
        limit: int,
        *,
        window_s: float = 60.0,
        per: Per = "project",
        sliding: bool = False,
        hint: Hint = "seconds",
    ) -> Quota:
        return cls("sliding_window" if sliding else "fixed_window", limit, window_s=window_s, per=per, hint=hint)

    @property
    def size(self) -> float:
        """The token bucket's size."""
        return float(self.burst if self.burst is not None else max(1.0, self.limit))

    def describe(self) -> str:
        if self.mode == "token_bucket":
            return f"token_bucket {self.limit:g}/s burst {self.size:g} per {self.per}"
        return f"{self.mode} {self.limit:g}/{self.window_s:g}s per {self.per}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Throttle:
    """A refused request: the hint its 429 carries, and why, for the request log."""

    retry_after: float | None
    reason: str


@dataclass
class _Budget:
    """One subject's state under one quota: tokens, a window's count, or recent admissions."""

    tokens: float = 0.0
    stamp: float = 0.0
    window: int = -1
    count: int = 0
    admitted: deque[float] = field(default_factory=deque)


class _Meter:
    def __init__(self, quota: Quota, now: float) -> None:
        self.quota = quota
        self.started = now
        self.budgets: dict[str, _Budget] = {}

    def wait(self, subject: str, now: float) -> float:
        """Seconds until ``subject`` may send again; 0 admits (and counts) the request."""
        q = self.quota
        budget = self.budgets.get(subject)
        if budget is None:
            budget = self.budgets[subject] = _Budget(tokens=q.size, stamp=now)
        if q.mode == "token_bucket":
            budget.tokens = min(q.size, budget.tokens + (now - budget.stamp) * q.limit)
            budget.stamp = now
            if budget.tokens >= 1.0:
                budget.tokens -= 1.0
                return 0.0
            return (1.0 - budget.tokens) / q.limit
        if q.mode == "fixed_window":
            window = int((now - self.started) // q.window_s)
            if window != budget.window:
                budget.window, budget.count = window, 0
            if budget.count < q.limit:
                budget.count += 1
                return 0.0
            return self.started + (window + 1) * q.window_s - now
        while budget.admitted and budget.admitted[0] <= now - q.window_s:
            budget.admitted.popleft()
        if len(budget.admitted) < q.limit:
            budget.admitted.append(now)
            return 0.0
        return budget.admitted[0] + q.window_s - now

    def hint(self, wait: float) -> float | None:
        if self.quota.hint == "none":
            return None
        if self.quota.hint == "seconds":
            return float(max(1, math.ceil(wait)))
        return wait


class Metering:
    """The quota of each platform; :meth:`check` admits a request or says how to refuse it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._meters: dict[Platform, _Meter] = {}

    def set(self, platform: Platform, quota: Quota | None) -> None:
        """Meter ``platform`` by ``quota`` from now on, with fresh budgets; None lifts it."""
        with self._lock:
            if quota is None:
                self._meters.pop(platform, None)
            else:
                self._meters[platform] = _Meter(quota, self._clock())

    def check(self, platform: Platform, subject: Callable[[Per], str]) -> Throttle | None:
        """None admits the request; ``subject(per)`` names whose budget it spends."""
        meter = self._meters.get(platform)
        if meter is None:  # the common case, without taking the lock
            return None
        who = subject(meter.quota.per)
        with self._lock:
            wait = meter.wait(who, self._clock())
        if wait <= 0:
            return None
        shown = "a key" if meter.quota.per == "key" else who
        return Throttle(meter.hint(wait), f"{meter.quota.describe()}: {shown} over quota")

    def limits(self) -> dict[str, dict[str, Any]]:
        """Each metered platform's quota, as JSON."""
        with self._lock:
            return {str(p): m.quota.to_dict() for p, m in self._meters.items()}

    def clear(self) -> None:
        with self._lock:
            self._meters.clear()
