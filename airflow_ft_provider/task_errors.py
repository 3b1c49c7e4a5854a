"""How platform errors end an Airflow task: at once, or open to Airflow's retries."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_ft_provider.errors import AuthenticationError, TuningJobError


def task_failure(exc: Exception, conn_id: str) -> AirflowException:
    """The exception a task raises for ``exc``.

    Retryable errors (rate limits, outages: already retried inside the hook) become a plain
    ``AirflowException`` so the task's own retries get a go; everything else (not found,
    refused credentials, invalid id, unsupported operation, bad connection) fails the task
    without retries, since repeating the same request cannot succeed.
    """
    if isinstance(exc, AuthenticationError):
        return AirflowFailException(
            f"{exc}. The credentials of connection {conn_id!r} were refused: check its key and permissions."
        )
    if isinstance(exc, TuningJobError) and exc.retryable:
        return AirflowException(f"{exc} (connection {conn_id!r}); retries were exhausted inside the hook.")
    return AirflowFailException(f"{exc} (connection {conn_id!r})")
