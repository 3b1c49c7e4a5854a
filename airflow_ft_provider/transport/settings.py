"""The transport's bounds for one connection, each settable by an extra of the same name.

Every value is checked when the connection is read: a timeout of ``-5``, ``nan`` or ``inf``, a
``max_connections`` of ``0`` or ten million, is refused with the extra's name and its range instead
of turning into a hang, a bare exception or a million clients later.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_ft_provider.platforms.extras import Extras

MB = 1024 * 1024


@dataclass(frozen=True)
class Bound:
    """An extra's default and allowed range (``low_open``: strictly above ``low``), and what it bounds.

    ``meaning`` is data, not a comment: the docs' limits table is rendered from it (``docs/tables.py``).
    """

    default: float | int
    low: float | int
    high: float | int
    meaning: str
    low_open: bool = False
    #: The default is the platform's (its record's ``requests_per_minute``); ``default`` is the fallback.
    platform_default: bool = False


#: The extras that tune the transport: (default, range, meaning). The docs' "Limits and bounds" lists them.
BOUNDS: dict[str, Bound] = {
    "timeout": Bound(
        30.0,
        0.0,
        600.0,
        "seconds for one whole attempt: connecting, sending and reading the **entire** answer (not only the "
        "time between two bytes)",
        low_open=True,
    ),
    "max_retries": Bound(
        5,
        0,
        20,
        "retries after any retryable failure (429, 5xx, network errors, timeouts, unreadable answers): at most "
        "`max_retries + 1` requests per call",
    ),
    "max_retry_seconds": Bound(
        300.0, 0.0, 3600.0, "seconds: no retry wait ends later than this after the call's first attempt began"
    ),
    "max_retry_after": Bound(
        120.0,
        0.0,
        3600.0,
        "seconds: the longest single wait, whatever the platform's hint (`Retry-After`, `retry-after-ms`, "
        "Google's `RetryInfo`)",
    ),
    "backoff_max": Bound(
        30.0, 0.0, 600.0, "seconds: the cap of the exponential backoff used when the platform gives no hint"
    ),
    "max_connections": Bound(
        50, 1, 1000, "connections open at once: per hook on a worker, per connection in a triggerer process"
    ),
    "max_response_mb": Bound(
        10.0, 0.001, 1024.0, "MiB: the largest answer accepted, counted while it streams in and after decompression"
    ),
    "max_pages": Bound(1000, 1, 100_000, "pages one listing may fetch"),
    "max_listed_jobs": Bound(100_000, 1, 1_000_000, "jobs one listing may return"),
    "max_requests_per_minute": Bound(
        600,
        1,
        1_000_000,
        "requests per minute: the connection's request budget in this process",
        platform_default=True,
    ),
}


@dataclass(frozen=True)
class ClientSettings:
    """Per-connection HTTP behaviour; see :data:`BOUNDS` for what each field means."""

    timeout: float = 30.0
    max_retries: int = 5
    max_retry_seconds: float = 300.0
    max_retry_after: float = 120.0
    backoff_max: float = 30.0
    max_connections: int = 50
    max_response_mb: float = 10.0
    max_pages: int = 1000
    max_listed_jobs: int = 100_000
    max_requests_per_minute: int = 600
    verify_tls: bool = True
    #: The first backoff step; not an extra.
    backoff_initial: float = 0.5

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    @property
    def max_response_bytes(self) -> int:
        return max(1, int(self.max_response_mb * MB))

    @classmethod
    def from_extras(cls, extras: Extras, requests_per_minute: int) -> ClientSettings:
        """The settings a connection's extras ask for; ExtraError names a bad one and its range.

        ``requests_per_minute``: the platform's default budget (its record's).
        """
        values: dict[str, object] = {}
        for name, bound in BOUNDS.items():
            default = requests_per_minute if bound.platform_default else bound.default
            values[name] = extras.number(
                name, type(bound.default)(default), bound.low, bound.high, low_open=bound.low_open
            )
        values["verify_tls"] = extras.flag("verify_tls", True)
        return cls(**values)  # type: ignore[arg-type]
