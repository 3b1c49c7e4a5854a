"""The watsonx.ai hook on its emulator: the API key exchanged at IAM through the transport, the token
refreshed before it expires and after a 401 (once), one exchange at a time, the key never shown."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from airflow_ft_provider.errors import AuthenticationError, ConnectionConfigError, RequestTimeoutError
from airflow_ft_provider.hooks.ibm_iam import IamTokenAuth
from airflow_ft_provider.hooks.watsonx import WatsonxTuningHook
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Fault, JobScript, airflow_connection
from airflow_ft_provider.testing.platforms.watsonx import DEFAULT_PROJECT_ID, IAM_TOKEN_PATH, SPEC

PLATFORM = "watsonx"
CONN_ID = "watsonx_case"
NEVER_ENDS = JobScript(running_s=None)


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator's IAM, its token lifetime restored after (a test may lower it)."""
    monkeypatch.setattr(SPEC, "token_lifetime_s", SPEC.token_lifetime_s)
    return SPEC


def hook_on(set_connection: Any, emu: Any, **extra: Any) -> WatsonxTuningHook:
    process_cache.reset()  # a fresh auth per test: the exchanges counted are this test's
    set_connection(CONN_ID, airflow_connection(emu, PLATFORM, max_retries=0, **extra))
    return WatsonxTuningHook(conn_id=CONN_ID)


def exchanges(emu: Any) -> list[Any]:
    return [r for r in emu.requests(PLATFORM) if r.path == IAM_TOKEN_PATH]


def reads(emu: Any) -> list[Any]:
    return [r for r in emu.requests(PLATFORM) if r.path.startswith("/ml/v1/")]


def test_the_key_is_exchanged_once_and_never_sent_to_the_api(emu, set_connection, iam):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    hook = hook_on(set_connection, emu)
    for _ in range(3):
        assert hook.get_job(job_id).state is TuningJobState.RUNNING
    assert len(exchanges(emu)) == 1  # counted in this emulator's log: the IAM token count is process-wide
    key = emu.api_key(PLATFORM)
    assert all(key not in (r.headers.get("authorization") or "") for r in reads(emu))
    assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in reads(emu))
    assert all(f"project_id={DEFAULT_PROJECT_ID}" in r.query and "version=" in r.query for r in reads(emu))


def test_a_token_near_its_expiry_is_refreshed_before_use(emu, set_connection, iam):
    iam.token_lifetime_s = 5.0  # refreshed a fifth of its life (1 s) before it expires
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    hook = hook_on(set_connection, emu)
    hook.get_job(job_id)  # one exchange: its token has 4 s before its margin, ample on a loaded machine
    # The token came before get_job returned: 4.05 s later it is inside its margin (or, on a slow
    # machine, expired): either way the held token is not used again.
    threading.Event().wait(4.05)
    hook.get_job(job_id)
    assert len(exchanges(emu)) == 2
    assert [r.status for r in reads(emu)] == [200, 200]


def test_a_revoked_token_gets_one_401_and_one_new_token(emu, set_connection, iam):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    hook = hook_on(set_connection, emu)
    hook.get_job(job_id)
    iam.revoke_tokens()
    assert hook.get_job(job_id).state is TuningJobState.RUNNING
    assert [r.status for r in reads(emu)] == [200, 401, 200]
    assert len(exchanges(emu)) == 2


def test_an_expired_token_is_refused_with_ibms_body(emu, set_connection, iam):
    iam.token_lifetime_s = 0.5
    token = iam.issue_token()["access_token"]
    threading.Event().wait(0.6)
    import httpx

    answer = httpx.get(
        emu.base_url(PLATFORM) + "/ml/v1/fine_tunings",
        params={"version": "2026-10-14", "project_id": DEFAULT_PROJECT_ID},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "authentication_token_expired"


def test_many_callers_share_one_exchange(emu, set_connection, iam):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    emu.inject(PLATFORM, Fault.slow(0.5, path=IAM_TOKEN_PATH))
    hook_on(set_connection, emu)

    async def main() -> list[Any]:
        try:
            hooks = [WatsonxTuningHook(conn_id=CONN_ID) for _ in range(8)]
            return await asyncio.gather(*(h.aget_job(job_id) for h in hooks))
        finally:
            await process_cache.aclose()

    jobs = asyncio.run(main())
    assert {job.state for job in jobs} == {TuningJobState.RUNNING}
    assert len(exchanges(emu)) == 1


def test_the_exchange_runs_off_the_event_loop(emu, set_connection, iam, monkeypatch):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    hook_on(set_connection, emu)
    fetched_in: list[str] = []
    real_fetch = IamTokenAuth.fetch

    def fetch(self: IamTokenAuth, http: Any) -> Any:
        fetched_in.append(threading.current_thread().name)
        return real_fetch(self, http)

    monkeypatch.setattr(IamTokenAuth, "fetch", fetch)

    async def main() -> tuple[str, Any]:
        try:
            return threading.current_thread().name, await WatsonxTuningHook(conn_id=CONN_ID).aget_job(job_id)
        finally:
            await process_cache.aclose()

    loop_thread, job = asyncio.run(main())
    assert job.state is TuningJobState.RUNNING
    assert fetched_in == ["ft-credential-watsonx"] and loop_thread not in fetched_in


def test_a_silent_iam_ends_at_the_callers_deadline_with_a_typed_error(emu, set_connection, iam):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    emu.inject(PLATFORM, Fault.slow(5.0, path=IAM_TOKEN_PATH))
    hook = hook_on(set_connection, emu, timeout=1)
    with pytest.raises(RequestTimeoutError):
        hook.get_job(job_id)
    assert reads(emu) == []


def test_a_wrong_key_is_iams_refusal_without_the_key(emu, set_connection, iam):
    hook = hook_on(set_connection, emu)
    set_connection(CONN_ID, airflow_connection(emu, PLATFORM, key="wrong-planted-key", max_retries=0))
    with pytest.raises(AuthenticationError) as info:
        WatsonxTuningHook(conn_id=CONN_ID).list_all_jobs()
    assert "BXNIM0415E" in str(info.value) and "wrong-planted-key" not in str(info.value)
    assert hook.test_connection()[0] is False


def test_test_connection_lists_one_fine_tuning(emu, set_connection, iam):
    emu.seed(PLATFORM, script=NEVER_ENDS)
    ok, message = hook_on(set_connection, emu).test_connection()
    assert ok, message
    (listing,) = reads(emu)
    assert "limit=1" in listing.query


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"project_id": None}, "neither is set"),
        ({"space_id": "space-1"}, "both are set"),
        ({"version": "26-10-14"}, "version"),
        ({"iam_url": "http://iam.example.com/identity/token"}, "iam_url"),
    ],
)
def test_a_connection_that_cannot_work_is_refused_by_name(emu, set_connection, extra, named):
    conn = airflow_connection(emu, PLATFORM)
    conn["extra"] = {k: v for k, v in {**conn["extra"], **extra}.items() if v is not None}
    set_connection(CONN_ID, conn)
    with pytest.raises(ConnectionConfigError, match=named):
        WatsonxTuningHook(conn_id=CONN_ID).prepare()


def test_a_space_scopes_the_calls(emu, set_connection, iam):
    job_id = emu.seed(PLATFORM, space_id="space-7", script=NEVER_ENDS)
    emu.seed(PLATFORM, script=NEVER_ENDS)  # in the project: not in the space's listing
    conn = airflow_connection(emu, PLATFORM)
    conn["extra"] = {**{k: v for k, v in conn["extra"].items() if k != "project_id"}, "space_id": "space-7"}
    set_connection(CONN_ID, conn)
    hook = WatsonxTuningHook(conn_id=CONN_ID)
    assert [job.job_id for job in hook.list_all_jobs()] == [job_id]
    assert all("space_id=space-7" in r.query and "project_id" not in r.query for r in reads(emu))


def test_cancel_is_a_delete_without_hard_delete(emu, set_connection, iam):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    hook = hook_on(set_connection, emu)
    assert hook.cancel_job(job_id) is None
    (delete,) = [r for r in reads(emu) if r.method == "DELETE"]
    assert delete.status == 204 and "hard_delete" not in delete.query
    assert hook.get_job(job_id).state is TuningJobState.CANCELLED


def test_an_access_token_extra_is_used_as_given(emu, set_connection, iam):
    job_id = emu.seed(PLATFORM, script=NEVER_ENDS)
    conn = airflow_connection(emu, PLATFORM, access_token=iam.issue_token()["access_token"])
    set_connection(CONN_ID, {**conn, "password": None})
    assert WatsonxTuningHook(conn_id=CONN_ID).get_job(job_id).state is TuningJobState.RUNNING
    assert exchanges(emu) == []  # no exchange: the token is used as given
    set_connection(CONN_ID, conn)  # the API key too: which one is meant is not guessed
    with pytest.raises(ConnectionConfigError, match="Keep one of them"):
        WatsonxTuningHook(conn_id=CONN_ID).prepare()
