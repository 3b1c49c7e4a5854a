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
    """An extra's default and allowed range (``low_open``: strictly above ``low``)."""

    default: float | int
    low: float | int
    high: float | int
    low_open: bool = False


#: The extras that tune the transport: (default, range). The README's "Limits and bounds" lists them.
BOUNDS: dict[str, Bound] = {
    # Seconds for one whole attempt: connecting, sending and reading the entire answer.
    "timeout": Bound(30.0, 0.0, 600.0, low_open=True),
    # Retries after any retryable failure, 429 included: at most max_retries + 1 requests per call.
    "max_retries": Bound(5, 0, 20),
    # No retry sleep ends later than this many seconds after the call's first attempt began.
    "max_retry_seconds": Bound(300.0, 0.0, 3600.0),
    # The longest single retry sleep, whatever the platform's hint says.
    "max_retry_after": Bound(120.0, 0.0, 3600.0),
    # The cap of the exponential backoff used when the platform gives no hint.
    "backoff_max": Bound(30.0, 0.0, 600.0),
    # Connections open at once: per hook on a worker, per connection in a triggerer process.
    "max_connections": Bound(50, 1, 1000),
    # The largest answer body accepted, counted while it streams in and after decompression.
    "max_response_mb": Bound(10.0, 0.001, 1024.0),
    # Pages and jobs one listing may fetch.
    "max_pages": Bound(1000, 1, 100_000),
    "max_listed_jobs": Bound(100_000, 1, 1_000_000),
    # The connection's request budget in this process (None: the platform's default).
    "max_requests_per_minute": Bound(600, 1, 1_000_000),
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
            default = requests_per_minute if name == "max_requests_per_minute" else bound.default
            values[name] = extras.number(
                name, type(bound.default)(default), bound.low, bound.high, low_open=bound.low_open
            )
        values["verify_tls"] = extras.flag("verify_tls", True)
        return cls(**values)  # type: ignore[arg-type]
