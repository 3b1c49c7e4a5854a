"""ReapOrphanedTuningJobsOperator through real Airflow (dag.test()) against the emulators.

Jobs are created by real tasks: each seeds a never-ending job on the emulator over its admin API,
labelled with ``run_labels`` from the task's own context, the way a DAG creates a job with a
platform's SDK. The reaper then reads the real metadata database through the Task SDK.
"""

from __future__ import annotations

import textwrap

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.run_labels import run_labels
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import conn_id_for

NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)
LABELLED = [Platform.VERTEX_AI, Platform.OPENAI, Platform.AZURE_OPENAI]

#: A task that creates labelled jobs (one per task id in the run's conf ``label_tasks``; default
#: one for itself), pushes their ids, and fails when the conf says so.
CREATE_JOB = """
@task
def train(dag_run=None, ti=None):
    from airflow_ft_provider.run_labels import run_labels
    from airflow_ft_provider.testing import JobScript, RemoteEmulator

    conf = dag_run.conf or {{}}
    with RemoteEmulator({url!r}) as emu:
        job_ids = [
            emu.seed({platform!r}, labels=run_labels({platform!r}, task_id=task), script=JobScript(running_s=None))
            for task in conf.get("label_tasks", [None])
        ]
    ti.xcom_push(key="job_ids", value=job_ids)
    if conf.get("fail"):
        raise RuntimeError("the training step failed")
"""


def dag_source(dag_id: str, url: str, platform: Platform, *, reaper: str | None = None) -> str:
    """A DAG whose ``train`` task creates labelled jobs on ``platform``, then runs ``reaper``."""
    body = CREATE_JOB.format(url=url, platform=platform.value) + (
        "train()" if reaper is None else f"train() >> {reaper}"
    )
    return (
        "from airflow.sdk import DAG, task\n"
        "from airflow_ft_provider.operators.reaper import ReapOrphanedTuningJobsOperator\n\n"
        f"with DAG({dag_id!r}, schedule=None, default_args={{'retries': 0}}) as dag:\n" + textwrap.indent(body, "    ")
    )


def reaper_dag(dag_id: str, url: str, platform: Platform, conn_id: str | None = None, **params: object) -> str:
    params = {"min_poll_interval": 0.2, "poll_interval": 0.5, "timeout": 30, **params}
    args = "".join(f", {k}={v!r}" for k, v in params.items())
    reaper = f"ReapOrphanedTuningJobsOperator(task_id='reap', conn_id={conn_id or conn_id_for(platform)!r}{args})"
    return dag_source(dag_id, url, platform, reaper=reaper)


def job_ids(result, task_id: str = "train") -> list[str]:
    return list(result.xcom(task_id, "job_ids"))


def delete_run(dag_id: str, run_id: str) -> None:
    """What the UI's and REST API's "delete run" do: the run and its task instances go."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        for run in session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id):
            session.delete(run)


def last_run_id(dag_id: str) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return str(session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first().run_id)


def cancelled(emu, platform: Platform, job_id: str) -> bool:
    return emu.job_phase(platform, job_id) in ("cancelling", "cancelled")


def cancel_requests(emu, platform: Platform) -> list:
    return [r for r in emu.requests(platform) if r.method in ("POST", "DELETE") and "cancel" in r.path]


@pytest.fixture
def fleet(emu, connections, request):
    """Jobs of a failed run, a succeeded run, a deleted run, another Airflow's DAG, and no labels."""
    platform: Platform = request.param
    trainer = f"reap_trainer_{platform.value}"
    source = dag_source(trainer, emu.url, platform)
    failed = run_dag_source(trainer, source, conf={"fail": True})
    assert failed.state == "failed"
    succeeded = run_dag_source(trainer, source)
    deleted = run_dag_source(trainer, source)
    delete_run(trainer, last_run_id(trainer))
    foreign = run_labels(platform, dag_id="another_airflows_dag", run_id="manual__1", task_id="t", map_index=-1)
    return {
        "platform": platform,
        "failed": job_ids(failed)[0],
        "succeeded": job_ids(succeeded)[0],
        "deleted": job_ids(deleted)[0],
        "foreign": emu.seed(platform, labels=foreign, script=NEVER_ENDS),
        "unlabelled": emu.seed(platform, script=NEVER_ENDS),
    }


@pytest.mark.parametrize("fleet", LABELLED, indirect=True)
def test_run_scope_cancels_exactly_the_jobs_whose_run_is_over(emu, fleet):
    platform = fleet["platform"]
    conf = {"label_tasks": ["train", "reap"]}
    result = run_dag_source(
        f"reap_run_{platform.value}", reaper_dag(f"reap_run_{platform.value}", emu.url, platform, dry_run=False), conf
    )
    assert result.state == "success", result.task_states
    own_train, own_reap = job_ids(result)
    for name in ("failed", "succeeded", "deleted"):
        assert cancelled(emu, platform, fleet[name]), name
    for job_id in (own_train, own_reap, fleet["foreign"], fleet["unlabelled"]):
        assert not cancelled(emu, platform, job_id)
    assert len(cancel_requests(emu, platform)) == 3
    report = result.xcom("reap")
    verdicts = {row["job_id"]: (row["verdict"], row["reason"]) for row in report["judged"]}
    assert verdicts[fleet["failed"]] == ("orphan", "run failed")
    assert verdicts[fleet["succeeded"]] == ("orphan", "run success")
    assert verdicts[fleet["deleted"]] == ("orphan", "run deleted")
    assert verdicts[own_train] == verdicts[own_reap] == ("keep", "run running")
    assert verdicts[fleet["foreign"]][0] == "skip"
    assert fleet["unlabelled"] not in verdicts
    assert {row["job_id"]: (row["action"], row["state_after"]) for row in report["jobs"]} == dict.fromkeys(
        (fleet["failed"], fleet["succeeded"], fleet["deleted"]), ("cancel_sent", "CANCELLED")
    )


@pytest.mark.parametrize("fleet", [Platform.VERTEX_AI], indirect=True)
def test_task_scope_also_cancels_the_job_of_a_finished_task_in_a_running_run(emu, fleet):
    platform = fleet["platform"]
    dag_id = "reap_task_scope"
    result = run_dag_source(
        dag_id, reaper_dag(dag_id, emu.url, platform, dry_run=False, scope="task"), {"label_tasks": ["train", "reap"]}
    )
    assert result.state == "success", result.task_states
    own_train, own_reap = job_ids(result)
    assert cancelled(emu, platform, own_train)
    assert not cancelled(emu, platform, own_reap)
    verdicts = {row["job_id"]: row["reason"] for row in result.xcom("reap")["judged"]}
    assert verdicts[own_train] == "task success"
    assert verdicts[own_reap] == "task running"
    assert len(cancel_requests(emu, platform)) == 4


def test_a_dag_id_vertex_ai_had_to_encode_is_reaped_when_named_in_dag_ids(emu, connections):
    platform, trainer = Platform.VERTEX_AI, "Reap.Trainer_Encoded"  # upper case and a dot: encoded
    failed = run_dag_source(trainer, dag_source(trainer, emu.url, platform), conf={"fail": True})
    (job_id,) = job_ids(failed)
    blind = run_dag_source("reap_unnamed", reaper_dag("reap_unnamed", emu.url, platform, dry_run=False))
    verdicts = {row["job_id"]: row for row in blind.xcom("reap")["judged"]}
    assert verdicts[job_id]["verdict"] == "skip" and "name it in dag_ids" in verdicts[job_id]["reason"]
    assert not cancelled(emu, platform, job_id)

    named = run_dag_source(
        "reap_named", reaper_dag("reap_named", emu.url, platform, dry_run=False, dag_ids=f"{trainer}, other_dag")
    )
    verdicts = {row["job_id"]: row for row in named.xcom("reap")["judged"]}
    assert (verdicts[job_id]["verdict"], verdicts[job_id]["reason"], verdicts[job_id]["dag_id"]) == (
        "orphan",
        "run failed",
        trainer,
    )
    assert cancelled(emu, platform, job_id)


@pytest.mark.parametrize("fleet", [Platform.OPENAI], indirect=True)
def test_dry_run_is_the_default_and_sends_nothing(emu, fleet):
    platform = fleet["platform"]
    result = run_dag_source("reap_dry", reaper_dag("reap_dry", emu.url, platform))
    assert result.state == "success"
    assert cancel_requests(emu, platform) == []
    report = result.xcom("reap")
    assert report["dry_run"] is True
    assert {row["job_id"] for row in report["jobs"]} == {fleet["failed"], fleet["succeeded"], fleet["deleted"]}


@pytest.mark.parametrize("fleet", [Platform.VERTEX_AI], indirect=True)
def test_nothing_is_cancelled_when_airflows_state_cannot_be_read(emu, fleet, monkeypatch, capfd):
    from airflow.sdk.execution_time import supervisor
    from airflow.sdk.execution_time.comms import GetTaskStates

    send = supervisor.InProcessSupervisorComms.send

    def execution_api_down(self, msg):
        if isinstance(msg, GetTaskStates):
            raise ConnectionError("the Execution API did not answer")
        return send(self, msg)

    monkeypatch.setattr(supervisor.InProcessSupervisorComms, "send", execution_api_down)
    platform = fleet["platform"]
    result = run_dag_source("reap_blind", reaper_dag("reap_blind", emu.url, platform, dry_run=False))
    assert result.state == "failed"
    assert result.task_states["reap"] == "failed"
    assert cancel_requests(emu, platform) == []
    task_log = capfd.readouterr().out  # the task's log (structlog writes it to stdout under dag.test())
    assert "[error" in task_log and "Could not read the task states of DAG 'reap_blind'" in task_log
    assert "the Execution API did not answer); nothing was cancelled" in task_log


def test_a_platform_whose_listing_hides_tags_is_refused(emu, connections):
    source = reaper_dag("reap_bedrock", emu.url, Platform.OPENAI, conn_id=conn_id_for(Platform.BEDROCK))
    result = run_dag_source("reap_bedrock", source)
    assert result.state == "failed"
    assert result.task_states["reap"] == "failed"
    assert cancel_requests(emu, Platform.BEDROCK) == []


def test_a_bad_scope_fails_at_parse():
    from airflow_ft_provider.operators.reaper import ReapOrphanedTuningJobsOperator

    with pytest.raises(ValueError, match="scope='dag'"):
        ReapOrphanedTuningJobsOperator(task_id="r", conn_id="c", scope="dag")
