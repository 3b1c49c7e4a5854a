"""The smoke check's command line, shared by ``python -m airflow_ft_provider`` and ``airflow fine-tuning``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

#: Exit statuses: healthy, the check failed (the report says why), the command line was wrong.
HEALTHY, FAILED, USAGE = 0, 1, 2

CHECK_HELP = "List one page of a connection's jobs and read one job; never cancels anything."
CONN_ID_HELP = "The Airflow connection to check (env var, secrets backend or metadata database)."
JOB_ID_HELP = "The job to read (default: the first one listed)."
JSON_HELP = "Print the report as JSON instead of lines for a terminal."
VERBOSE_HELP = "Show Airflow's and the provider's log lines too (they go to stdout, before the report)."


def run(conn_id: str, job_id: str | None, as_json: bool, verbose: bool = False) -> int:
    """Run the check, print its report, and return the exit status.

    Airflow logs to stdout: while the check runs, stdout goes to stderr (``verbose``) or nowhere, so
    stdout holds the report alone (its first line the outcome; ``--json``: JSON only). What a log
    line would say about the check is in the report.
    """
    from airflow_ft_provider.smoke import run_check

    # Look connections up as Airflow's own `airflow connections get/test` do: environment variables,
    # secrets backends, then the metadata database (outside this, the Task SDK skips the database).
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"
    with _stdout_to(sys.stderr.fileno() if verbose else None), warnings.catch_warnings():
        if not verbose:
            warnings.simplefilter("ignore")
        report = run_check(conn_id, job_id or None)
    print(report.to_json() if as_json else report.to_text())
    return HEALTHY if report.healthy else FAILED


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m airflow_ft_provider", description="airflow-ft-provider tools.")
    commands = main.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help=CHECK_HELP, description=CHECK_HELP)
    check.add_argument("conn_id", help=CONN_ID_HELP)
    check.add_argument("--job-id", help=JOB_ID_HELP)
    check.add_argument("--json", action="store_true", help=JSON_HELP)
    check.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(args.conn_id, args.job_id, args.json, args.verbose)


@contextlib.contextmanager
def _stdout_to(fd: int | None) -> Iterator[None]:
    """Standard output goes to ``fd`` (None: /dev/null) meanwhile, as file descriptor 1 and as
    ``sys.stdout``: whoever writes to it, logs included."""
    sys.stdout.flush()
    saved = os.dup(1)
    target = os.open(os.devnull, os.O_WRONLY) if fd is None else os.dup(fd)
    try:
        os.dup2(target, 1)
        with open(target, "w", closefd=False) as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(target)
