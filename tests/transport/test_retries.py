"""The retry policy: clamped hints, every kind of retry counted, nothing past a budget or deadline."""

from __future__ import annotations

import math

import pytest

from airflow_ft_provider.transport.retries import RetryPolicy
from airflow_ft_provider.transport.settings import ClientSettings

POLICY = RetryPolicy(
    ClientSettings(max_retries=3, max_retry_seconds=60, max_retry_after=10, backoff_max=4), lambda: 0.5
)


@pytest.mark.parametrize(
    ("hint", "clamped"),
    [(5.0, 5.0), (-3.0, 0.0), (86400.0, 10.0), (math.inf, 10.0), (1e12, 10.0), (math.nan, None), (None, None)],
)
def test_hints_are_clamped_not_trusted(hint, clamped):
    assert POLICY.clamp(hint) == clamped


def test_a_wait_never_passes_the_cap_even_with_jitter():
    assert POLICY.delay(1, 9.99) <= 10.0
    assert POLICY.delay(1, math.inf) == 10.0


def test_backoff_without_a_hint_is_capped_with_equal_jitter():
    delays = [POLICY.delay(attempt, None) for attempt in range(1, 8)]
    assert delays[0] == pytest.approx(0.375)  # ceiling 0.5: half fixed, half random (0.5 here)
    assert max(delays) == pytest.approx(3.0)  # ceiling backoff_max=4


@pytest.mark.parametrize(
    ("attempt", "elapsed", "delay", "left", "stop"),
    [
        (1, 0, 1, None, False),
        (4, 0, 1, None, True),  # max_retries=3: the fourth attempt was the last
        (2, 59, 2, None, True),  # would end after max_retry_seconds
        (2, 0, 5, 4.9, True),  # would pass the caller's deadline
        (2, 0, 5, 5.1, False),
    ],
)
def test_when_to_give_up(attempt, elapsed, delay, left, stop):
    assert POLICY.gives_up(attempt, elapsed, delay, left) is stop
