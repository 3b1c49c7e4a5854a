"""``timeout`` bounds one whole attempt, and a caller's ``deadline`` bounds the whole call.

httpx's timeouts bound each socket read, so a server that keeps sending a little (a byte of
the head or the body every 50 ms, or chunks of a body that never ends) holds a read for as
long as it likes. The contract: ``RequestTimeoutError`` once the attempt has run ``timeout``
seconds, or when the caller's deadline comes first.
"""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.jobs import Platform
from tests.hostile.conftest import MODES, PLATFORMS
from tests.hostile.servers import delayed, endless_body, endless_pages, hang, stalled_body, trickle
from tests.hostile.support import TIMEOUT, call, expect_error, expect_requests, run

SLOW_ANSWERS = {
    "head-a-byte-at-a-time": lambda: trickle(0.05, headers_too=True),
    "body-a-byte-at-a-time": lambda: trickle(0.05),
    "body-never-ends": lambda: endless_body(every=0.05, chunk=8),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", SLOW_ANSWERS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_slow_answer_ends_at_the_attempt_timeout(hostile, platform, answer, mode):
    target = hostile(platform, timeout=TIMEOUT)
    target.server.always(SLOW_ANSWERS[answer]())
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), TIMEOUT)
    expect_error(outcome, "RequestTimeoutError", within=TIMEOUT, secret=target.key)
    expect_requests(target.server, 1)


@pytest.mark.parametrize(
    ("platform", "mode", "answer"),
    [
        (Platform.OPENAI, "sync", stalled_body),
        (Platform.VERTEX_AI, "async", stalled_body),
        (Platform.OPENAI, "async", hang),
        (Platform.VERTEX_AI, "sync", hang),
    ],
    ids=["stalled-body-openai-sync", "stalled-body-vertex-async", "no-answer-openai-async", "no-answer-vertex-sync"],
)
def test_a_stalled_answer_ends_at_the_attempt_timeout(hostile, platform, mode, answer):
    target = hostile(platform, timeout=TIMEOUT)
    target.server.always(answer())
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), TIMEOUT)
    expect_error(outcome, "RequestTimeoutError", within=TIMEOUT)


@pytest.mark.parametrize(("platform", "mode"), [(Platform.OPENAI, "sync"), (Platform.VERTEX_AI, "async")])
def test_a_timed_out_attempt_is_retried_within_max_retries(hostile, platform, mode):
    target = hostile(platform, timeout=TIMEOUT, max_retries=1)
    target.server.always(trickle(0.05))
    job_id = target.server.add_job()
    hook = target.hook()
    bound = 2 * TIMEOUT + 0.05  # two attempts and one backoff
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), bound)
    expect_error(outcome, "RequestTimeoutError", within=bound)
    expect_requests(target.server, 2)


#: Every operation in both modes, each platform in one of them (the deadline is shared code).
DEADLINE_CASES = [
    (Platform.OPENAI, "get_job", "sync"),
    (Platform.VERTEX_AI, "get_job", "async"),
    (Platform.VERTEX_AI, "cancel_job", "sync"),
    (Platform.OPENAI, "cancel_job", "async"),
]


@pytest.mark.parametrize(("platform", "operation", "mode"), DEADLINE_CASES)
def test_the_callers_deadline_cuts_an_attempt_short(hostile, platform, operation, mode):
    target = hostile(platform, timeout=30)  # the attempt timeout alone would wait 30 s
    target.server.always(endless_body(every=0.05, chunk=8))
    job_id = target.server.add_job()
    hook = target.hook()
    deadline = time.time() + 1.0
    outcome = run(lambda: call(hook, operation, job_id, mode=mode, deadline=deadline), 1.0)
    expect_error(outcome, "RequestTimeoutError", within=1.0)


@pytest.mark.parametrize(("platform", "mode"), [(Platform.OPENAI, "async"), (Platform.VERTEX_AI, "sync")])
def test_the_callers_deadline_ends_a_slow_listing(hostile, platform, mode):
    # Every page is good but takes 0.3 s, and there is always another: the deadline ends it.
    target = hostile(platform, timeout=30)
    target.server.always(delayed(0.3, endless_pages()), on="list")
    hook = target.hook()
    deadline = time.time() + 1.0
    outcome = run(lambda: call(hook, "list_jobs", mode=mode, deadline=deadline), 1.0)
    expect_error(outcome, "RequestTimeoutError", within=1.0)
