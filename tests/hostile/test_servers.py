"""The hostile servers themselves: plausible when they behave, bounded when they do not.

These pass today: they show that a failure elsewhere in this suite is the client's, not a
server that cannot speak the platform.
"""

from __future__ import annotations

import gzip
import socket
import time

import pytest

from airflow_ft_provider.jobs import Platform, TuningJobState
from tests.hostile.conftest import MODES, PLATFORMS
from tests.hostile.servers import HostileServer, endless_body, gzip_bomb
from tests.hostile.support import call, expect_value, run


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_behaving_server_serves_get_list_and_cancel(hostile, platform, mode):
    target = hostile(platform)
    job_ids = [target.server.add_job() for _ in range(3)]
    hook = target.hook()
    job = expect_value(run(lambda: call(hook, "get_job", job_ids[0], mode=mode), 1), 1)
    assert job.state is TuningJobState.RUNNING
    assert job.job_id.endswith(job_ids[0])
    listed = expect_value(run(lambda: call(hook, "list_jobs", page_size=2, mode=mode), 1), 1)
    assert [j.job_id.rsplit("/", 1)[-1] for j in listed] == job_ids
    assert target.server.count("list") == 2  # two pages of two and one
    expect_value(run(lambda: call(hook, "cancel_job", job_ids[1], mode=mode), 1), 1)
    assert target.server.jobs[job_ids[1]] == target.server.speaker.with_fields(
        target.server.speaker.job(job_ids[1]), native_state=target.server.speaker.cancelled
    )
    auth = target.server.of("get")[0].headers["authorization"]
    assert auth == f"Bearer {target.key}"


def test_the_gzip_bomb_is_valid_gzip():
    # Small enough to expand here; the tests use the same builder at 64 MiB and 2 GiB.
    bomb = gzip_bomb(3, layers=2)
    assert gzip.decompress(gzip.decompress(bomb)) == bytes(3 << 20)
    assert len(gzip_bomb(2048, layers=2)) < 16_000  # 2 GiB in a few KB


def test_an_answer_that_never_ends_stops_at_the_server_cap():
    with HostileServer(Platform.OPENAI, cap_seconds=0.5).start() as server:
        server.always(endless_body(every=0.01, chunk=16))
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /v1/fine_tuning/jobs/ftjob-1 HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK")
        assert time.monotonic() - started < 0.5 + 2
