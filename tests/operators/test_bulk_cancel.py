"""CancelTuningJobsOperator through real Airflow (dag.test()) against the emulators.

Started-at semantics on the emulators: Vertex AI (``startTime``), Together (``started_at``)
and the Gemini API report when a job started running; OpenAI and DashScope do not, so
``running_longer_than`` falls back to the creation time there.
"""

from __future__ import annotations

import threading
import time

import pytest

from airflow_ft_provider.flows import cancel_flow, run_flow
from airflow_ft_provider.hooks.registry import get_hook
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.operators.bulk_cancel import BulkAction, CancelTuningJobsOperator, JobOutcome
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for, connection_dict

NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)
#: The four platforms that can cancel (the Gemini API cannot).
CANCELLABLE = [Platform.OPENAI, Platform.TOGETHER, Platform.DASHSCOPE, Platform.VERTEX_AI]
HOUR = 3600


def bulk_dag(dag_id: str, platform: Platform, **params: object) -> str:
    params = {"min_poll_interval": 0.2, "poll_interval": 0.5, "timeout": 30, **params}
    args = "".join(f", {k}={v!r}" for k, v in params.items())
    return f"""
    from airflow.sdk import DAG
    from airflow_ft_provider.operators.bulk_cancel import CancelTuningJobsOperator

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 0}}) as dag:
        CancelTuningJobsOperator(task_id="cancel", conn_id={conn_id_for(platform)!r}{args})
    """


def native(job_id: str) -> str:
    return job_id.rsplit("/", 1)[-1]


def cancels(emu, platform, job_id: str | None = None):
    return [
        r
        for r in emu.requests(platform)
        if r.method == "POST" and "cancel" in r.path and (job_id is None or native(job_id) in r.path)
    ]


def job_reads(emu, platform, job_ids):
    """GETs of single jobs (not listings)."""
    return [r for r in emu.requests(platform) if r.method == "GET" and any(native(j) in r.path for j in job_ids)]


def stopped(emu, platform, job_id: str) -> bool:
    """The emulator accepted a cancel (OpenAI already reports ``cancelled`` while it takes effect)."""
    return emu.job_phase(platform, job_id) in ("cancelling", "cancelled")


def by_id(result):
    return {native(record["job_id"]): record for record in result.xcom("cancel")["jobs"]}


@pytest.mark.parametrize("platform", CANCELLABLE)
def test_cancels_every_active_job_and_confirms_by_listing(emu, connections, platform):
    running = emu.seed_many(platform, 6, display_name="sft", script=NEVER_ENDS)
    ended = emu.seed(platform, display_name="done", script=JobScript(running_s=0.0))

    result = run_dag_source("bulk_all", bulk_dag("bulk_all", platform))

    assert result.task_states == {"cancel": "success"}
    xcom = result.xcom("cancel")
    assert xcom["platform"] == platform.value
    assert xcom["listed"] == 7 and xcom["matched"] == 6
    assert xcom["counts"] == {
        "cancel_sent": 6,
        "already_cancelling": 0,
        "already_ended": 0,
        "dry_run": 0,
        "failed": 0,
    }
    assert xcom["states_after"] == {"CANCELLED": 6}
    records = by_id(result)
    assert set(records) == {native(j) for j in running}
    for record in records.values():
        assert record["state_before"] == "RUNNING"
        assert record["state_after"] == "CANCELLED"
        assert record["action"] == "cancel_sent"
        assert record["error"] is None
        if platform is not Platform.OPENAI:  # its dialect reads no name from the emulator's jobs
            assert record["display_name"].startswith("sft-")
    assert all(stopped(emu, platform, j) for j in running)
    assert len(cancels(emu, platform)) == 6
    assert cancels(emu, platform, ended) == []
    # The listing is the read: no job is fetched on its own before its cancel. (The budget paces
    # the cancels, so they end at different times; the confirmation may read a last straggler on
    # its own when that costs fewer requests than a listing.)
    assert job_reads(emu, platform, [ended]) == []
    last_cancel = max(r.time for r in cancels(emu, platform))
    assert all(r.time > last_cancel for r in job_reads(emu, platform, running))


@pytest.mark.parametrize(
    ("platform", "reports_start"),
    [(Platform.VERTEX_AI, True), (Platform.TOGETHER, True), (Platform.OPENAI, False), (Platform.DASHSCOPE, False)],
)
def test_running_longer_than_two_hours(emu, connections, platform, reports_start):
    old = emu.seed(platform, display_name="old", created_ago_s=3 * HOUR, script=NEVER_ENDS)
    young = emu.seed(platform, display_name="young", created_ago_s=HOUR, script=NEVER_ENDS)
    # Created 3 h ago but queued for 2.5 h: running for 30 min by its start time.
    late_start = emu.seed(
        platform,
        display_name="late",
        created_ago_s=3 * HOUR,
        script=JobScript(queued_s=2.5 * HOUR, running_s=None, cancel_s=0.3),
    )

    source = bulk_dag("bulk_age", platform, running_longer_than="{{ dag_run.conf['older_than'] }}")
    result = run_dag_source("bulk_age", source, conf={"older_than": 2 * HOUR})

    assert result.task_states == {"cancel": "success"}
    expected = {native(old)} | (set() if reports_start else {native(late_start)})
    assert set(by_id(result)) == expected
    assert stopped(emu, platform, old)
    assert emu.job_phase(platform, young) == "running"
    assert stopped(emu, platform, late_start) is not reports_start


def test_name_pattern_and_labels(emu, connections):
    platform = Platform.VERTEX_AI
    target = emu.seed(platform, display_name="nightly-a", labels={"team": "ml"}, script=NEVER_ENDS)
    other_team = emu.seed(platform, display_name="nightly-b", labels={"team": "web"}, script=NEVER_ENDS)
    other_name = emu.seed(platform, display_name="adhoc-c", labels={"team": "ml"}, script=NEVER_ENDS)

    result = run_dag_source(
        "bulk_name", bulk_dag("bulk_name", platform, name_pattern="nightly-*", labels={"team": "ml"})
    )

    assert result.task_states == {"cancel": "success"}
    assert set(by_id(result)) == {native(target)}
    assert stopped(emu, platform, target)
    assert emu.job_phase(platform, other_team) == emu.job_phase(platform, other_name) == "running"


def test_openai_metadata_counts_as_labels(emu, connections):
    platform = Platform.OPENAI
    target = emu.seed(platform, labels={"team": "ml", "env": "dev"}, script=NEVER_ENDS)
    other = emu.seed(platform, labels={"team": "web"}, script=NEVER_ENDS)
    unlabelled = emu.seed(platform, script=NEVER_ENDS)
    result = run_dag_source("bulk_meta", bulk_dag("bulk_meta", platform, labels={"team": "ml"}))
    assert set(by_id(result)) == {native(target)}
    assert emu.job_phase(platform, other) == emu.job_phase(platform, unlabelled) == "running"


def test_regex_name_pattern_from_a_template(emu, connections):
    platform = Platform.DASHSCOPE
    hits = emu.seed_many(platform, 2, display_name="exp42", script=NEVER_ENDS)
    miss = emu.seed(platform, display_name="prod", script=NEVER_ENDS)
    source = bulk_dag("bulk_regex", platform, name_pattern="re:^{{ dag_run.conf['prefix'] }}\\d+-")
    result = run_dag_source("bulk_regex", source, conf={"prefix": "exp"})
    assert set(by_id(result)) == {native(j) for j in hits}
    assert emu.job_phase(platform, miss) == "running"


def test_label_filter_on_a_platform_without_labels_is_refused(emu, connections):
    """It could never match: the sweep would go green having cancelled nothing."""
    platform = Platform.TOGETHER
    emu.seed_many(platform, 3, script=NEVER_ENDS)
    result = run_dag_source("bulk_nolabels", bulk_dag("bulk_nolabels", platform, labels={"team": "ml"}))
    assert result.task_states == {"cancel": "failed"}
    assert result.xcom("cancel") is None
    assert emu.requests(platform) == []  # refused before the listing


def test_dry_run_sends_nothing(emu, connections):
    platform = Platform.VERTEX_AI
    jobs = emu.seed_many(platform, 3, script=NEVER_ENDS)
    result = run_dag_source("bulk_dry", bulk_dag("bulk_dry", platform, dry_run=True))
    assert result.task_states == {"cancel": "success"}
    xcom = result.xcom("cancel")
    assert xcom["dry_run"] is True
    assert xcom["counts"]["dry_run"] == 3
    assert {r["action"] for r in xcom["jobs"]} == {"dry_run"}
    assert {r["state_after"] for r in xcom["jobs"]} == {None}
    assert [r for r in emu.requests(platform) if r.method == "POST" and r.path != "/token"] == []
    assert all(emu.job_phase(platform, j) == "running" for j in jobs)


def test_partial_failure_cancels_the_others_and_fails_the_task(emu, connections):
    platform = Platform.OPENAI
    good = emu.seed_many(platform, 4, script=NEVER_ENDS)
    outage = emu.seed(platform, display_name="outage", script=NEVER_ENDS)
    # Listed as running, but the platform refuses to cancel it: the refusal stands.
    refused = emu.seed(platform, display_name="refused", script=JobScript(running_s=0.0), native_state="running")
    emu.inject(platform, Fault.status(500, count=None, path=native(outage), method="POST"))

    result = run_dag_source("bulk_partial", bulk_dag("bulk_partial", platform))

    assert result.task_states == {"cancel": "failed"}
    xcom = result.xcom("cancel")
    assert xcom["counts"]["cancel_sent"] == 4 and xcom["counts"]["failed"] == 2
    records = by_id(result)
    for job_id in good:
        assert records[native(job_id)]["state_after"] == "CANCELLED"
        assert stopped(emu, platform, job_id)
    assert records[native(outage)]["action"] == "failed"
    assert "http=500" in records[native(outage)]["error"]
    assert len(cancels(emu, platform, outage)) == 6  # the hook's own retries: 1 + max_retries
    assert records[native(refused)]["action"] == "failed"
    assert "http=400" in records[native(refused)]["error"]
    # A refusal is checked with one read: was the listing stale?
    assert len(job_reads(emu, platform, [refused])) == 1


def test_stale_listing_refusal_counts_as_already_ended(emu, connections):
    """A job that ends between the listing and the cancel is reported as it is, not failed."""
    platform = Platform.VERTEX_AI
    job_id = emu.seed(platform, script=JobScript(running_s=0.0), native_state="JOB_STATE_RUNNING")
    hook = get_hook(conn_id_for(platform))
    [listed] = list(hook.list_jobs())
    assert listed.state.value == "RUNNING"
    emu.set_native_state(platform, job_id, None)  # it ends (SUCCEEDED) right after the listing
    outcome = JobOutcome.of(run_flow(hook, cancel_flow(listed.job_id, listed=listed)))
    assert outcome.action is BulkAction.ALREADY_ENDED
    assert outcome.after is not None and outcome.after.state.value == "SUCCEEDED"
    assert len(cancels(emu, platform, job_id)) == 1


def test_already_cancelling_gets_no_second_cancel_and_is_waited_for(emu, connections):
    platform = Platform.TOGETHER
    cancelling = emu.seed(platform, script=NEVER_ENDS, native_state="cancel_requested")
    running = emu.seed(platform, script=NEVER_ENDS)

    def finish_after_first_listing() -> None:  # the cancel someone else sent takes effect
        deadline = time.monotonic() + 30
        while not [r for r in emu.requests(platform) if r.method == "GET"] and time.monotonic() < deadline:
            time.sleep(0.01)
        emu.set_native_state(platform, cancelling, "cancelled")

    helper = threading.Thread(target=finish_after_first_listing)
    helper.start()
    result = run_dag_source("bulk_cancelling", bulk_dag("bulk_cancelling", platform, states=["RUNNING", "CANCELLING"]))
    helper.join()

    assert result.task_states == {"cancel": "success"}
    records = by_id(result)
    assert records[native(cancelling)]["action"] == "already_cancelling"
    assert records[native(cancelling)]["state_before"] == "CANCELLING"
    assert records[native(cancelling)]["state_after"] == "CANCELLED"
    assert records[native(running)]["action"] == "cancel_sent"
    assert cancels(emu, platform, cancelling) == []


@pytest.mark.parametrize("platform", [Platform.VERTEX_AI, Platform.OPENAI])
def test_rate_limited_run_backs_off_and_cancels_everything(emu, connections, set_connection, platform):
    jobs = emu.seed_many(platform, 40, script=JobScript(running_s=None, cancel_s=0.1))
    emu.set_rate_limit(platform, per_second=25, burst=5)
    # A budget far above the limit (the default one paces below it, and no 429 would come).
    set_connection(conn_id_for(platform), connection_dict(emu, platform, max_requests_per_minute=60_000))

    result = run_dag_source("bulk_throttled", bulk_dag("bulk_throttled", platform, max_concurrency=16))

    assert result.task_states == {"cancel": "success"}
    assert result.xcom("cancel")["states_after"] == {"CANCELLED": 40}
    assert all(stopped(emu, platform, j) for j in jobs)
    throttled = [r for r in emu.requests(platform) if r.status == 429]
    assert throttled, "the rate limit was never hit: the test proves nothing"
    # Every job got exactly one accepted cancel, whatever number of 429s came first.
    accepted = [r for r in cancels(emu, platform) if r.status == 200]
    assert len(accepted) == 40


def test_max_jobs_cap_refuses_before_sending_anything(emu, connections):
    platform = Platform.DASHSCOPE
    jobs = emu.seed_many(platform, 5, script=NEVER_ENDS)
    for dry_run in (False, True):
        result = run_dag_source("bulk_cap", bulk_dag("bulk_cap", platform, max_jobs=4, dry_run=dry_run))
        assert result.task_states == {"cancel": "failed"}
        assert result.xcom("cancel") is None
    assert cancels(emu, platform) == []
    assert all(emu.job_phase(platform, j) == "running" for j in jobs)

    result = run_dag_source("bulk_cap", bulk_dag("bulk_cap", platform, max_jobs=5))
    assert result.task_states == {"cancel": "success"}


def test_gemini_cannot_cancel_so_every_job_fails(emu, connections):
    platform = Platform.GEMINI
    jobs = emu.seed_many(platform, 3, script=NEVER_ENDS)
    result = run_dag_source("bulk_gemini", bulk_dag("bulk_gemini", platform, max_concurrency=1))
    assert result.task_states == {"cancel": "failed"}
    xcom = result.xcom("cancel")
    assert xcom["counts"]["failed"] == 3
    assert all(r["error"].startswith("Cancelling tuning is not supported on the Gemini API") for r in xcom["jobs"])
    # The platform said it has no such method: the other jobs are not asked again.
    assert len(cancels(emu, platform)) == 1
    assert all(emu.job_phase(platform, j) == "running" for j in jobs)


@pytest.mark.parametrize(("fail_if_not_cancelled", "task_state"), [(False, "success"), (True, "failed")])
def test_job_that_wins_the_race(emu, connections, fail_if_not_cancelled, task_state):
    platform = Platform.VERTEX_AI
    winner = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.2, cancel_outcome="succeeded"))
    emu.seed(platform, script=NEVER_ENDS)
    source = bulk_dag("bulk_race", platform, fail_if_not_cancelled=fail_if_not_cancelled)
    result = run_dag_source("bulk_race", source)
    assert result.task_states == {"cancel": task_state}
    assert by_id(result)[native(winner)]["state_after"] == "SUCCEEDED"
    assert result.xcom("cancel")["states_after"] == {"SUCCEEDED": 1, "CANCELLED": 1}


def test_confirmation_timeout_fails_after_reporting(emu, connections):
    platform = Platform.VERTEX_AI
    emu.seed_many(platform, 2, script=JobScript(running_s=None, cancel_s=60))
    result = run_dag_source("bulk_timeout", bulk_dag("bulk_timeout", platform, timeout=1))
    assert result.task_states == {"cancel": "failed"}
    xcom = result.xcom("cancel")
    assert xcom["counts"]["cancel_sent"] == 2
    assert xcom["states_after"] == {"CANCELLING": 2}


def test_without_waiting_reports_what_the_cancel_answered(emu, connections):
    platform = Platform.VERTEX_AI  # answers {}: no state after the cancel
    emu.seed_many(platform, 2, script=JobScript(running_s=None, cancel_s=60))
    result = run_dag_source("bulk_nowait", bulk_dag("bulk_nowait", platform, wait_for_completion=False))
    assert result.task_states == {"cancel": "success"}
    assert {r["state_after"] for r in result.xcom("cancel")["jobs"]} == {None}
    assert len([r for r in emu.requests(platform) if r.method == "GET"]) == 1  # the listing, no confirmation


def test_job_deleted_before_confirmation_is_reported_gone(emu, connections):
    platform = Platform.OPENAI
    # OpenAI shows no intermediate state: this job reads "running" for 30 s after the cancel.
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=30, cancel_outcome="succeeded"))
    # Deleted right after the cancel is accepted: the listing no longer shows it, the read says 404.
    source = bulk_dag("bulk_gone", platform, min_poll_interval=1.0)

    def delete_soon() -> None:
        deadline = time.monotonic() + 20
        while not cancels(emu, platform) and time.monotonic() < deadline:
            time.sleep(0.02)
        emu.store.delete(platform, native(job_id))

    deleter = threading.Thread(target=delete_soon)
    deleter.start()
    result = run_dag_source("bulk_gone", source)
    deleter.join()
    assert result.task_states == {"cancel": "success"}
    record = by_id(result)[native(job_id)]
    assert "no longer exists" in record["error"]
    assert len(job_reads(emu, platform, [job_id])) == 1


class TestOperatorArguments:
    def test_literal_filter_mistakes_fail_at_dag_parse(self):
        with pytest.raises(ValueError, match="states: SUCCEEDED is terminal"):
            CancelTuningJobsOperator(task_id="t", conn_id="c", states=["SUCCEEDED"])
        with pytest.raises(ValueError, match="max_concurrency=0 must be at least 1"):
            CancelTuningJobsOperator(task_id="t", conn_id="c", max_concurrency=0)

    def test_templated_filter_is_checked_when_rendered(self):
        op = CancelTuningJobsOperator(task_id="t", conn_id="c", name_pattern="{{ params.p }}", labels={"a": "{{ x }}"})
        assert op.name_pattern == "{{ params.p }}"
