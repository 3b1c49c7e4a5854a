"""The request budget: pacing, priorities and adaptation, on a clock the tests move."""

from __future__ import annotations

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


def test_a_burst_then_one_request_per_slot(clock):
    budget = RequestBudget(600, clock)  # 10 per second, bursts of 10
    assert [budget.reserve() for _ in range(10)] == [0.0] * 10
    waits = [budget.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])  # queued behind one another, paced


def test_background_requests_only_take_what_is_there(clock):
    budget = RequestBudget(60, clock)  # one per second, burst of one
    assert budget.try_take() == 0.0
    assert budget.try_take() == pytest.approx(1.0)  # not taken: ask again in a second
    assert budget.try_take() == pytest.approx(1.0)  # asking again does not queue it further back
    clock.now += 1.0
    assert budget.try_take() == 0.0


def test_urgent_requests_never_wait_behind_background_ones(clock):
    budget = RequestBudget(60, clock)
    budget.try_take()
    for _ in range(50):  # background callers keep asking: they never reserve ahead
        budget.try_take()
    assert budget.reserve() == pytest.approx(1.0)  # the next slot, not fifty slots later


def test_a_429_halves_the_rate_once_per_burst_and_quiet_time_restores_it(clock):
    budget = RequestBudget(600, clock)
    for _ in range(5):
        budget.observe(429)  # one burst of 429s: one cut
    assert budget.rate == pytest.approx(5.0)
    clock.now += 1.5
    budget.observe(429)
    assert budget.rate == pytest.approx(2.5)
    clock.now += 2.0  # quiet from here
    budget.observe(200)
    for _ in range(30):
        clock.now += 1.0
        budget.observe(200)
    assert budget.rate == pytest.approx(10.0)  # 5 % of the budget per quiet second, capped at it
    assert budget.throttled == 6


def test_the_rate_has_a_floor(clock):
    budget = RequestBudget(60, clock)
    for _ in range(40):
        clock.now += 1.1  # 429s keep coming (no quiet time to grow back)
        budget.observe(429)
    assert budget.rate == pytest.approx(1 / 60)


def test_a_reserved_slot_can_be_given_back(clock):
    budget = RequestBudget(60, clock)
    budget.reserve()
    assert budget.reserve() == pytest.approx(1.0)
    budget.give_back()
    assert budget.reserve() == pytest.approx(1.0)
