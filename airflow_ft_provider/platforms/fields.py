"""Reading the fields of platforms' job records: text, times, and states nobody told us about."""

from __future__ import annotations

import functools
import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)

#: China Standard Time: DashScope's Beijing region writes local times without a zone.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def text(value: object) -> str | None:
    """A string field, or None when absent or of the wrong type."""
    return value if isinstance(value, str) and value else None


def mapping(value: object) -> dict[str, Any]:
    """A JSON object field, or an empty one when absent or of the wrong type."""
    return value if isinstance(value, dict) else {}


def count(value: object) -> int | None:
    """A reported count (tokens, seconds): a JSON integer of at least zero, else None (unreadable
    usage must not fail a cancel)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_time(value: object, naive_tz: timezone = UTC) -> datetime | None:
    """RFC 3339 / ISO 8601 string or Unix seconds -> aware datetime; garbage -> None.

    Times are informational, so an unreadable value must not fail a cancel.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str) and value and len(value) <= 64:
            stamp = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
            # Nanosecond fractions (Google) are more than fromisoformat takes.
            stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp)
            parsed = datetime.fromisoformat(stamp)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_tz)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def string_labels(labels: object, *, scalars: bool = True) -> dict[str, str]:
    """A label map with string values (``scalars``: numbers and booleans as text); others are left out."""
    kept = (str, int, float, bool) if scalars else (str,)
    return {str(k): str(v) for k, v in mapping(labels).items() if isinstance(v, kept)}


@functools.cache
def log_unknown_state(platform: str, native: str) -> None:
    """Once per platform and value: a new native state is news, not noise."""
    log.warning("Unknown %s job state %s: treated as UNKNOWN (the native value is kept).", platform, native)
