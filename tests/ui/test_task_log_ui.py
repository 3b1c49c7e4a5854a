"""A deferred Vertex AI cancel's task log in the real UI: the outcome is readable without scrolling.

Vertex AI resource names are long: a log line that started with one pushed ``cancel sent`` and
``CANCELLED`` past the right edge of the log view. Here a real scheduler, dag-processor and
triggerer (LocalExecutor, the UI session's SQLite home) run a deferrable ``CancelTuningJobOperator``
against the Vertex AI emulator; the browser opens the task's log as a user would, and the test
measures where the outcome's text is drawn against the visible width of the log view.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_ft_provider import version_compat
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Emulator, JobScript
from tests.conftest import conn_id_for, connection_dict
from tests.ui.conftest import ApiServer, Browser, _server_env, _stop, api_json

pytestmark = pytest.mark.ui

DAG_ID = "ui_deferred_vertex_cancel"
RUN_SECONDS = 240.0
#: The lines whose outcome must be on screen, and the text that opens each.
OUTCOMES = ("cancel sent, confirming...", "CANCELLED (confirmed)")


@pytest.fixture
def components(api_server: ApiServer, emulator: Emulator) -> Iterator[dict[str, str]]:
    """Scheduler, dag-processor and triggerer beside the session's API server, each its own process
    group (stopped by id); the Vertex AI connection in their environment, as a deployment's secret."""
    conn_id = conn_id_for(Platform.VERTEX_AI)
    env = {
        **_server_env(api_server.home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_server.url}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection_dict(emulator, Platform.VERTEX_AI)),
    }
    started: list[subprocess.Popen[bytes]] = []
    try:
        for component in ("dag-processor", "scheduler", "triggerer"):
            log = (api_server.home / f"{component}.log").open("wb")
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "airflow", component],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield {"conn_id": conn_id}
    finally:
        for process in started:
            _stop(process)


def _write_dag(home: Path, conn_id: str, job_id: str) -> None:
    (home / "dags" / f"{DAG_ID}.py").write_text(
        textwrap.dedent(
            f"""
            from airflow.sdk import DAG
            from airflow_ft_provider.operators.cancel import CancelTuningJobOperator

            with DAG({DAG_ID!r}, schedule=None, is_paused_upon_creation=False) as dag:
                CancelTuningJobOperator(
                    task_id="cancel", conn_id={conn_id!r}, job_id={job_id!r}, deferrable=True,
                    min_poll_interval=0.5, poll_interval=2,
                )
            """
        )
    )


def _wait(what: str, check: Any, server: ApiServer, timeout: float = RUN_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    logs = "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(server.home.glob("*.log")))
    pytest.fail(f"{what} within {timeout:g} s.\n{logs}")


def _run_cancel(server: ApiServer, emulator: Emulator, conn_id: str) -> str:
    """Seed a running job, trigger the DAG through the REST API, wait for the task's success."""
    job_id = emulator.seed(Platform.VERTEX_AI, script=JobScript(running_s=None, cancel_s=3.0))
    _write_dag(server.home, conn_id, job_id)
    with server.api() as api:
        _wait("the DAG was not parsed", lambda: api.get(f"/api/v2/dags/{DAG_ID}").status_code == 200, server)
        run = api_json(api.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None}))
        run_id = run["dag_run_id"]

        def ended() -> str | None:
            state = api_json(api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/cancel"))["state"]
            return state if state in ("success", "failed", "upstream_failed") else None

        assert _wait("the cancel task did not end", ended, server) == "success"
    assert emulator.job_phase(Platform.VERTEX_AI, job_id) == "cancelled"
    return run_id


_VISIBLE = """([prefix, root]) => {
    // The log line that starts with the outcome, the outcome's own characters, and the log view's box.
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = node.textContent.indexOf(prefix);
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + prefix.length);
        const text = range.getBoundingClientRect();
        let view = node.parentElement;
        while (view && view !== document.body) {
            const style = getComputedStyle(view);
            if (/(auto|scroll|hidden)/.test(style.overflowX) && view.clientWidth > 0) break;
            view = view.parentElement;
        }
        const box = view.getBoundingClientRect();
        const visibleRight = Math.min(box.left + view.clientWidth, window.innerWidth);
        return {left: text.left, right: text.right, viewLeft: box.left, visibleRight, scrollLeft: view.scrollLeft,
                line: node.parentElement.closest('[data-testid], div').innerText.slice(0, 300)};
    }
    return null;
}"""


def test_deferred_vertex_ai_cancel_log_shows_the_outcome_without_scrolling(
    api_server: ApiServer, emulator: Emulator, components: dict[str, str], browser: Browser
) -> None:
    emulator.reset()
    # On every version: a deferred cancel through a real triggerer resumes and is confirmed (3.1.8's
    # trigger runner died on its first deferral while the provider masked secrets from a thread).
    run_id = _run_cancel(api_server, emulator, components["conn_id"])
    if not version_compat.AIRFLOW_V_3_3_PLUS:
        pytest.skip("the layout measured here is Airflow 3.3's log view (3.1's did not show the resumed part)")
    page = browser.page
    page.goto(f"{api_server.url}/dags/{DAG_ID}/runs/{run_id}/tasks/cancel")
    page.get_by_text(OUTCOMES[-1]).first.wait_for(timeout=60_000)
    root = page.locator("body").element_handle()
    for prefix in OUTCOMES:
        seen = page.evaluate(_VISIBLE, [prefix, root])
        assert seen is not None, f"{prefix!r} is not in the task log the UI shows"
        assert seen["scrollLeft"] == 0
        # Drawn inside the visible width of the log view: readable without scrolling to the right.
        assert seen["viewLeft"] <= seen["left"] < seen["right"] <= seen["visibleRight"], seen
    shot = browser.shot("deferred vertex ai cancel task log")
    print(f"screenshot: {shot}")
