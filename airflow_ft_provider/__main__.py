"""``python -m airflow_ft_provider check <conn_id> [--job-id ID] [--json] [-v]``: the smoke check.

See docs/smoke-check.md.
"""

import sys

from airflow_ft_provider.cli import main

if __name__ == "__main__":  # importing the module (as a release check does) runs nothing
    sys.exit(main())
