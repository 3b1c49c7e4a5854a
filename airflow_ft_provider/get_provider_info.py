"""Provider registration read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Kept import-light: discovery runs in every Airflow process. Hooks and connection forms come from
the platform records (:mod:`airflow_ft_provider.platforms.registry`), the same data the hooks use.
"""

from __future__ import annotations

from typing import Any

from airflow_ft_provider import __version__
from airflow_ft_provider.connection_fields import provider_conn_fields
from airflow_ft_provider.platforms.registry import RECORDS

INTEGRATION = "Fine-tuning jobs"


def description() -> str:
    """What the provider does, naming every platform (pyproject.toml's description says the same)."""
    *titles, last = [record.title for record in RECORDS.values()]
    return f"Cancel fine-tuning jobs on {', '.join(titles)} and {last}, and confirm how they ended."


def get_provider_info() -> dict[str, Any]:
    from airflow_ft_provider.version_compat import warn_if_encryption_broken

    # Every Airflow component loads providers: the API server's log says why saving fails on 3.1.
    warn_if_encryption_broken()
    return {
        "package-name": "airflow-ft-provider",
        "name": "Fine-tuning jobs",
        "description": description(),
        "versions": [__version__],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["ai"]}],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": sorted({record.hook_module for record in RECORDS.values()}),
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_ft_provider.operators.bulk_cancel", "airflow_ft_provider.operators.cancel"],
            }
        ],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_ft_provider.sensors.job_state"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["airflow_ft_provider.triggers.job_state"]}],
        "extra-links": ["airflow_ft_provider.links.TuningJobConsoleLink"],
        "notifications": ["airflow_ft_provider.notifications.cancel_job.CancelTuningJobNotifier"],
        # `airflow fine-tuning check` on Airflow versions that read provider CLI commands (3.3; 3.1 ignores it).
        "cli": ["airflow_ft_provider.cli.get_cli_commands"],
        "connection-types": [
            {
                "connection-type": conn_type,
                "hook-class-name": record.hook_class_path,
                "hook-name": record.hook_name,
                "conn-fields": provider_conn_fields(record.form.fields),
                "ui-field-behaviour": record.form.ui,
            }
            for record in RECORDS.values()
            for conn_type in [record.conn_type]
        ],
    }
