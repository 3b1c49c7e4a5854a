"""A connection's request budget in this process: pacing instead of 429 storms.

The platforms meter their management APIs (Vertex AI: 600 requests per minute per project and
region, all clients together; many quotas count a one-second sliding window). Every request of a
connection in this process, from every hook, task thread and trigger, takes a token from one
bucket that refills at the budget's rate, so the process stays inside its share.

- **One wait queue.** A request that finds no token waits in the budget's queue (urgent ones
  before background ones, each in arrival order) until its token is due, then takes it. A waiter
  sleeps until the time its token is projected to be there and is woken early only when the
  head of the queue can go at once, so a request is woken about once, not polled. Sync callers
  (task threads) wait on a ``threading.Event``, async ones (triggerer loops) on an
  ``asyncio.Event`` set through ``call_soon_threadsafe``: one queue serves both. A waiter whose
  deadline comes before its token leaves the queue (the caller raises a typed error).
- **Priorities.** Urgent requests (cancels, reads that confirm a cancel, listings of a bulk
  operation) go before background ones (watching jobs nobody just touched).
- **Never over the budget.** The bucket holds a twentieth of a second's worth of tokens (a few
  requests go at once, never a second's worth), and no one-second span gets more than a second's
  worth of the budget (counted over :data:`_SPAN` + :data:`_MARGIN`): the shape of a one-second
  sliding-window quota.
- **429s.** A 429 with a hint pauses the whole connection (nobody sends) until the hint, and the
  rate that was working is kept; only if 429s continue for requests sent after the pause is the
  rate cut, to what the platform answered in the last second (at most :data:`_CUT` of it). A 429
  without a hint cuts at once (once a second). After a quiet second the rate grows back by
  :data:`_GROWTH` a second, multiplicatively, up to the configured budget.

The budget is per process: a worker and a triggerer using one connection each get the full budget.
Split a quota between processes with the connection's ``max_requests_per_minute`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass

#: The bucket's size, in seconds of the current rate (at least one token).
_BURST_SECONDS = 0.05
#: No span this long gets more than this long's worth of the configured budget...
_SPAN = 1.0
#: ...counted over a span this much longer: the time between our send and the platform's count
#: varies (threads, the network), and a request counted early in a full window is a 429. (It costs
#: 2 % of the budget when the budget is all used.)
_MARGIN = 0.02
#: No 429 for this long counts as quiet: the rate grows again.
_QUIET = 1.0
#: Growth per quiet second, multiplicative.
_GROWTH = 1.25
#: A cut keeps at most this share of the rate (less if the platform let fewer through).
_CUT = 0.8
#: Hintless 429s cut the rate at most this often: those answering requests sent before are the same burst.
_CUT_SPACING = 1.0
#: A waiter woken this little before its token is due (at most half a slot) takes it: timed waits
#: end a little early, a late taker shifts the slots after it, and sleeping again for a few
#: milliseconds would double a request's wake-ups. The one-second cap still holds.
_EARLY = 0.01
#: The rate never drops below this share of the budget, nor below one request a minute, and this
#: floor is never above one request a second: a budget set far above the platform's limit (a
#: million a minute, "no budget") must still be able to slow down to it.
_FLOOR = 1 / 64


@dataclass(eq=False)
class _Waiter:
    """A request waiting for a token: when it plans to look again, and how to wake it sooner."""

    signal: Callable[[], None]
    ticket: int
    at: float


class RequestBudget:
    """A token bucket of ``per_minute`` requests with one wait queue; see the module doc."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = per_minute / 60.0
        self.rate = self.ceiling
        #: Counts for tests and benchmarks: tokens taken, waiters woken, 429s, pauses, cuts.
        self.granted = self.wakeups = self.throttled = self.pauses = self.cuts = 0
        self.clock = clock
        self._cap = max(1, math.floor(self.ceiling * _SPAN + 1e-9))
        self._floor = max(1 / 60, min(1.0, self.ceiling * _FLOOR))
        self._recent: deque[float] = deque()  # grant times within the last span
        now = clock()
        self._tokens = self._burst()
        self._updated = now
        self._last_429 = self._last_cut = self._pause_start = self.paused_until = now - _QUIET - _SPAN
        self._answers: deque[float] = deque()  # times of non-429 answers within the last span
        self._urgent: deque[_Waiter] = deque()
        self._background: deque[_Waiter] = deque()
        self._tickets = 0
        self._lock = threading.Lock()

    # -- taking a token ----------------------------------------------------------------------
    def take(self, urgent: bool, time_left: float | None = None) -> float | None:
        """Wait (blocking) for a token: its time on :attr:`clock`, or None if none comes within ``time_left`` s."""
        woken = threading.Event()
        steps = self._steps(urgent, time_left, woken.set)
        try:
            sleep = next(steps)
            while True:
                woken.wait(sleep)
                woken.clear()
                sleep = steps.send(None)
        except StopIteration as done:
            return done.value
        finally:
            steps.close()

    async def atake(self, urgent: bool, time_left: float | None = None) -> float | None:
        """As :meth:`take`, on an event loop: the wait never blocks it."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def signal() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(woken.set)

        steps = self._steps(urgent, time_left, signal)
        try:
            sleep = next(steps)
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(sleep):
                        await woken.wait()
                woken.clear()
                sleep = steps.send(None)
        except StopIteration as done:
            return done.value
        finally:
            steps.close()  # cancelled: the waiter leaves the queue

    def _steps(
        self, urgent: bool, time_left: float | None, signal: Callable[[], None]
    ) -> Generator[float, None, float | None]:
        """The wait, for both drivers: yields seconds to sleep (or until signalled); returns the
        token's time, or None when the deadline comes first (the waiter has left the queue)."""
        queue = self._urgent if urgent else self._background
        with self._lock:
            now = self.clock()
            limit = None if time_left is None else now + time_left
            at = self._due(now, len(self._urgent) + (0 if urgent else len(self._background)))
            if at <= now:
                return self._grant(now)
            if limit is not None and at >= limit:
                return None
            self._tickets += 1
            waiter = _Waiter(signal, self._tickets, at)
            queue.append(waiter)
        granted = False
        try:
            while True:
                yield max(0.0, waiter.at - self.clock())
                with self._lock:
                    self.wakeups += 1
                    now = self.clock()
                    ahead = 0 if urgent else len(self._urgent)
                    if queue[0] is waiter and not ahead:
                        at = self._due(now, 0)
                        if at <= now + min(_EARLY, 0.5 / self.rate):
                            queue.popleft()
                            granted = True
                            sent = self._grant(now)
                            self._promote(now)
                            return sent
                    else:
                        # Its place, counted by tickets (an overestimate once someone ahead left early:
                        # _promote wakes it in time when it becomes the head).
                        at = self._due(now, ahead + waiter.ticket - queue[0].ticket)
                        at = max(at, now + 1 / self.rate)  # due, but those ahead have not taken theirs yet
                    if limit is not None and at >= limit:
                        return None
                    waiter.at = at
        finally:
            if not granted:
                self._leave(queue, waiter)

    def _leave(self, queue: deque[_Waiter], waiter: _Waiter) -> None:
        with self._lock:
            was_head = bool(queue) and queue[0] is waiter
            with contextlib.suppress(ValueError):
                queue.remove(waiter)
            if was_head:
                self._promote(self.clock())

    def _promote(self, now: float) -> None:
        """Wake the new head of the queue if its token is there, or if it planned to look too late."""
        head = self._urgent[0] if self._urgent else self._background[0] if self._background else None
        if head is None:
            return
        at = self._due(now, 0)
        if at <= now or head.at > at + 1 / self.rate:
            head.at = at
            head.signal()

    def _due(self, now: float, position: int) -> float:
        """When the token of the request with ``position`` requests ahead of it may be taken."""
        self._refill(now)
        self._forget(self._recent, now, _MARGIN)
        start = max(now, self.paused_until)

        def bucket(place: int) -> float:
            need = place + 1 - self._tokens
            return start if need <= 0 else start + need / self.rate

        # The one-second cap: a grant comes a span after the one ``_cap`` grants before it. Follow
        # that chain back through the queue to its first link, which the bucket and the grants
        # already made place.
        spans, first = divmod(position, self._cap)
        index = len(self._recent) + first - self._cap
        at_first = bucket(first) if index < 0 else max(bucket(first), self._recent[index] + _SPAN + _MARGIN)
        return max(bucket(position), at_first + spans * (_SPAN + _MARGIN))

    def _grant(self, now: float) -> float:
        self._tokens -= 1.0
        self._recent.append(now)
        self.granted += 1
        return now

    # -- learning from answers ---------------------------------------------------------------
    def observe(self, status: int, sent_at: float | None = None, hint: float | None = None) -> None:
        """Learn from an answer to a request sent at ``sent_at`` (:meth:`take`'s time): a 429 with
        ``hint`` (seconds, clamped by the caller) pauses the connection; see the module doc."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            self._forget(self._answers, now)
            if status != 429:
                self._answers.append(now)
                return
            self.throttled += 1
            self._last_429 = now
            if hint is None or sent_at is None:
                if now - self._last_cut >= _CUT_SPACING:
                    self._cut(now)
                    self._tokens = min(self._tokens, 0.0)
                return
            if sent_at <= self._pause_start:  # sent before the pause: the same burst
                self._pause(now + hint)
                return
            if sent_at < self.paused_until + _QUIET:  # 429s continue after the pause
                self._cut(now)
            self._pause_start = now
            self.pauses += 1
            self._pause(now + hint)

    def _pause(self, until: float) -> None:
        """Nobody sends before ``until``; then the bucket starts empty, at the rate that worked."""
        if until > self.paused_until:
            self.paused_until = self._updated = until
            self._tokens = 0.0

    def _cut(self, now: float) -> None:
        """A lower rate: what the platform let through in the last span, at most ``_CUT`` of the rate."""
        cut = self.rate * _CUT
        if self._answers:
            cut = min(cut, len(self._answers) / _SPAN)
        self.rate = max(self._floor, cut)
        self.cuts += 1
        self._last_cut = now

    def _refill(self, now: float) -> None:
        if now <= self._updated:  # paused, or no time passed
            return
        grow_from = max(self._updated, self._last_429 + _QUIET)
        if self.rate < self.ceiling and now > grow_from:
            self.rate = min(self.ceiling, self.rate * _GROWTH ** (now - grow_from))
        self._tokens = min(self._burst(), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    @staticmethod
    def _forget(times: deque[float], now: float, margin: float = 0.0) -> None:
        """Drop the times older than one span (and ``margin``)."""
        while times and times[0] <= now - _SPAN - margin:
            times.popleft()

    def _burst(self) -> float:
        return max(1.0, self.rate * _BURST_SECONDS)
