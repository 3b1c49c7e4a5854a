"""Paging over HTTP: every platform's hook lists a project of many jobs from its emulator, which
serves the dialect's own paging object, and reads every job exactly once in the fewest requests."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import pytest

from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Emulator, JobScript
from tests.conftest import PLATFORMS, conn_id_for
from tests.platforms.emulated import logged_path

JOBS, PAGE = 23, 10


def list_calls(emu: Emulator, platform: Platform, path: str) -> int:
    return sum(1 for r in emu.requests(platform) if urlsplit(r.path).path == path)


@pytest.mark.parametrize("side_by_side", [False, True], ids=["page_by_page", "side_by_side"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_job_is_listed_once_across_pages(emu, connections, platform, side_by_side):
    seeded = emu.seed_many(platform, JOBS, script=JobScript(running_s=None))
    hook = hook_class_for_platform(platform)(conn_id=conn_id_for(platform))
    dialect = hook.get_conn().dialect
    path = logged_path(emu, platform, dialect.list_request(None, PAGE).url)
    emu.clear_requests()
    jobs = hook.list_all_jobs(PAGE) if side_by_side else list(hook.list_jobs(PAGE))
    ids = [job.job_id for job in jobs]
    assert len(ids) == len(set(ids)) == JOBS
    assert {i.rsplit("/", 1)[-1] for i in ids} == {i.rsplit("/", 1)[-1] for i in seeded}
    # The page asked for, or where the platform takes no size, the server's own (None: one answer).
    paging = dialect.paging
    per_page = paging.size.ask(PAGE) if paging.size else paging.read_ask({}).limit
    pages = math.ceil(JOBS / per_page) if per_page else 1
    assert list_calls(emu, platform, path) == pages
