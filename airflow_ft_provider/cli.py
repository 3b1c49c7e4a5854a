"""The provider's Airflow CLI commands (``airflow fine-tuning check``), on Airflow versions that read a
provider's ``cli`` entry (3.3 here; older ones ignore it: ``python -m airflow_ft_provider`` works on all)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from airflow_ft_provider.smoke import command

if TYPE_CHECKING:
    from airflow.cli.cli_config import CLICommand


def get_cli_commands() -> list[CLICommand]:
    """What the provider info's ``cli`` entry names: the ``fine-tuning`` group and its ``check``."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    check = ActionCommand(
        name="check",
        help=command.CHECK_HELP,
        func=lazy_load_command("airflow_ft_provider.cli.check"),
        args=(
            Arg(("conn_id",), help=command.CONN_ID_HELP),
            Arg(("--job-id",), help=command.JOB_ID_HELP),
            Arg(("--json",), help=command.JSON_HELP, action="store_true"),
            Arg(("-v", "--verbose"), help=command.VERBOSE_HELP, action="store_true"),
        ),
    )
    return [GroupCommand(name="fine-tuning", help="Fine-tuning jobs (airflow-ft-provider)", subcommands=[check])]


def check(args: Any) -> None:
    """``airflow fine-tuning check``: exits with the check's status."""
    sys.exit(command.run(args.conn_id, args.job_id, args.json, args.verbose))
