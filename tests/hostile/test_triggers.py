"""A deferred wait ends at its deadline whatever its server does, and the others keep polling.

Two ``TuningJobStateTrigger`` run side by side on one event loop, as in a triggerer: one
against a hostile server, one against the real emulator. The hostile one reports ``timeout``
at its deadline (within a few seconds); the healthy one sees its job end on time.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger
from tests.conftest import conn_id_for
from tests.hostile.servers import endless_body, trickle
from tests.hostile.support import MARGIN, close_async_clients, run

DEADLINE = 2.0
#: The healthy job ends after this; polled every 0.5 s at most, it is seen soon after.
RUNS_FOR, POLL = 1.0, 0.5

SLOW_ANSWERS = {
    "body-never-ends": lambda: endless_body(every=0.05, chunk=8),
    "head-a-byte-at-a-time": lambda: trickle(0.05, headers_too=True),
}


def trigger(conn_id: str, job_id: str, deadline: float) -> TuningJobStateTrigger:
    return TuningJobStateTrigger(
        conn_id=conn_id,
        platform=Platform.OPENAI,
        job_id=job_id,
        deadline=deadline,
        min_poll_interval=0.2,
        poll_interval=POLL,
    )


@pytest.mark.parametrize("answer", SLOW_ANSWERS)
def test_a_hostile_trigger_ends_at_its_deadline_and_the_others_keep_polling(hostile, emu, connections, answer):
    target = hostile(Platform.OPENAI, timeout=30)  # the attempt timeout alone would wait 30 s
    target.server.always(SLOW_ANSWERS[answer]())
    hostile_job = target.server.add_job()
    healthy_job = emu.seed(Platform.OPENAI, script=JobScript(running_s=RUNS_FOR))
    ended: dict[str, tuple[list[dict], float]] = {}

    async def watch(name: str, trigger: TuningJobStateTrigger) -> None:
        started = time.monotonic()
        events = [event.payload async for event in trigger.run()]
        await trigger.cleanup()
        ended[name] = (events, time.monotonic() - started)

    async def main() -> None:
        now = time.time()
        try:
            await asyncio.gather(
                watch("hostile", trigger(target.conn_id, hostile_job, now + DEADLINE)),
                watch("healthy", trigger(conn_id_for(Platform.OPENAI), healthy_job, now + 30)),
            )
        finally:
            await close_async_clients()

    run(lambda: asyncio.run(main()), DEADLINE)

    assert "healthy" in ended, "the healthy trigger did not finish while the hostile one ran"
    events, elapsed = ended["healthy"]
    assert [e["status"] for e in events] == ["reached"], events
    assert elapsed <= RUNS_FOR + POLL + MARGIN, f"the healthy trigger ended after {elapsed:.1f} s"

    assert "hostile" in ended, f"the hostile trigger was still waiting {MARGIN} s after its deadline"
    events, elapsed = ended["hostile"]
    assert [e["status"] for e in events] == ["timeout"], events
    assert elapsed <= DEADLINE + MARGIN, f"the hostile trigger ended after {elapsed:.1f} s"
