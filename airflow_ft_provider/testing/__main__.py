"""``python -m airflow_ft_provider.testing``: all five emulators in the foreground.

For the demo and for users who want to point a DAG at something local: prints the
base URL and key per platform, then serves until Ctrl-C. Drive it from elsewhere with
:class:`~airflow_ft_provider.testing.RemoteEmulator` or plain HTTP on ``/_emulator``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.emulator import Emulator
from airflow_ft_provider.testing.store import JobScript


def seed_demo(emu: Emulator) -> None:
    """A few jobs per platform in every interesting shape: running, ended, slow to cancel, racing."""
    for platform in Platform:
        emu.seed(platform, display_name="demo-running", script=JobScript(running_s=None, cancel_s=5.0))
        emu.seed(platform, display_name="demo-queued", script=JobScript(queued_s=3600.0, cancel_s=1.0))
        emu.seed(
            platform,
            display_name="demo-old-running",
            script=JobScript(running_s=None, cancel_s=2.0),
            created_ago_s=3 * 3600,
            labels={"team": "demo"},
        )
        emu.seed(
            platform,
            display_name="demo-race",
            script=JobScript(running_s=None, cancel_s=3.0, cancel_outcome="succeeded"),
        )
        emu.seed(platform, display_name="demo-succeeded", script=JobScript(running_s=60.0), created_ago_s=7200)
        emu.seed(
            platform,
            display_name="demo-failed",
            script=JobScript(running_s=60.0, end_state="failed"),
            created_ago_s=7200,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_ft_provider.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed-demo", action="store_true", help="seed a few jobs per platform")
    args = parser.parse_args(argv)
    emu = Emulator(host=args.host, port=args.port)

    def announce(e: Emulator) -> None:
        if args.seed_demo:
            seed_demo(e)
        print(f"fine-tuning platform emulators on {e.url}  (admin API: {e.url}/_emulator/)")
        for platform in Platform:
            print(f"  {platform.value:<10} base_url={e.base_url(platform):<32} key={e.api_key(platform)}")
        print("  vertex_ai: also Bearer tokens from POST /token (keys: GET /_emulator/service-account?project_id=)")
        print("Ctrl-C to stop.", flush=True)

    # uvicorn re-raises the SIGINT/SIGTERM that stopped it once it has shut down; exit cleanly then.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_quietly)
    emu.serve_forever(on_bound=announce)
    return 0


def _exit_quietly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
