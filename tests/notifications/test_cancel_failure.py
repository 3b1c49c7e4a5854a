"""``on_cancel_failure``: a notifier that could not cancel can fail its callback or call back.

Through real Airflow (``dag.test()``) against the emulators: the callback's failure is what Airflow
itself reports, and the user's callable runs in the task's process, writing what it got to a file.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from airflow_ft_provider.jobs import Platform
from tests.conftest import conn_id_for
from tests.notifications.test_cancel_notifier import (
    CALLBACK_RAISED,
    NEVER_ENDS,
    callback_log,
    cancelled_or_cancelling,
    one_failing_task,
    run,
)

RECORDER = """
import dataclasses, json

def record(failure):
    with open("$out", "w") as file:
        json.dump(dataclasses.asdict(failure), file)
"""


def test_raise_fails_the_callback_when_the_connection_id_has_a_typo(emu, connections, capfd):
    job_id = emu.seed(Platform.OPENAI, script=NEVER_ENDS)
    callback = 'CancelTuningJobNotifier(conn_id="ft_opneai_typo", on_cancel_failure="raise")'

    result = run("cancel_failure_raises", one_failing_task(callback), job_id=job_id)

    assert (result.state, result.task_states) == ("failed", {"train": "failed"})
    out, err = capfd.readouterr()
    log = out + err
    assert any(marker in log for marker in CALLBACK_RAISED), log[-3000:]
    assert "CancelOnFailureError" in log
    assert f"job(s) {job_id} NOT cancelled" in log
    assert "The conn_id `ft_opneai_typo` isn't defined" in log


def test_raise_stays_quiet_when_the_cancel_was_sent(emu, connections, capfd):
    job_id = emu.seed(Platform.OPENAI, script=NEVER_ENDS)
    callback = f'CancelTuningJobNotifier(conn_id="{conn_id_for(Platform.OPENAI)}", on_cancel_failure="raise")'

    run("cancel_failure_quiet", one_failing_task(callback), job_id=job_id)

    assert cancelled_or_cancelling(emu, Platform.OPENAI, job_id)
    callback_log(capfd)  # fails if Airflow reports that the callback raised


@pytest.mark.parametrize("problem", ["typo", "missing_job"])
def test_a_callable_gets_what_could_not_be_cancelled(emu, connections, tmp_path: Path, problem):
    out = tmp_path / "failure.json"
    job_id = "ftjob-missing" if problem == "missing_job" else emu.seed(Platform.OPENAI, script=NEVER_ENDS)
    conn_id = "ft_opneai_typo" if problem == "typo" else conn_id_for(Platform.OPENAI)
    body = RECORDER.replace("$out", str(out)) + textwrap.dedent(
        one_failing_task(f'CancelTuningJobNotifier(conn_id="{conn_id}", on_cancel_failure=record)')
    )

    run(f"cancel_failure_callable_{problem}", body, job_id=job_id)

    failure = json.loads(out.read_text())
    assert failure["conn_id"] == conn_id
    assert failure["job_ids"] == [job_id]
    [problem_line] = failure["problems"]
    expected = "AirflowNotFoundException" if problem == "typo" else "JobNotFoundError"
    assert "NOT cancelled" in problem_line and expected in problem_line


def test_a_callable_is_not_called_when_nothing_was_left_running(emu, connections, tmp_path: Path):
    out = tmp_path / "failure.json"
    job_id = emu.seed(Platform.OPENAI, script=NEVER_ENDS)
    body = RECORDER.replace("$out", str(out)) + textwrap.dedent(
        one_failing_task(f'CancelTuningJobNotifier(conn_id="{conn_id_for(Platform.OPENAI)}", on_cancel_failure=record)')
    )

    run("cancel_failure_callable_ok", body, job_id=job_id)

    assert cancelled_or_cancelling(emu, Platform.OPENAI, job_id)
    assert not out.exists()
