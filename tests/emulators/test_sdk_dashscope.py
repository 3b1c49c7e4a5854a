"""The dashscope SDK as the client: FineTunes.list/get/cancel against the emulator."""

from __future__ import annotations

import time

import pytest

from airflow_ft_provider.testing import JobScript
from tests.emulators.conftest import on_emulator

pytestmark = pytest.mark.sdk
dashscope = pytest.importorskip("dashscope")


@pytest.fixture
def fine_tunes(emu, monkeypatch):
    """``FineTunes`` pointed at the emulator; monkeypatch restores the module global after."""
    url = on_emulator(emu, "dashscope", "https://dashscope.aliyuncs.com/api/v1")
    assert url == emu.base_url("dashscope")
    monkeypatch.setattr(dashscope, "base_http_api_url", url)
    return dashscope.FineTunes


def test_list_get_cancel(emu, fine_tunes):
    key = emu.api_key("dashscope")
    ids = emu.seed_many("dashscope", 12, script=JobScript(running_s=None, cancel_s=0.5))
    page = fine_tunes.list(page_no=2, page_size=5, api_key=key)
    assert page.status_code == 200
    assert (page.output.total, page.output.page_no, page.output.page_size) == (12, 2, 5)
    assert [j.job_id for j in page.output.jobs] == ids[::-1][5:10]
    cancelled = fine_tunes.cancel(ids[0], api_key=key)
    assert cancelled.status_code == 200 and cancelled.output.status == "success" and cancelled.request_id
    assert fine_tunes.get(ids[0], api_key=key).output.status == "CANCELING"
    time.sleep(0.55)
    job = fine_tunes.get(ids[0], api_key=key)
    assert job.status_code == 200 and job.output.status == "CANCELED" and job.output.end_time
    again = fine_tunes.cancel(ids[0], api_key=key)
    assert again.status_code == 400 and again.code == "UnsupportedOperation"


def test_not_found_wrong_key_and_workspace(emu, fine_tunes):
    key = emu.api_key("dashscope")
    missing = fine_tunes.get("ft-202401010000-dead", api_key=key)
    assert missing.status_code == 404 and missing.code == "NotFound"
    wrong = fine_tunes.get("ft-202401010000-dead", api_key="sk-wrong")
    assert wrong.status_code == 401 and wrong.code == "InvalidApiKey"
    private = emu.seed("dashscope", workspace="ws-1")
    assert fine_tunes.get(private, api_key=key).status_code == 404
    seen = fine_tunes.get(private, api_key=key, workspace="ws-1")
    assert seen.status_code == 200 and seen.output.workspace_id == "ws-1"
    assert emu.requests("dashscope")[-1].headers["x-dashscope-workspace"] == "ws-1"


def test_module_global_is_restored_by_the_fixture():
    assert "127.0.0.1" not in dashscope.base_http_api_url
