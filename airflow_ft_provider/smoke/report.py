"""What a smoke check found, as data (``--json``) and as short terminal lines that lead with the outcome.

Everything here is already clean when it arrives: server text passed ``server_text.clean`` where
it was read (:mod:`.check`), and no field can hold a secret (the credential is described, never
copied; URLs are shown without their query).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

#: Terminal lines stay within this width (long ids and paths are shortened in the middle).
WIDTH = 100


@dataclass
class Exchange:
    """One HTTP request of the check, as the transport sent it and the server answered it."""

    #: ``list``, ``get``, or ``credential`` (a token exchange the connection's auth made).
    purpose: str
    method: str
    #: The URL without its query (page cursors, and on some hosts keys, live there).
    url: str
    #: None: no answer (refused connection, TLS failure, timeout).
    status: int | None = None
    #: Seconds from sending to the answer's headers.
    seconds: float | None = None
    #: The rate-limit headers the platform sent with this answer, as sent.
    rate_limit_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Failure:
    """Why the check failed: the provider's typed error, at which step, and what to do about it."""

    step: str
    type: str
    message: str
    #: The error as a task would report it, hint included (``task_errors.task_failure``).
    hint: str
    retryable: bool = False


@dataclass
class CheckReport:
    """The outcome of ``python -m airflow_ft_provider check``: healthy when ``failure`` is None."""

    conn_id: str
    platform: str | None = None
    base_url: str | None = None
    credential_kind: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    #: Jobs on the listing's first page, and the id asked for or the first of them.
    listed: int | None = None
    job_id: str | None = None
    job_state: str | None = None
    job_native_state: str | None = None
    #: Native state -> how many jobs on the listed page showed it.
    native_states: dict[str, int] = field(default_factory=dict)
    #: Native states the dialect does not know (read as UNKNOWN), on the page or of the job read.
    unknown_states: list[str] = field(default_factory=list)
    #: Top-level fields of listed records the dialect does not read (a new field, or one it ignores).
    unread_fields: list[str] = field(default_factory=list)
    #: Cancel requests sent: always 0 (the check sends read requests only); here so a reader sees it.
    cancels_sent: int = 0
    failure: Failure | None = None

    @property
    def healthy(self) -> bool:
        return self.failure is None

    def to_json(self) -> str:
        return json.dumps({"healthy": self.healthy, **asdict(self)}, indent=2)

    def to_text(self) -> str:
        return "\n".join(_lines(self))


def _lines(report: CheckReport) -> list[str]:
    failure = report.failure
    if failure is None:
        read = "read one" if report.job_id else "no job to read"
        head = f"OK      {report.conn_id}: listed {report.listed} job(s), {read}; nothing was cancelled."
    else:
        head = f"FAILED  {report.conn_id}: {failure.type} while {failure.step}; nothing was cancelled."
    lines = _wrap(head, "", " " * 8)
    if failure is not None:
        lines += _wrap(failure.hint, "  ", "  ")
    lines += _row("platform", report.platform and f"{report.platform} at {report.base_url}")
    lines += _row("credential", report.credential_kind)
    if report.exchanges:
        lines.append("requests")
        lines += [_exchange_line(exchange, report.base_url or "") for exchange in report.exchanges]
        limits = [f"{k}: {v}" for x in report.exchanges for k, v in x.rate_limit_headers.items()]
        lines += _row("rate limits", "; ".join(dict.fromkeys(limits)) or "no rate-limit headers sent")
    if report.job_id:
        lines += _row("job read", f"{_short(report.job_id, 60)}: {report.job_native_state} ({report.job_state})")
    if report.native_states:
        lines += _row("page states", ", ".join(f"{state} x{n}" for state, n in report.native_states.items()))
    if report.unknown_states:
        lines += _row("UNKNOWN", "states the provider does not know: " + ", ".join(report.unknown_states))
    if report.unread_fields:
        lines += _row("ignored", "fields the provider does not read: " + ", ".join(report.unread_fields))
    return lines


def _row(label: str, value: str | None) -> list[str]:
    if not value:
        return []
    return _wrap(value, f"{label:<12}", " " * 12)


def _wrap(text: str, first: str, then: str) -> list[str]:
    """Lines of at most :data:`WIDTH`, broken at spaces only (a URL or an id stays whole)."""
    return textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=then, break_on_hyphens=False, break_long_words=False
    )


def _exchange_line(exchange: Exchange, base_url: str) -> str:
    """Status and time first; the URL after them, below the platform's base URL where it is there."""
    status = "no answer" if exchange.status is None else f"HTTP {exchange.status}"
    took = "" if exchange.seconds is None else f"{exchange.seconds * 1000:.0f} ms"
    url = exchange.url
    path = url[len(base_url) :].lstrip("/") or "/" if base_url and url.startswith(base_url) else urlsplit(url).path
    return _short(f"  {exchange.purpose:<10} {status:<9} {took:>8}  {exchange.method} {path}", WIDTH)


def _short(text: str, width: int) -> str:
    """``text`` within ``width`` characters, cut in the middle (both ends of an id or path tell most)."""
    if len(text) <= width:
        return text
    keep = width - 3
    return f"{text[: keep // 2]}...{text[len(text) - (keep - keep // 2) :]}"
