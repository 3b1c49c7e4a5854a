"""A read-only smoke check of a connection against its platform: ``python -m airflow_ft_provider check``.

See docs/smoke-check.md. :func:`run_check` returns a :class:`CheckReport`; nothing it sends can
cancel a job.
"""

from airflow_ft_provider.smoke.check import run_check
from airflow_ft_provider.smoke.report import CheckReport, Exchange, Failure

__all__ = ["CheckReport", "Exchange", "Failure", "run_check"]
