"""The request budget: one wait queue for threads and event loops, pacing, pauses and adaptation.

The rules (pauses, cuts, growth) run on a clock the tests move; the queue runs on the real clock
with small budgets, and its tests assert counts (order, wake-ups), never times.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from airflow_ft_provider.transport.budget import RequestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_small_burst_then_nothing_before_the_token_is_due(clock):
    budget = RequestBudget(12_000, clock)  # 200 per second: bursts of a twentieth of a second, 10
    assert [budget.take(True) for _ in range(10)] == [clock.now] * 10
    assert budget.take(True, time_left=0.004) is None  # the next token is 5 ms away: the deadline comes first
    clock.now += 0.005
    assert budget.take(True) == clock.now


def test_no_second_gets_more_than_a_second_of_the_budget(clock):
    budget = RequestBudget(12_000, clock)  # 200 per second, bursts of 10
    started = clock.now
    for _ in range(10):
        assert budget.take(True) is not None
    for _ in range(190):  # then one per slot: 200 by 0.95 s
        clock.now += 0.005 + 1e-9
        assert budget.take(True) is not None
    clock.now += 0.005  # the bucket has a token again, but a 201st within one second would pass the budget
    assert budget.take(True, time_left=0.06) is None  # (counted over 1.02 s: the platform counts a bit later)
    clock.now = started + 1.02
    assert budget.take(True) == clock.now


def test_a_hinted_429_pauses_everyone_and_keeps_the_rate(clock):
    budget = RequestBudget(600, clock)
    sent = budget.take(True)
    budget.observe(429, sent, hint=1.0)
    assert (budget.rate, budget.pauses, budget.cuts) == (10.0, 1, 0)
    assert budget.paused_until == clock.now + 1.0
    clock.now += 0.5
    assert budget.take(True, time_left=0.4) is None  # paused
    budget.observe(429, sent, hint=1.0)  # another answer to a request sent before the pause: same burst
    assert (budget.pauses, budget.cuts) == (1, 0)
    assert budget.paused_until == clock.now + 1.0  # the pause lasts until the latest hint
    clock.now += 1.0 + 0.1  # after the pause the bucket starts empty: the first token after one slot
    assert budget.take(True) == clock.now
    assert budget.rate == 10.0


def test_429s_that_continue_after_the_pause_cut_the_rate_to_what_got_through(clock):
    budget = RequestBudget(60_000, clock)  # 1000 a second, far above what the platform allows
    sent = budget.take(True)
    budget.observe(429, sent, hint=0.1)
    clock.now += 0.2
    for _ in range(5):  # after the pause: 5 answers, then 429s again
        budget.observe(200)
    clock.now += 0.1
    budget.observe(429, clock.now - 0.05, hint=0.1)
    assert budget.cuts == 1
    assert budget.rate == pytest.approx(5.0)  # the platform answered 5 in the last second
    budget.observe(429, clock.now - 0.05, hint=0.1)  # sent before this second pause: no second cut
    assert budget.cuts == 1


def test_quiet_time_grows_the_rate_back_multiplicatively_up_to_the_budget(clock):
    budget = RequestBudget(600, clock)
    for _ in range(3):
        budget.observe(429)  # no hint: a cut, once per burst
    assert (budget.rate, budget.cuts) == (pytest.approx(8.0), 1)
    clock.now += 1.0 + 1.0  # one quiet second, then one second of growth
    budget.observe(200)
    assert budget.rate == pytest.approx(10.0)  # 8 x 1.25, capped at the budget
    assert budget.throttled == 3


def test_the_rate_has_a_floor(clock):
    budget = RequestBudget(60, clock)
    for _ in range(40):
        clock.now += 1.1  # 429s keep coming (no quiet time to grow back)
        budget.observe(429)
    assert budget.rate == pytest.approx(1 / 60)


def test_threads_wait_in_one_queue_woken_about_once_each():
    budget = RequestBudget(3_000)  # 50 per second, bursts of 2
    taken: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            sent = budget.take(True)
            with lock:
                taken.append(sent)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == budget.granted == 40
    assert budget.wakeups < 2 * budget.granted
    in_any_second = max(sum(1 for t in taken if start <= t < start + 1.0) for start in taken)
    assert in_any_second <= 50


def test_urgent_waiters_go_before_background_ones_and_loops_share_the_queue_with_threads():
    budget = RequestBudget(1_200)  # 20 per second, burst of 1
    budget.take(True)  # the bucket is empty: everyone below waits
    order: list[str] = []
    lock = threading.Lock()

    def note(name: str) -> None:
        with lock:
            order.append(name)

    async def on_a_loop(name: str, urgent: bool) -> None:
        await budget.atake(urgent)
        note(name)

    def loop_thread(names: list[tuple[str, bool]]) -> threading.Thread:
        async def main() -> None:
            await asyncio.gather(*(on_a_loop(name, urgent) for name, urgent in names))

        return threading.Thread(target=asyncio.run, args=(main(),))

    started = [loop_thread([(f"bg-loop-{i}", False) for i in range(4)])]
    started[0].start()
    while len(budget._background) < 4:  # the background waiters are queued first
        threading.Event().wait(0.001)
    started += [loop_thread([("urgent-loop", True)])]
    started += [threading.Thread(target=lambda: (budget.take(True), note("urgent-thread")))]
    for thread in started[1:]:
        thread.start()
    for thread in started:
        thread.join()
    assert sorted(order[:2]) == ["urgent-loop", "urgent-thread"]
    assert sorted(order[2:]) == [f"bg-loop-{i}" for i in range(4)]
    # Each urgent waiter woken once; each background one at most once more, after the urgent cut in.
    assert budget.wakeups < 3 * 6


def test_a_waiter_whose_deadline_comes_first_leaves_the_queue():
    budget = RequestBudget(1)  # one a minute
    assert budget.take(True) is not None
    assert budget.take(True, time_left=5.0) is None  # the next token is a minute away: no wait at all
    assert not budget._urgent

    async def cancelled() -> None:
        task = asyncio.create_task(budget.atake(False))
        await asyncio.sleep(0.05)
        assert len(budget._background) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert not budget._background  # a cancelled trigger's waiter is gone too
