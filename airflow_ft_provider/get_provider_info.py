"""Provider registration read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Kept import-light: discovery runs in every Airflow process. The connection forms come
from :mod:`airflow_ft_provider.connection_fields`, the same tables the hooks use on 3.1.
"""

from __future__ import annotations

from typing import Any

from airflow_ft_provider import __version__
from airflow_ft_provider.connection_fields import CONNECTION_FORMS, provider_conn_fields

INTEGRATION = "Fine-tuning jobs"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-ft-provider",
        "name": "Fine-tuning jobs",
        "description": "Cancel fine-tuning jobs on Vertex AI, the Gemini API, DashScope, Together AI and "
        "OpenAI, and confirm how they ended.",
        "versions": [__version__],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["ai"]}],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": sorted({form.hook_class.rsplit(".", 1)[0] for form in CONNECTION_FORMS.values()}),
            }
        ],
        "operators": [{"integration-name": INTEGRATION, "python-modules": ["airflow_ft_provider.operators.cancel"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_ft_provider.sensors.job_state"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["airflow_ft_provider.triggers.job_state"]}],
        "extra-links": ["airflow_ft_provider.links.TuningJobConsoleLink"],
        "notifications": ["airflow_ft_provider.notifications.cancel_job.CancelTuningJobNotifier"],
        "connection-types": [
            {
                "connection-type": conn_type,
                "hook-class-name": form.hook_class,
                "hook-name": form.hook_name,
                "conn-fields": provider_conn_fields(form.fields),
                "ui-field-behaviour": form.ui,
            }
            for conn_type, form in CONNECTION_FORMS.items()
        ],
    }
