"""The benchmarks still work: each runs at a tiny size and produces its table rows.

No timing is asserted (the figures of a tiny run on a shared machine mean nothing); the
full run is ``benchmarks/run``; ``benchmarks/run --results`` writes ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from benchmarks import bulk_cancel, common, confirmation_latency, import_cost, quota, token_stall, triggerer_scale

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True, scope="module")
def _environment() -> Iterator[None]:
    """What ``benchmarks/run`` sets up (a Fernet key for trigger kwargs, bytecode caching, the
    repository on PYTHONPATH for worker processes), undone afterwards for the other tests."""
    saved_env, saved_path, saved_flag = dict(os.environ), list(sys.path), sys.dont_write_bytecode
    common.prepare_env()
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    sys.path[:] = saved_path
    sys.dont_write_bytecode = saved_flag


def check(rows: list[common.Row], benchmark: str, count: int) -> None:
    assert len(rows) == count
    for row in rows:
        assert row.benchmark == benchmark
        assert row.alternative and row.provider, row
        assert row.verdict in ("", "met", "MISSED"), row
    table = common.format_table(rows)
    assert table.splitlines()[0].startswith("Benchmark")
    assert len(table.splitlines()) == count + 2


def test_import_cost() -> None:
    rows, notes = import_cost.run(quick=True)
    check(rows, "1 import cost", 3)
    assert rows[0].data["increment_s"] >= 0
    assert any("airflow_ft_provider.operators.cancel" in note for note in notes)


def test_bulk_cancel() -> None:
    rows, _ = bulk_cancel.run(quick=True)
    check(rows, "2 bulk cancel", 3)
    for row in rows:
        for side in ("sdk", "provider"):
            assert row.data[side]["all_cancelled"], (row.data["platform"], side, row.data[side])
            assert row.data[side]["unretried"] == 0


def test_triggerer_scale() -> None:
    rows, _ = triggerer_scale.run(quick=True)
    check(rows, "3 triggerer", 5)
    shared = rows[0].data["shared"]
    # Every trigger saw its job end, so the watcher read them. How many states it handed out in the
    # two-second window ("polls") is not asserted: a loaded machine can spend the quick run's seconds
    # on the ramp (0 polls seen at load 8). The counts asserted at a small size are in
    # tests/triggers/test_watcher_counts.py.
    assert shared["events"] == {"reached": shared["triggers"]}


def test_quota() -> None:
    rows, _ = quota.run(quick=True)
    check(rows, "5 quota", len(quota.MEASURES))
    for variant in ("watcher", "polling"):
        result = rows[0].data[variant]
        assert result["failed_triggers"] == 0, result
        assert result["requests"] > 0 and result["states_read"] > 0, result
        assert result["stale_s"], result  # some waits saw their job end


def test_bulk_cancel_under_quotas() -> None:
    rows, _ = bulk_cancel.run_quota(quick=True)
    check(rows, "2b bulk quota", 7)
    for row in rows:
        assert row.data["provider"]["all_cancelled"], row.data
        assert row.data["provider"]["unretried"] == 0, row.data


def test_confirmation_latency() -> None:
    rows, _ = confirmation_latency.run(quick=True)
    check(rows, "4 confirmation", 3)
    data = rows[0].data
    assert len(data["provider"]["latencies"]) == len(data["delays"]) == len(data["fixed"]["latencies"])
    assert not data["errors"]


def test_token_stall() -> None:
    """Every Vertex AI wait ends with a timeout event (its token endpoint stalled), and the OpenAI
    connection's reads went on while it stalled, in one thread per credential."""
    rows, _ = token_stall.run(quick=True)
    check(rows, "6 token stall", 3)
    result = rows[0].data["result"]
    waits = result["waits"]
    assert result["vertex_events"] == {"timeout": waits}, result
    assert result["token_requests_held"] >= 1, "the token endpoint was never asked during the stall"
    assert result["openai_during"]["reads"] > 0, result
    assert result["openai_failed"] == 0, result
    assert result["credential_threads_max"] <= 1, result


def test_steady_state_arithmetic() -> None:
    """The default schedule settles at one read per 30 s; a fixed 60 s poke at one per 60 s."""
    default = confirmation_latency.simulated_gets(1.0, 30.0, 3600.0)
    fixed = confirmation_latency.simulated_gets(60.0, 60.0, 3600.0, ramp=0.0)
    assert confirmation_latency.steady_rate(default, 600.0, 3600.0) == pytest.approx(1.0, abs=0.02)
    assert confirmation_latency.steady_rate(fixed, 600.0, 3600.0) == pytest.approx(0.5, abs=0.02)


def test_importtime_breakdown_parses_python_output() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:        99 |    6729586 | airflow.sdk",
            "import time:       631 |        631 |   airflow_ft_provider.errors",
            "import time:      6094 |      10984 | airflow_ft_provider.operators.cancel",
        ]
    )
    direct, costly = import_cost.importtime_breakdown(stderr, ["airflow_ft_provider.operators.cancel"])
    assert direct == [("airflow_ft_provider.operators.cancel", 10.984)]
    assert costly[0] == ("airflow_ft_provider.operators.cancel", 6.094)


def test_request_analysis_finds_unretried_429s() -> None:
    from airflow_ft_provider.testing import RequestRecord

    def rec(path: str, status: int, at: float) -> RequestRecord:
        return RequestRecord(platform=None, method="POST", path=path, query="", status=status, time=at)

    records = [rec("/a:cancel", 429, 1), rec("/a:cancel", 200, 2), rec("/b:cancel", 200, 1), rec("/b:cancel", 429, 3)]
    assert bulk_cancel.analyse_requests(records) == {
        "requests": 4,
        "cancels": 4,
        "cancels_admitted": 2,
        "cancel_phase_s": 1.0,  # from the first cancel counted (1) to the last admitted (2)
        "lists": 0,
        "throttled": 2,
        "unretried": 1,
    }
