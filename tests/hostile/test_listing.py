"""A listing ends: at ``max_pages`` pages, ``max_listed_jobs`` jobs, a repeated or absurd token.

``ListingLimitError`` (not retried) names what was exceeded. A server that always says "there
is more" with a fresh token would otherwise hold a task (and its memory) for ever; the hostile
server here gives up after 300 pages, so a client without limits ends with a too-long list.
"""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from tests.hostile.conftest import MODES, PLATFORMS
from tests.hostile.servers import endless_pages, page_of, reply
from tests.hostile.support import call, expect_error, expect_requests, expect_value, run


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_endless_pages_stop_at_max_pages(hostile, platform, mode):
    target = hostile(platform, max_pages=5, max_retries=2)
    target.server.always(endless_pages(jobs=2))
    hook = target.hook()
    outcome = run(lambda: call(hook, "list_jobs", mode=mode), 1)
    expect_error(outcome, "ListingLimitError", within=1, secret=target.key)
    assert target.server.count("list") <= 5, f"{target.server.count('list')} pages fetched with max_pages=5"


@pytest.mark.parametrize(("platform", "mode"), [(Platform.OPENAI, "sync"), (Platform.VERTEX_AI, "async")])
def test_too_many_jobs_stop_at_max_listed_jobs(hostile, platform, mode):
    target = hostile(platform, max_listed_jobs=1200)
    target.server.always(endless_pages(jobs=500))
    hook = target.hook()
    outcome = run(lambda: call(hook, "list_jobs", mode=mode), 1)
    expect_error(outcome, "ListingLimitError", within=1)
    assert target.server.count("list") <= 3, f"{target.server.count('list')} pages of 500 with max_listed_jobs=1200"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_repeated_page_token_stops_the_listing(hostile, platform, mode):
    # Vertex AI: the same nextPageToken again; OpenAI: the same jobs again, so the same `after`.
    target = hostile(platform, max_retries=2)
    target.server.always(page_of(2, "same-token", fresh=False))
    hook = target.hook()
    outcome = run(lambda: call(hook, "list_jobs", mode=mode), 1)
    expect_error(outcome, "ListingLimitError", within=1)
    assert target.server.count("list") <= 2


@pytest.mark.parametrize("mode", MODES)
def test_a_64_kib_page_token_is_never_sent(hostile, mode):
    target = hostile(Platform.VERTEX_AI)
    target.server.then(page_of(2, "t" * 65536))
    hook = target.hook()
    outcome = run(lambda: call(hook, "list_jobs", mode=mode), 1)
    expect_error(outcome, "ListingLimitError", within=1)
    expect_requests(target.server, 1, why="the 64 KiB token must not go into a request")


def test_a_4096_character_page_token_is_followed(hostile):
    target = hostile(Platform.VERTEX_AI)
    token = "t" * 4096
    target.server.then(page_of(2, token))  # then the (empty) store: the last page
    hook = target.hook()
    jobs = expect_value(run(lambda: call(hook, "list_jobs"), 1), 1)
    assert len(jobs) == 2
    assert target.server.of("list")[1].query["pageToken"] == token


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_listing_of_exactly_the_limits_is_complete(hostile, platform):
    target = hostile(platform, max_pages=5, max_listed_jobs=10)
    job_ids = [target.server.add_job() for _ in range(10)]
    hook = target.hook()
    jobs = expect_value(run(lambda: call(hook, "list_jobs", page_size=2), 1), 1)
    assert [j.job_id.rsplit("/", 1)[-1] for j in jobs] == job_ids
    expect_requests(target.server, 5, "list")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_listed_job_id_over_1024_characters_is_malformed(hostile, platform, mode):
    target = hostile(platform)
    long_id = "ftjob-" + "a" * 2000 if platform is Platform.OPENAI else "1" * 2000

    def answer(ex):
        reply(200, ex.speaker.page([ex.speaker.job(long_id)], None))(ex)

    target.server.always(answer)
    hook = target.hook()
    outcome = run(lambda: call(hook, "list_jobs", mode=mode), 1)
    expect_error(outcome, "MalformedResponseError", within=1)
