"""``python -m airflow_ft_provider.testing``: every platform emulator in the foreground.

For the demo and for users who want to point a DAG at something local: prints the base
URL, key and connection per platform (and, with ``--seed-demo``, the seeded job ids), then
serves until Ctrl-C. The first line always reads ``fine-tuning platform emulators on URL``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
from types import FrameType

from airflow_ft_provider.testing.connections import airflow_connection, default_conn_id
from airflow_ft_provider.testing.emulator import Emulator
from airflow_ft_provider.testing.platforms import SPECS
from airflow_ft_provider.testing.store import JobScript

DESCRIPTION = [
    "Serve local emulators of the fine-tuning platforms ({platforms}) on one port of this machine, "
    "speaking each platform's own HTTP API: paths, auth, JSON, states, paging and errors. Each platform "
    "is served under its own name, URL/<platform>, with the vendor's paths beneath: point a client's "
    "base URL at the address printed for its platform (an SDK: replace the vendor's host by "
    "URL/<platform>), with the key printed beside it.",
    "Drive the running emulator from elsewhere over HTTP: GET /_emulator/ lists the admin endpoints "
    "(seed jobs, inject faults, set quotas and latency, read the request log); from Python, "
    "airflow_ft_provider.testing.RemoteEmulator(URL) wraps them.",
]
EPILOG = """\
examples:
  python -m airflow_ft_provider.testing --port 8765 --seed-demo
  curl -s localhost:8765/_emulator/
  curl -s -X POST localhost:8765/_emulator/seed -d '{"platform": "openai", "n": 3}'
  curl -s -H 'Authorization: Bearer emulator-openai-key' localhost:8765/openai/v1/fine_tuning/jobs
"""

#: The demo's jobs: (display name, script, seconds since creation, labels).
DEMO_JOBS: list[tuple[str, JobScript, float, dict[str, str]]] = [
    ("demo-running", JobScript(running_s=None, cancel_s=5.0), 0.0, {}),
    ("demo-queued", JobScript(queued_s=3600.0, cancel_s=1.0), 0.0, {}),
    ("demo-old-running", JobScript(running_s=None, cancel_s=2.0), 3 * 3600, {"team": "demo"}),
    ("demo-race", JobScript(running_s=None, cancel_s=3.0, cancel_outcome="succeeded"), 0.0, {}),
    ("demo-succeeded", JobScript(running_s=60.0), 7200, {}),
    ("demo-failed", JobScript(running_s=60.0, end_state="failed"), 7200, {}),
]


def seed_demo(emu: Emulator) -> dict[str, list[tuple[str, str]]]:
    """A few jobs per platform in every interesting shape: running, ended, slow to cancel, racing.

    Returns (display name, job id) per platform.
    """
    seeded: dict[str, list[tuple[str, str]]] = {}
    for platform in emu.platforms:
        seeded[platform.value] = [
            (name, emu.seed(platform, display_name=name, script=script, created_ago_s=ago, labels=labels))
            for name, script, ago, labels in DEMO_JOBS
        ]
    return seeded


def banner(emu: Emulator, seeded: dict[str, list[tuple[str, str]]]) -> str:
    """What the CLI prints once bound: per platform its address, key, connection and demo jobs."""
    lines = [
        f"fine-tuning platform emulators on {emu.url}  (each at {emu.url}/<platform>; admin API: {emu.url}/_emulator/)"
    ]
    for platform in emu.platforms:
        spec = emu.spec(platform)
        # The static key also works on Vertex AI (as a bearer token), and keeps the line short.
        conn = airflow_connection(emu, platform, key=emu.api_key(platform))
        lines += [
            "",
            f"{platform.value}: base_url={emu.base_url(platform)}  key={emu.api_key(platform)}",
            f"  auth: {spec.auth_note}",
            f"  export AIRFLOW_CONN_{default_conn_id(platform).upper()}='{json.dumps(conn)}'",
        ]
        for name, job_id in seeded.get(platform.value, []):
            lines.append(f"  job {name:<17} {job_id}")
    lines += ["", "Ctrl-C to stop."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_ft_provider.testing",
        description="\n\n".join(textwrap.fill(p.format(platforms=", ".join(SPECS)), 88) for p in DESCRIPTION),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--seed-demo", action="store_true", help="seed six jobs per platform (running, queued, ended, racing)"
    )
    args = parser.parse_args(argv)
    emu = Emulator(host=args.host, port=args.port)

    def announce(e: Emulator) -> None:
        print(banner(e, seed_demo(e) if args.seed_demo else {}), flush=True)

    # uvicorn re-raises the SIGINT/SIGTERM that stopped it once it has shut down; exit cleanly then.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_quietly)
    emu.serve_forever(on_bound=announce)
    return 0


def _exit_quietly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
