"""When to retry a failed attempt and how long to wait first: the one rule, for sync and async.

- Only errors that say so (``retryable``: 429, 5xx, network failures, timeouts, unreadable
  bodies) are retried, and at most ``max_retries`` times, whatever the kind.
- The wait is the platform's hint when it gives one, else capped exponential backoff with
  "equal jitter" (half fixed, half random, so clients that failed together do not return
  together). A hint is clamped, never trusted: negative is 0, huge or infinite is
  ``max_retry_after``.
- No wait is started that would end after the ``max_retry_seconds`` budget or the caller's
  deadline: the call gives up at once with the last error instead.

Tenacity runs the loop (:func:`retry_options` feeds ``Retrying`` and ``AsyncRetrying`` alike).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception

from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.transport.settings import ClientSettings

log = logging.getLogger(__name__)

#: A little spread on top of a platform's hint, at most this share of it (and at most 1 s), so
#: clients throttled together do not all come back in the same instant.
HINT_JITTER = 0.1


@dataclass(frozen=True)
class RetryPolicy:
    settings: ClientSettings
    rand: Callable[[], float] = random.random

    def clamp(self, hint: float | None) -> float | None:
        """A usable wait from a platform's hint, or None when it is not a number."""
        if hint is None or math.isnan(hint):
            return None
        return min(max(hint, 0.0), self.settings.max_retry_after)

    def delay(self, attempt: int, hint: float | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = self.settings.max_retry_after
        clamped = self.clamp(hint)
        if clamped is not None:
            return min(cap, clamped + self.rand() * min(1.0, HINT_JITTER * clamped))
        ceiling = min(self.settings.backoff_max, self.settings.backoff_initial * 2 ** min(attempt - 1, 30), cap)
        return ceiling / 2 + self.rand() * ceiling / 2

    def gives_up(self, attempt: int, elapsed: float, delay: float, time_left: float | None) -> bool:
        """Whether to stop rather than wait ``delay`` seconds and try once more."""
        return (
            attempt >= self.settings.max_attempts
            or elapsed + delay > self.settings.max_retry_seconds
            or (time_left is not None and delay >= time_left)
        )


def retry_options(
    policy: RetryPolicy,
    deadline: float | None,
    describe: Callable[[], str],
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Keyword arguments for tenacity's ``Retrying`` / ``AsyncRetrying`` enforcing ``policy``.

    ``deadline``: the caller's absolute deadline (Unix time) or None; ``describe``: what is being
    called, for the log line before each wait.
    """

    def failure(state: RetryCallState) -> BaseException | None:
        return state.outcome.exception() if state.outcome else None

    def wait(state: RetryCallState) -> float:
        return policy.delay(state.attempt_number, getattr(failure(state), "retry_after", None))

    def stop(state: RetryCallState) -> bool:
        time_left = None if deadline is None else deadline - clock()
        return policy.gives_up(state.attempt_number, state.seconds_since_start or 0.0, state.upcoming_sleep, time_left)

    def before_sleep(state: RetryCallState) -> None:
        log.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.1f s",
            describe(),
            state.attempt_number,
            policy.settings.max_attempts,
            failure(state),
            state.upcoming_sleep,
        )

    return {
        "stop": stop,
        "wait": wait,
        "retry": retry_if_exception(lambda exc: isinstance(exc, TuningJobError) and exc.retryable),
        "before_sleep": before_sleep,
        "reraise": True,
    }
