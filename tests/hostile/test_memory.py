"""Memory stays about ``max_response_mb``, not the size of what the server sends.

Measured in a child Python (``ru_maxrss`` after a warm-up call, then after the hostile one;
each case in its own fork of a process that imported Airflow once):
a 2 GiB gzip-of-gzip bomb of 5 KB, a 128 MiB body and a body that never ends, against a
limit of 2 MB. The child's heap is capped at 1 GiB more than it uses, so a client that
expands the bomb fails there with ``MemoryError`` instead of exhausting the machine.
"""

from __future__ import annotations

import pytest

from airflow_ft_provider.jobs import Platform
from tests.hostile.servers import encoded, endless_body, gzip_bomb, huge_body, platform_answer
from tests.hostile.support import MARGIN, RSS_MARGIN_MB, MemoryProbe

LIMIT_MB = 2

CASES = {
    "gzip-gzip-bomb-2-GiB-openai-sync": (Platform.OPENAI, "sync", lambda: encoded(gzip_bomb(2048), "gzip, gzip")),
    "gzip-gzip-bomb-2-GiB-vertex-async": (Platform.VERTEX_AI, "async", lambda: encoded(gzip_bomb(2048), "gzip, gzip")),
    "128-MiB-body-vertex-sync": (Platform.VERTEX_AI, "sync", lambda: huge_body(128 << 20)),
    "endless-body-openai-async": (Platform.OPENAI, "async", lambda: endless_body()),
}


@pytest.fixture(scope="module")
def probe():
    probe = MemoryProbe()
    yield probe
    probe.close()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_peak_memory_stays_about_the_limit(hostile, probe, case):
    platform, mode, answer = CASES[case]
    target = hostile(platform, max_response_mb=LIMIT_MB, timeout=10, cap_bytes=512 << 20)
    target.server.then(platform_answer()).always(answer())  # the child's warm-up, then the hostile answer
    job_id = target.server.add_job()
    report = probe.measure(target.conn_id, target.conn, job_id, mode=mode)
    outcome = (
        f"{report['error']} ({report.get('message', '')}) after {report['elapsed']:.2f} s, "
        f"peak RSS +{report['growth_mb']:.0f} MB"
    )
    assert report["error"] == "ResponseTooLargeError", f"expected ResponseTooLargeError, got {outcome}"
    assert report["elapsed"] <= 1 + MARGIN, outcome
    assert report["growth_mb"] <= LIMIT_MB + RSS_MARGIN_MB, (
        f"peak RSS grew more than {LIMIT_MB} + {RSS_MARGIN_MB} MB: {outcome}"
    )


@pytest.mark.slow
def test_the_probe_measures_a_normal_answer_as_small(hostile, probe):
    """The instrument itself: a plain 1 KB answer grows the peak by (almost) nothing."""
    target = hostile(Platform.OPENAI, max_response_mb=LIMIT_MB)
    job_id = target.server.add_job()
    report = probe.measure(target.conn_id, target.conn, job_id, mode="sync")
    assert report["error"] is None, report
    assert report["growth_mb"] < 10, report
