"""The smoke check's command line: ``python -m airflow_ft_provider check`` and ``airflow fine-tuning check``.

Airflow reads a provider's CLI commands from its provider info (``cli``: :func:`get_cli_commands`)
from 3.3 on; older versions ignore the entry, and ``python -m airflow_ft_provider`` works on all.
Import-light: Airflow imports this module for every ``airflow`` command; the check loads when run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.cli.cli_config import CLICommand

#: Exit statuses: healthy, the check failed (the report says why); a wrong command line exits with 2.
HEALTHY, FAILED = 0, 1

CHECK_HELP = "List one page of a connection's jobs and read one job; never cancels anything."
CONN_ID_HELP = "The Airflow connection to check (env var, secrets backend or metadata database)."
JOB_ID_HELP = "The job to read (default: the first one listed)."
JSON_HELP = "Print the report as JSON instead of lines for a terminal."
VERBOSE_HELP = "Show Airflow's and the provider's log lines too, on stderr."


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
    check.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
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


def get_cli_commands() -> list[CLICommand]:
    """What the provider info's ``cli`` entry names: the ``fine-tuning`` group and its ``check``."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    check = ActionCommand(
        name="check",
        help=CHECK_HELP,
        func=lazy_load_command("airflow_ft_provider.cli.check"),
        args=(
            Arg(("conn_id",), help=CONN_ID_HELP),
            Arg(("--job-id",), help=JOB_ID_HELP),
            Arg(("--json",), help=JSON_HELP, action="store_true"),
            Arg(("-v", "--verbose"), help=VERBOSE_HELP, action="store_true"),
        ),
    )
    return [GroupCommand(name="fine-tuning", help="Fine-tuning jobs (airflow-ft-provider)", subcommands=[check])]


def check(args: Any) -> None:
    """``airflow fine-tuning check``: exits with the check's status."""
    sys.exit(run(args.conn_id, args.job_id, args.json, args.verbose))
