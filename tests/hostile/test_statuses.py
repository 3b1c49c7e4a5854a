"""Only a documented 200 is success: redirects are never followed, odd 2xx are refused, and a
read answered about another job is not that job.

Each answer below carries a job-shaped body, so a client that parses whatever comes back would
report success (and a cancel as sent). The contract: ``UnexpectedResponseError``, not retried,
the redirect's target never asked (it would receive the credential).
"""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from tests.hostile.conftest import MODES, PLATFORMS
from tests.hostile.servers import job_answer, no_content, redirect
from tests.hostile.support import call, expect_error, expect_requests, expect_value, run

REDIRECTS = [300, 301, 302, 303, 304, 307, 308]
ODD_SUCCESS = [201, 202, 203, 204, 206]
#: The hook's calls, with the server's name for each.
OPERATIONS = {"get_job": "get", "cancel_job": "cancel", "list_jobs": "list"}


def odd_answer(status: int, trap_url: str):
    """The answer for ``status``: 204/304 carry no body; the others a job and (3xx) a Location."""
    if status in (204, 304):
        return no_content(status)
    if 300 <= status < 400:
        return redirect(status, f"{trap_url}/v1/fine_tuning/jobs/ftjob-elsewhere")
    return job_answer(status)


def refused(target, trap, operation: str, status: int, mode: str) -> None:
    server = target.server
    server.always(odd_answer(status, trap.url), on=OPERATIONS[operation])
    job_id = server.add_job()
    hook = target.hook()
    args = () if operation == "list_jobs" else (job_id,)
    outcome = run(lambda: call(hook, operation, *args, mode=mode), 1)
    expect_error(outcome, "UnexpectedResponseError", within=1, secret=target.key)
    expect_requests(server, 1, why="an unexpected answer is not retried")
    assert trap.count() == 0, "the redirect was followed"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_redirect_of_a_read_is_refused(hostile, trap, platform, status, mode):
    refused(hostile(platform, max_retries=3), trap, "get_job", status, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", ODD_SUCCESS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_undocumented_success_status_of_a_read_is_refused(hostile, trap, platform, status, mode):
    refused(hostile(platform, max_retries=3), trap, "get_job", status, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [302, 307, 308, 202, 204])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_cancel_answered_other_than_200_is_not_sent(hostile, trap, platform, status, mode):
    refused(hostile(platform, max_retries=3), trap, "cancel_job", status, mode)


@pytest.mark.parametrize("status", [302, 202])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_listing_answered_other_than_200_is_refused(hostile, trap, platform, status):
    refused(hostile(platform, max_retries=3), trap, "list_jobs", status, "sync")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_test_button_on_a_redirect_fails_without_the_key(hostile, trap, platform):
    from airflow_ft_provider.hooks.registry import hook_class_for_platform

    target = hostile(platform)
    target.server.always(redirect(302, f"{trap.url}/steal"))
    outcome = run(lambda: hook_class_for_platform(platform)(conn_id=target.conn_id).test_connection(), 1)
    ok, message = expect_value(outcome, 1)
    assert not ok, f"the Test button passed on a redirect: {message}"
    assert "302" in message, message
    assert target.key not in message
    assert trap.count() == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_read_answered_about_another_job_is_refused(hostile, platform, mode):
    target = hostile(platform, max_retries=3)
    asked, other = target.server.add_job(), target.server.add_job()
    target.server.always(job_answer(job_id=other), on="get")
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", asked, mode=mode), 1)
    expect_error(outcome, "UnexpectedResponseError", within=1, secret=target.key)
    expect_requests(target.server, 1)


def test_vertex_ai_naming_the_project_by_number_is_the_same_job(hostile):
    # Vertex AI answers with the project *number* where the request named the project id.
    target = hostile(Platform.VERTEX_AI)
    job_id = target.server.add_job()
    by_number = target.server.speaker.name(job_id, project="123456789012")
    target.server.always(job_answer(name=by_number), on="get")
    hook = target.hook()
    job = expect_value(run(lambda: call(hook, "get_job", job_id), 1), 1)
    assert job.job_id.endswith(f"/tuningJobs/{job_id}")
