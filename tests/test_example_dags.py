"""The example DAGs: they parse, and they do what their docstrings say against the emulators."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_ft_provider.hooks.registry import get_hook
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import CONN_TYPES, PLATFORMS, connection_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


def example(dag_id: str) -> str:
    return (EXAMPLES / f"{dag_id}.py").read_text()


@pytest.fixture
def default_connections(emu, set_connection) -> dict[Platform, str]:
    """The connection ids the examples use: ``ft_<platform>_default``."""
    return {p: set_connection(f"{CONN_TYPES[p]}_default", connection_dict(emu, p)) for p in PLATFORMS}


def test_example_dags_parse_without_errors():
    try:  # moved in Airflow 3.2; examples are off through AIRFLOW__CORE__LOAD_EXAMPLES
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {p.stem for p in EXAMPLES.glob("example_*.py")}


@pytest.mark.parametrize("platform", [Platform.VERTEX_AI, Platform.DASHSCOPE])
def test_cancel_one_job_given_as_param(emu, default_connections, platform):
    job_id = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.5))
    result = run_dag_source(
        "example_cancel_tuning_job",
        example("example_cancel_tuning_job"),
        conf={"conn_id": default_connections[platform], "job_id": job_id},
    )
    assert result.task_states == {"cancel_and_confirm": "success"}
    assert result.xcom("cancel_and_confirm")["state"] == "CANCELLED"


SWEPT = (Platform.VERTEX_AI, Platform.DASHSCOPE, Platform.TOGETHER, Platform.OPENAI)


def test_sweep_as_shipped_is_a_dry_run(emu, default_connections):
    """Copied and unpaused as it is, the sweep lists what it would cancel and sends no cancel."""
    old = {p: emu.seed(p, script=JobScript(running_s=None), created_ago_s=3 * 3600) for p in SWEPT}
    result = run_dag_source("example_sweep_long_running_tuning_jobs", example("example_sweep_long_running_tuning_jobs"))
    assert result.state == "success", result.task_states
    report = result.xcom("cancel_jobs_running_over_2h")  # one of the mapped tasks' reports
    assert report["dry_run"] is True and report["counts"]["dry_run"] == 1, report
    for platform in SWEPT:
        assert [r for r in emu.requests(platform) if r.is_cancel] == [], platform
        assert emu.job_phase(platform, old[platform]) == "running", platform


def test_sweep_cancels_only_jobs_running_over_two_hours(emu, default_connections):
    old, fresh = {}, {}
    for platform in SWEPT:
        old[platform] = emu.seed(platform, script=JobScript(running_s=None, cancel_s=0.3), created_ago_s=3 * 3600)
        fresh[platform] = emu.seed(platform, script=JobScript(running_s=None), created_ago_s=600)
    result = run_dag_source(
        "example_sweep_long_running_tuning_jobs",
        example("example_sweep_long_running_tuning_jobs"),
        conf={"dry_run": False},  # going live, as the example's docstring says
    )
    assert result.state == "success", result.task_states
    for platform in old:
        hook = get_hook(default_connections[platform])
        # What the platform reports (OpenAI reports "cancelled" while its emulator is still winding down).
        assert hook.get_job(old[platform]).state is TuningJobState.CANCELLED
        assert hook.get_job(fresh[platform]).state is TuningJobState.RUNNING


def test_pipeline_cancels_its_job_when_the_check_fails(emu, default_connections):
    result = run_dag_source("example_tuning_pipeline_with_cleanup", example("example_tuning_pipeline_with_cleanup"))
    assert result.task_states == {
        "start_tuning_job": "success",
        "wait_until_running": "success",
        "check_first_checkpoint": "failed",
    }
    job_id = result.xcom("start_tuning_job")
    assert emu.job_phase(Platform.OPENAI, job_id) == "cancelled"
    cancels = [r for r in emu.requests(Platform.OPENAI) if r.path.endswith("/cancel")]
    assert len(cancels) == 1


def test_reaper_example_is_a_dry_run_that_names_the_orphans(emu, default_connections):
    from airflow_ft_provider.run_labels import run_labels

    dag_id = "example_reap_orphaned_tuning_jobs"
    gone = run_labels(Platform.VERTEX_AI, dag_id=dag_id, run_id="manual__deleted", task_id="train", map_index=-1)
    orphan = emu.seed(Platform.VERTEX_AI, labels=gone, script=JobScript(running_s=None))
    unlabelled = emu.seed(Platform.VERTEX_AI, script=JobScript(running_s=None))
    result = run_dag_source(dag_id, example(dag_id), conf={"conn_ids": [default_connections[Platform.VERTEX_AI]]})
    assert result.state == "success", result.task_states
    (report,) = [value for (task_id, key), value in result.xcoms.items() if task_id == "reap_orphaned_jobs"]
    assert report["dry_run"] is True
    assert [(row["job_id"], row["verdict"], row["reason"]) for row in report["judged"]] == [
        (orphan, "orphan", "run deleted")
    ]
    assert [row["job_id"] for row in report["jobs"]] == [orphan]
    assert not [r for r in emu.requests(Platform.VERTEX_AI) if "cancel" in r.path]
    assert emu.job_phase(Platform.VERTEX_AI, orphan) == emu.job_phase(Platform.VERTEX_AI, unlabelled) == "running"
