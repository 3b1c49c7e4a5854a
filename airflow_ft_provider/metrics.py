"""The provider's metrics, sent through Airflow's ``Stats`` (StatsD, Datadog or OpenTelemetry).

Every cancel ends in exactly one outcome counter, whoever asked for it (the operators, the bulk
operator, the notifier, a trigger or a sensor cancelling at kill time): the flows say which
(``flows.steps.Count``) and the drivers send it here with the connection's platform and id. A
failure before any flow could start (a connection that does not exist) is counted here too, by the
caller that met it. A wait that sees a cancelled job confirmed counts ``confirmed`` and its time.

Each metric goes out twice: tagged (``platform``, ``conn_id``) for backends that take tags, and
with the platform in its name for plain StatsD, which drops tags. No tag ever holds a secret.
Sending never raises and never blocks: a metric must not fail a cancel (StatsD and Datadog send a
UDP datagram, OpenTelemetry records in memory and exports from its own thread).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from enum import StrEnum

log = logging.getLogger(__name__)

PREFIX = "ft_provider.cancel"
#: The platform tag of a failure before the connection said which platform it is for.
UNKNOWN_PLATFORM = "unknown"


class CancelOutcome(StrEnum):
    """How one cancel ended: each is the counter ``ft_provider.cancel.<value>``."""

    #: The platform acknowledged the cancel.
    SENT = "sent"
    #: Nothing to send: the job had already ended or was already cancelling.
    NOT_NEEDED = "not_needed"
    #: The platform refused: the job cannot be cancelled in its state, or the platform cannot cancel.
    REFUSED = "refused"
    #: The platform does not know the job.
    NOT_FOUND = "not_found"
    #: Not cancelled for any other reason: the connection, the credentials, the network, a bug.
    FAILED = "failed"


#: Counter: a wait after a cancel saw the job CANCELLED.
CONFIRMED = f"{PREFIX}.confirmed"
#: Timer (milliseconds): from the cancel's acknowledgement (or the first sight of a cancelling job)
#: to the read that saw it CANCELLED.
CONFIRM_TIME = f"{PREFIX}.confirm_time"


def count_cancel(outcome: CancelOutcome, platform: str, conn_id: str, n: int = 1) -> None:
    """Count ``n`` cancels that ended in ``outcome`` on ``platform`` through ``conn_id``."""
    _send("incr", f"{PREFIX}.{outcome.value}", platform, conn_id, n)


def count_confirmed(platform: str, conn_id: str, seconds: float | None) -> None:
    """Count a confirmed cancel and, when known, how long the confirmation took."""
    _send("incr", CONFIRMED, platform, conn_id, 1)
    if seconds is not None:
        _send("timing", CONFIRM_TIME, platform, conn_id, max(0.0, seconds) * 1000.0)


@contextlib.contextmanager
def failing_before_flow(conn_id: str, jobs: int = 1) -> Iterator[None]:
    """Count ``jobs`` failed cancels if the block raises: what a cancel needs before its flow can
    start (the connection, the job id) could not be had, so no flow will count them."""
    try:
        yield
    except Exception:
        count_cancel(CancelOutcome.FAILED, UNKNOWN_PLATFORM, conn_id, jobs)
        raise


def _send(kind: str, name: str, platform: str, conn_id: str, value: float) -> None:
    try:
        from airflow.providers.common.compat.sdk import Stats

        tags = {"platform": platform, "conn_id": conn_id}
        if kind == "incr":
            Stats.incr(name, count=int(value), tags=tags)
            Stats.incr(f"{name}.{platform}", count=int(value))
        else:
            Stats.timing(name, value, tags=tags)
            Stats.timing(f"{name}.{platform}", value)
    except Exception:  # a metrics backend that fails must not fail the cancel it reports
        log.warning("Could not send metric %s", name, exc_info=True)
