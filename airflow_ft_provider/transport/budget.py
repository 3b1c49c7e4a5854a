"""A connection's request budget in this process: pacing instead of 429 storms.

The platforms meter their management APIs (Vertex AI: 600 requests per minute per project and
region, all clients together). Every request of a connection in this process, from every hook,
task thread and trigger, takes a token from one bucket that refills at the budget's rate, so the
process stays inside its share instead of sending bursts and backing off from 429s.

- **Priorities.** Urgent requests (cancels, reads that confirm a cancel, listings of a bulk
  operation) take a token at once, queuing behind one another if the bucket is empty. Background
  requests (watching jobs nobody just touched) only take a token that is there, so they fill what
  the urgent ones leave and never make them wait.
- **Adapting.** A 429 means someone else uses the quota too, or the budget is set too high: the
  rate halves (once per burst of 429s) and the bucket empties. Quiet time raises it back towards
  the configured budget, 5 % of it per second. The 429'd request itself waits for the platform's
  hint (capped, see ``retries``); the others are only slowed by the lower rate, not stopped.

The budget is per process: a worker and a triggerer using one connection each get the full budget.
Split a quota between processes with the connection's ``max_requests_per_minute`` extra.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: How often the rate may be cut: 429s answering requests sent before the last cut are the same burst.
_CUT_SPACING = 1.0
#: No 429 for this long counts as quiet: the rate grows again.
_QUIET = 2.0
#: Growth per quiet second, as a share of the configured budget.
_GROWTH = 0.05
#: The rate never drops below this share of the budget (nor below one request a minute).
_FLOOR = 1 / 64


class RequestBudget:
    """A token bucket of ``per_minute`` requests, with bursts of up to one second's worth."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = per_minute / 60.0
        self.rate = self.ceiling
        self.burst = max(1.0, self.ceiling)
        self.throttled = 0
        self._clock = clock
        self._tokens = self.burst
        self._updated = self._last_cut = self._last_429 = clock() - _QUIET
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Urgent: take the next token now; returns the seconds to wait before sending (0: now)."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def try_take(self) -> float:
        """Background: take a token if one is there (returns 0), else the seconds until one may be."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def give_back(self) -> None:
        """A reserved token that was not used (the caller's deadline came first)."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + 1.0)

    def observe(self, status: int) -> None:
        """Learn from an answer: a 429 cuts the rate; quiet time lets it grow back."""
        with self._lock:
            now = self._clock()
            self._refill()
            if status == 429:
                self.throttled += 1
                self._last_429 = now
                if now - self._last_cut >= _CUT_SPACING:
                    self._last_cut = now
                    self.rate = max(self.ceiling * _FLOOR, 1 / 60, self.rate / 2)
                    self._tokens = min(self._tokens, 0.0)

    def _refill(self) -> None:
        now = self._clock()
        elapsed, self._updated = now - self._updated, now
        if self.rate < self.ceiling and now - self._last_429 >= _QUIET:
            self.rate = min(self.ceiling, self.rate + self.ceiling * _GROWTH * elapsed)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
