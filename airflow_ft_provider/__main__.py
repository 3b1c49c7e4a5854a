"""``python -m airflow_ft_provider check <conn_id> [--job-id ID] [--json]``: the smoke check (docs/smoke-check.md)."""

import sys

from airflow_ft_provider.smoke.command import main

sys.exit(main())
