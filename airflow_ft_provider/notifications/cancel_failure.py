"""What :class:`~airflow_ft_provider.notifications.CancelTuningJobNotifier` does when it could not
cancel: log only (the default), fail the callback, or hand the outcome to the user's callable.

By default the notifier never raises: a callback error must not hide the failure that triggered
it. Where a job left training costs more than a noisy callback, ``on_cancel_failure="raise"``
makes the callback fail (Airflow logs it as a failed callback, with the reason), and a callable
gets a :class:`CancelFailure` to page someone, open a ticket or push a metric of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from airflow_ft_provider.errors import TuningJobError

LOG = "log"
RAISE = "raise"


@dataclass(frozen=True)
class CancelFailure:
    """What a cancel on failure could not do: passed to an ``on_cancel_failure`` callable.

    A job that had already ended, or no job found to cancel (the run failed before it started one),
    is no failure. Waiting with ``wait_for_cancelled`` that ends unconfirmed is none either: the
    cancel was sent.
    """

    conn_id: str
    #: Jobs whose cancel was not made sure of: they may still be training. Empty when the failure
    #: came before any job was known (the notifier could not be rendered, the XComs not read).
    job_ids: tuple[str, ...]
    #: One line per problem, as logged (errors pass ``server_text``: no secret, no raw server text).
    problems: tuple[str, ...]

    def __str__(self) -> str:
        jobs = f"job(s) {', '.join(self.job_ids)} NOT cancelled" if self.job_ids else "nothing was cancelled"
        return f"Cancel on failure (connection {self.conn_id!r}): {jobs}: {'; '.join(self.problems)}"


class CancelOnFailureError(TuningJobError):
    """The notifier could not cancel and was told to fail loudly (``on_cancel_failure="raise"``)."""

    def __init__(self, failure: CancelFailure) -> None:
        super().__init__(str(failure), job_id=", ".join(failure.job_ids) or None)
        self.failure = failure


OnCancelFailure = Literal["log", "raise"] | Callable[[CancelFailure], object]


def checked(value: object) -> OnCancelFailure:
    """``value`` as an ``on_cancel_failure`` choice, or a ValueError naming the choices."""
    if value in (LOG, RAISE) or callable(value):
        return value  # type: ignore[return-value]
    raise ValueError(
        f"on_cancel_failure={value!r} is not valid; use 'log' (the default: log and never raise), 'raise' "
        "(the callback fails) or a callable taking a CancelFailure."
    )


def settle(choice: OnCancelFailure, failure: CancelFailure) -> None:
    """Act on ``failure`` as chosen (it has been logged already)."""
    if choice == RAISE:
        raise CancelOnFailureError(failure)
    if callable(choice):
        choice(failure)
