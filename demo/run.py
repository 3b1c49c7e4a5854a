"""The demo: emulators up, example DAGs run through real Airflow, a readable summary.

Starts the five platform emulators on 127.0.0.1, seeds running fine-tuning jobs, points
one Airflow connection per platform at them, and runs the example DAGs with
``airflow dags test`` (SQLite in a temporary AIRFLOW_HOME). Then it prints, per job, the
state before and after and how long the platform took to confirm the cancellation.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = Path(tempfile.mkdtemp(prefix="ft-demo-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)

from airflow_ft_provider.hooks.registry import get_hook  # noqa: E402
from airflow_ft_provider.jobs import Platform  # noqa: E402
from airflow_ft_provider.testing import Emulator, JobScript  # noqa: E402

CONN_TYPES = {
    Platform.VERTEX_AI: "ft_vertex_ai",
    Platform.GEMINI: "ft_gemini",
    Platform.DASHSCOPE: "ft_dashscope",
    Platform.TOGETHER: "ft_together",
    Platform.OPENAI: "ft_openai",
}
LOGS = HOME / "demo-logs"
PROJECT = "demo-project"


@dataclass
class Row:
    dag: str
    platform: Platform
    job_id: str
    before: str
    after: str = "?"
    confirmed_s: float | None = None
    note: str = ""


def conn_id(platform: Platform) -> str:
    return f"{CONN_TYPES[platform]}_default"


def configure_connections(emu: Emulator) -> None:
    for platform in Platform:
        conn: dict[str, object] = {"conn_type": CONN_TYPES[platform], "host": emu.base_url(platform)}
        if platform is Platform.VERTEX_AI:
            conn["password"] = json.dumps(emu.service_account_info(PROJECT))
            conn["extra"] = {"project": PROJECT, "location": "us-central1"}
        else:
            conn["password"] = emu.api_key(platform)
        os.environ[f"AIRFLOW_CONN_{conn_id(platform).upper()}"] = json.dumps(conn)


def airflow(*args: str, log_name: str) -> bool:
    LOGS.mkdir(exist_ok=True)
    log = LOGS / f"{log_name}.log"
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "airflow", *args], stdout=out, stderr=subprocess.STDOUT)
    return done.returncode == 0


def short(job_id: str) -> str:
    return job_id.rsplit("/", 1)[-1]


def confirmation_seconds(emu: Emulator, platform: Platform, job_id: str) -> float | None:
    """From the cancel request to the last read of the job (the one that saw it ended)."""
    mine = [r for r in emu.requests(platform) if short(job_id) in r.path]
    cancels = [r.time for r in mine if r.method == "POST" and r.path.endswith("cancel")]
    if not cancels:
        return None
    last_read = max((r.time for r in mine if r.method == "GET"), default=cancels[0])
    return max(0.0, last_read - cancels[0])


def state_of(platform: Platform, job_id: str) -> str:
    try:
        return get_hook(conn_id(platform)).get_job(job_id).state.value
    except Exception as exc:
        return type(exc).__name__


def run_single_cancels(emu: Emulator) -> list[Row]:
    rows = []
    for platform in Platform:
        job_id = emu.seed(
            platform,
            project=PROJECT,
            display_name=f"demo-{platform.value}-nightly",
            script=JobScript(running_s=None, cancel_s=round(random.uniform(1.5, 4.0), 1)),
        )
        row = Row("example_cancel_tuning_job", platform, job_id, before=state_of(platform, job_id))
        conf = json.dumps({"conn_id": conn_id(platform), "job_id": job_id})
        ok = airflow("dags", "test", "example_cancel_tuning_job", "-c", conf, log_name=f"cancel-{platform.value}")
        row.after = state_of(platform, job_id)
        row.confirmed_s = confirmation_seconds(emu, platform, job_id)
        if platform is Platform.GEMINI:
            row.note = "task failed as designed: the Gemini API has no cancel method" if not ok else "unexpected"
        elif not ok:
            row.note = f"DAG run failed: see {LOGS}/cancel-{platform.value}.log"
        rows.append(row)
        print(f"  {platform.value:<10} {short(job_id):<28} {row.before:>10} -> {row.after:<10} {row.note}")
    return rows


def print_summary(rows: list[Row], elapsed: float) -> None:
    print()
    print(f"{'DAG':<28} {'platform':<10} {'job':<30} {'before':<10} {'after':<10} {'confirmed':>9}  note")
    print("-" * 118)
    for r in rows:
        confirmed = f"{r.confirmed_s:.1f} s" if r.confirmed_s is not None else "-"
        print(
            f"{r.dag:<28} {r.platform.value:<10} {short(r.job_id)[:30]:<30} {r.before:<10} {r.after:<10} "
            f"{confirmed:>9}  {r.note}"
        )
    cancelled = sum(r.after == "CANCELLED" for r in rows)
    print("-" * 118)
    print(f"{cancelled} of {len(rows)} jobs confirmed CANCELLED in {elapsed:.0f} s. Logs: {LOGS}")


def main() -> int:
    started = time.monotonic()
    with Emulator() as emu:
        print(f"Emulators of all five platforms on {emu.url}; Airflow home {HOME}")
        configure_connections(emu)
        if not airflow("db", "migrate", log_name="db-migrate"):
            print(f"airflow db migrate failed: see {LOGS}/db-migrate.log")
            return 1
        print("Cancelling one running job per platform with example_cancel_tuning_job (deferred wait):")
        rows = run_single_cancels(emu)
        print_summary(rows, time.monotonic() - started)
        expected = [r for r in rows if r.platform is not Platform.GEMINI]
        return 0 if all(r.after == "CANCELLED" for r in expected) else 1


if __name__ == "__main__":
    sys.exit(main())
