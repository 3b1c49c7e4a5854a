"""Drill: a DAG run misses its Deadline Alert; the alert's callback, in the triggerer, cancels the
job the run started and confirms it cancelled."""

from __future__ import annotations

import pytest

from airflow_ft_provider.job_display import outcome_line
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from tests.e2e.deployment import conn_id, wait_for
from tests.e2e.helpers import accepted_cancels, job_requests, seed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_missed_deadline_cancels_and_confirms_the_runs_job(deployment, api, emu):
    # A job that takes a few seconds to stop once cancelled, so the callback has an end to wait for.
    job_id = seed(emu, Platform.TOGETHER, display_name="e2e-deadline", script=JobScript(cancel_s=3.0))
    run = api.trigger("e2e_missed_deadline", {"conn_id": conn_id(Platform.TOGETHER), "job_id": job_id})
    api.wait_task_state("e2e_missed_deadline", run, "start_training", {"success"}, timeout=180)
    assert emu.job_phase(Platform.TOGETHER, job_id) == "running"  # nothing cancels it before the deadline

    wait_for(
        f"job {job_id} to be cancelled by the deadline alert's callback",
        lambda: emu.job_phase(Platform.TOGETHER, job_id) == "cancelled",
        timeout=240,
        diag=lambda: api.explain("e2e_missed_deadline", run) + "\n" + deployment.processes["triggerer"].tail(60),
    )
    # The run was still going: the deadline, not the end of the run, stopped the job.
    assert api.dag_run("e2e_missed_deadline", run)["state"] == "running"
    assert len(accepted_cancels(job_requests(emu, Platform.TOGETHER, job_id))) == 1

    # The callback ran in the triggerer and said what it did: cancel sent, then confirmed.
    triggerer_log = deployment.processes["triggerer"].log_path
    confirmed = outcome_line("on missed deadline: CANCELLED (confirmed)", "together", job_id)
    wait_for("the callback's confirmation in the triggerer's log", lambda: confirmed in triggerer_log.read_text(), 60)
    lines = [line for line in triggerer_log.read_text().splitlines() if job_id in line]
    print("\n".join(lines))
    sent = outcome_line("", "together", job_id, "was RUNNING")  # " · <job> · was RUNNING"
    assert any("on missed deadline: cancel sent" in line and sent in line for line in lines), lines
    assert api.wait_run("e2e_missed_deadline", run, timeout=180)["state"] == "success"
