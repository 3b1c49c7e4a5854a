"""CancelTuningJobsOperator on Bedrock (dag.test() against the emulator): the listing is narrowed on the server."""

from __future__ import annotations

from urllib.parse import parse_qs

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from tests.operators.test_bulk_cancel import bulk_dag

try:  # the DAG runner as the package ships it (main); before, the tests' own
    from airflow_ft_provider.testing.dags import run_dag_source as run_dag
except ImportError:
    from tests.dag_runner import run_dag  # type: ignore[no-redef]

NEVER_ENDS = JobScript(running_s=None, cancel_s=0.3)
BEDROCK = Platform("bedrock")


def listings(emu) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in emu.requests(BEDROCK) if r.method == "GET" and r.path.endswith("-jobs")]


def test_bulk_cancel_lists_only_in_progress_jobs_and_stops_them(emu, connections):
    running = emu.seed_many(BEDROCK, 4, display_name="sft", script=NEVER_ENDS)
    other = emu.seed(BEDROCK, display_name="eval", script=NEVER_ENDS)
    emu.seed(BEDROCK, display_name="done-sft", script=JobScript(running_s=0.0))

    result = run_dag("bulk_bedrock", bulk_dag("bulk_bedrock", BEDROCK, name_pattern="*sft*"))

    assert result.task_states == {"cancel": "success"}
    xcom = result.xcom("cancel")
    # The server answered only InProgress jobs whose name holds "sft": the ended one was never listed.
    assert (xcom["listed"], xcom["matched"]) == (4, 4)
    assert xcom["counts"]["cancel_sent"] == 4 and xcom["states_after"] == {"CANCELLED": 4}
    first = listings(emu)[0]
    assert (first["statusEquals"], first["nameContains"]) == (["InProgress"], ["sft"])
    stops = [r.path for r in emu.requests(BEDROCK) if r.method == "POST"]
    assert len(stops) == 4 and all(p.endswith("/stop") for p in stops)
    assert all(emu.job_state(BEDROCK, arn) == "Stopped" for arn in running)
    assert emu.job_state(BEDROCK, other) == "InProgress"


def test_a_filter_the_server_cannot_apply_lists_everything(emu, connections):
    emu.seed_many(BEDROCK, 2, display_name="sft", script=NEVER_ENDS)
    result = run_dag("bulk_bedrock_dry", bulk_dag("bulk_bedrock_dry", BEDROCK, name_pattern="re:^sft-", dry_run=True))
    assert result.task_states == {"cancel": "success"}
    assert result.xcom("cancel")["matched"] == 2
    assert "nameContains" not in listings(emu)[0]
