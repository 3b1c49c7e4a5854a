"""Retries are bounded by count, by hint caps, by the retry budget and by the caller's deadline.

Absurd hints (a day, infinity, NaN, negative, dates in the past or the year 9999, a Google
``RetryInfo`` of 31,000 years) must never become a sleep longer than ``max_retry_after``;
NaN and garbage are ignored (our own backoff), negative and past hints mean "now". A 429 is
a retryable failure like any other: at most ``max_retries + 1`` requests per call.
"""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.jobs import Platform
from tests.hostile.conftest import MODES, PLATFORMS
from tests.hostile.servers import error_answer
from tests.hostile.support import SLACK, call, expect_error, expect_requests, expect_value, run

#: The cap in the tests where a hint must be capped: short, since the test sleeps it for real.
CAP = 0.5
#: The backoff in the tests where a hint must be ignored or mean zero; the cap there is long,
#: so a client that caps instead of ignoring (or sleeps the hint) is caught.
BACKOFF, LONG_CAP = 0.05, 30

PAST_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
FAR_FUTURE_DATE = "Fri, 31 Dec 9999 23:59:59 GMT"

#: (platform, id, header or None, RetryInfo.retryDelay or None, "cap" | "now")
HINTS = [
    (Platform.OPENAI, "retry-after-a-day", ("Retry-After", "86400"), None, "cap"),
    (Platform.OPENAI, "retry-after-1e999", ("Retry-After", "1e999"), None, "cap"),
    (Platform.OPENAI, "retry-after-nan", ("Retry-After", "nan"), None, "now"),
    (Platform.OPENAI, "retry-after-negative", ("Retry-After", "-5"), None, "now"),
    (Platform.OPENAI, "retry-after-garbage", ("Retry-After", "soon"), None, "now"),
    (Platform.OPENAI, "retry-after-past-date", ("Retry-After", PAST_DATE), None, "now"),
    (Platform.OPENAI, "retry-after-year-9999", ("Retry-After", FAR_FUTURE_DATE), None, "cap"),
    (Platform.OPENAI, "retry-after-ms-1e12", ("retry-after-ms", "1e12"), None, "cap"),
    (Platform.OPENAI, "retry-after-ms-negative", ("retry-after-ms", "-1"), None, "now"),
    (Platform.OPENAI, "retry-after-ms-nan", ("retry-after-ms", "nan"), None, "now"),
    (Platform.VERTEX_AI, "retryinfo-999999999999s", None, "999999999999s", "cap"),
    (Platform.VERTEX_AI, "retryinfo-seconds-object", None, {"seconds": "999999999999", "nanos": 0}, "cap"),
    (Platform.VERTEX_AI, "retryinfo-negative", None, "-5s", "now"),
    (Platform.VERTEX_AI, "retryinfo-garbage", None, "soon", "now"),
    (Platform.VERTEX_AI, "retry-after-a-day", ("Retry-After", "86400"), None, "cap"),
]
ASYNC_HINTS = {"retry-after-a-day", "retry-after-ms-1e12", "retry-after-nan", "retryinfo-999999999999s"}


def hint_cases():
    for platform, name, header, delay, expect in HINTS:
        for mode in MODES:
            if mode == "sync" or name in ASYNC_HINTS:
                yield pytest.param(platform, header, delay, expect, mode, id=f"{platform.value}-{name}-{mode}")


@pytest.mark.parametrize(("platform", "header", "delay", "expect", "mode"), hint_cases())
def test_an_absurd_retry_hint_is_capped_or_ignored(hostile, platform, header, delay, expect, mode):
    cap = CAP if expect == "cap" else LONG_CAP
    target = hostile(platform, max_retries=1, max_retry_after=cap, backoff_max=BACKOFF)
    target.server.then(error_answer(429, [header] if header else [], retry_delay=delay))
    job_id = target.server.add_job()
    hook = target.hook()
    bound = CAP if expect == "cap" else BACKOFF
    job = expect_value(run(lambda: call(hook, "get_job", job_id, mode=mode), bound), bound)
    assert job.job_id.endswith(job_id)
    expect_requests(target.server, 2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_rate_limited_forever_with_no_retries_is_one_request(hostile, platform, mode):
    target = hostile(platform, max_retries=0)
    target.server.always(error_answer(429, [("Retry-After", "0")]))
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), 0.5)
    expect_error(outcome, "RateLimitedError", within=0.5, secret=target.key)
    expect_requests(target.server, 1)


@pytest.mark.parametrize(
    ("platform", "mode", "status"),
    [(Platform.OPENAI, "sync", 429), (Platform.VERTEX_AI, "async", 429), (Platform.OPENAI, "async", 503)],
)
def test_every_retryable_failure_counts_against_max_retries(hostile, platform, mode, status):
    target = hostile(platform, max_retries=2)
    target.server.always(error_answer(status, [("Retry-After", "0")]))
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), 1)
    expect_error(outcome, "RateLimitedError" if status == 429 else "PlatformUnavailableError", within=1)
    expect_requests(target.server, 3)


@pytest.mark.parametrize("mode", MODES)
def test_backoff_max_caps_our_own_backoff(hostile, mode):
    target = hostile(Platform.VERTEX_AI, max_retries=5, backoff_max=0.1)
    target.server.always(error_answer(503))  # no hint: our own exponential backoff
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), 5 * 0.1)
    expect_error(outcome, "PlatformUnavailableError", within=5 * 0.1)
    expect_requests(target.server, 6)


@pytest.mark.parametrize("mode", MODES)
def test_the_retry_budget_ends_a_rate_limited_call(hostile, mode):
    target = hostile(Platform.OPENAI, max_retries=20, max_retry_after=1, max_retry_seconds=1.5)
    target.server.always(error_answer(429, [("Retry-After", "1")]))
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), 1.5)
    expect_error(outcome, "RateLimitedError", within=1.5)
    assert target.server.count() <= 3


@pytest.mark.parametrize("mode", MODES)
def test_a_sleep_that_would_pass_the_budget_is_not_started(hostile, mode):
    # The hint (30 s) is under the cap, but sleeping it would end after the 10 s budget: give up
    # now. The budget is long enough for the first request to go out on any loaded machine.
    target = hostile(Platform.VERTEX_AI, max_retries=20, max_retry_after=60, max_retry_seconds=10)
    target.server.always(error_answer(429, retry_delay="30s"))
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), 0)
    expect_error(outcome, "RateLimitedError", within=0)
    expect_requests(target.server, 1)


@pytest.mark.parametrize(("platform", "mode"), [(Platform.OPENAI, "sync"), (Platform.VERTEX_AI, "async")])
def test_the_callers_deadline_ends_a_rate_limited_call(hostile, platform, mode):
    target = hostile(platform, max_retries=20, max_retry_after=1)
    target.server.always(error_answer(429, [("Retry-After", "1")]))
    job_id = target.server.add_job()
    hook = target.hook()
    # Time for the first request to go out, even on a loaded machine (reading the connection and
    # building the async pool took 2.6 s once); then the 1 s waits run into the deadline.
    allowed = 1.5 * SLACK
    deadline = time.time() + allowed
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode, deadline=deadline), allowed)
    expect_error(outcome, "RateLimitedError", within=allowed)


@pytest.mark.parametrize("mode", MODES)
def test_a_sleep_that_would_pass_the_deadline_is_not_started(hostile, mode):
    # Sleeping the 30 s hint would pass the 10 s deadline: give up now. The deadline is long enough
    # for the first request to go out on any loaded machine (1 s was not, once, in CI).
    target = hostile(Platform.OPENAI, max_retries=20, max_retry_after=60)
    target.server.always(error_answer(429, [("Retry-After", "30")]))
    job_id = target.server.add_job()
    hook = target.hook()
    deadline = time.time() + 10.0
    outcome = run(lambda: call(hook, "cancel_job", job_id, mode=mode, deadline=deadline), 0)
    expect_error(outcome, "RateLimitedError", within=0)
    expect_requests(target.server, 1)
