"""Quotas like the platforms': per-minute windows per project or key, whole-second hints, no hints."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Quota, RemoteEmulator
from airflow_ft_provider.testing.metering import Metering

PARENT = "/v1/projects/{project}/locations/{location}/tuningJobs"


class Clock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


def waits(meter: Metering, clock: Clock, times: list[float], subject: str = "s") -> list[float | None]:
    """The hint of each request sent at ``times`` (0.0 for an admitted one)."""
    out = []
    for t in times:
        clock.t = t
        throttle = meter.check(Platform.OPENAI, lambda _per: subject)
        out.append(0.0 if throttle is None else throttle.retry_after)
    return out


def test_fixed_window_counts_per_window_and_hints_whole_seconds():
    clock = Clock()
    meter = Metering(clock)
    meter.set(Platform.OPENAI, Quota.window(2, window_s=60))  # windows start at 500, 560, 620...
    assert waits(meter, clock, [500.0, 510.0, 530.4, 559.9, 560.0, 560.1, 561.0]) == [0, 0, 30, 1, 0, 0, 59]


def test_sliding_window_frees_a_slot_when_the_oldest_leaves():
    clock = Clock()
    meter = Metering(clock)
    meter.set(Platform.OPENAI, Quota.window(2, window_s=60, sliding=True))
    # Fixed windows would admit 560.0; sliding ones wait for 500.0 + 60 and 530.0 + 60.
    assert waits(meter, clock, [500.0, 530.0, 559.5, 560.0, 561.0, 589.2, 590.0]) == [0, 0, 1, 0, 29, 1, 0]


def test_a_one_second_sliding_window_says_retry_after_one_second_however_short_the_wait():
    # The shape of real per-second quotas: a burst over it is refused for a whole second.
    clock = Clock()
    meter = Metering(clock)
    meter.set(Platform.OPENAI, Quota.window(3, window_s=1.0, per="platform", sliding=True))
    assert waits(meter, clock, [500.0, 500.5, 500.9, 500.95, 501.0, 501.01, 501.5]) == [0, 0, 0, 1, 0, 1, 0]


def test_token_bucket_hint_is_exact_unless_asked_otherwise():
    clock = Clock()
    meter = Metering(clock)
    meter.set(Platform.OPENAI, Quota.token_bucket(2, burst=1))
    assert waits(meter, clock, [500.0, 500.0, 500.25, 500.5]) == [0, 0.5, pytest.approx(0.25), 0]
    meter.set(Platform.OPENAI, Quota.token_bucket(2, burst=1, hint="seconds"))
    assert waits(meter, clock, [600.0, 600.1]) == [0, 1.0]
    meter.set(Platform.OPENAI, Quota.token_bucket(2, burst=1, hint="none"))
    assert waits(meter, clock, [700.0, 700.1]) == [0, None]


def test_budgets_are_per_subject_and_described():
    clock = Clock()
    meter = Metering(clock)
    meter.set(Platform.OPENAI, Quota.window(1, per="project"))
    assert waits(meter, clock, [500.0, 500.0], subject="project a") == [0, 60]
    assert waits(meter, clock, [500.0], subject="project b") == [0]
    throttle = meter.check(Platform.OPENAI, lambda _per: "project a")
    assert throttle is not None and throttle.reason == "fixed_window 1/60s per project: project a over quota"
    assert meter.limits() == {
        "openai": {
            "mode": "fixed_window",
            "limit": 1,
            "burst": None,
            "window_s": 60.0,
            "per": "project",
            "hint": "seconds",
        }
    }


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"limit": 0}, "limit must be > 0"),
        ({"limit": 5, "window_s": 0}, "window_s must be > 0"),
        ({"limit": 5, "per": "team"}, "per must be one of"),
        ({"limit": 5, "hint": "loud"}, "hint must be one of"),
        ({"limit": 5, "burst": 3}, "burst is for token buckets only"),
    ],
)
def test_bad_quotas_are_refused_with_the_reason(kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        Quota(mode="fixed_window", **kwargs)


def test_vertex_quota_per_project_and_region(emu, api):
    vertex = api[Platform.VERTEX_AI]
    emu.set_quota("vertex_ai", 2)  # like "600 per minute per project and region", smaller
    mine = PARENT.format(project="my-proj", location="us-central1")
    by_number = PARENT.format(project=emu.project_number("my-proj"), location="us-central1")
    other_region = PARENT.format(project="my-proj", location="europe-west4")
    statuses = [vertex.get(p).status_code for p in (mine, by_number, mine, other_region)]
    assert statuses == [200, 200, 429, 200]  # the project's id and number share one budget
    limited = vertex.get(mine)
    error = limited.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    delay = error["details"][0]["retryDelay"]
    assert delay.endswith("s") and float(delay[:-1]).is_integer() and 1 <= float(delay[:-1]) <= 60
    record = emu.requests("vertex_ai")[-1]
    assert record.throttled and record.fault == "rate_limit"
    assert (
        record.throttle
        == f"fixed_window 2/60s per project: project {emu.project_number('my-proj')}/us-central1 over quota"
    )
    assert not emu.requests("vertex_ai")[0].throttled


def test_quota_per_key_keeps_keys_apart_and_out_of_the_log(emu, hosts):
    client = hosts["openai"]
    emu.set_quota("openai", 1, per="key")
    good = {"Authorization": f"Bearer {emu.api_key('openai')}"}
    assert client.get("/v1/fine_tuning/jobs", headers=good).status_code == 200
    limited = client.get("/v1/fine_tuning/jobs", headers=good)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.headers["retry-after"] == str(int(limited.headers["retry-after"]))
    assert int(limited.headers["retry-after-ms"]) == 1000 * int(limited.headers["retry-after"])  # whole seconds
    other = client.get("/v1/fine_tuning/jobs", headers={"Authorization": "Bearer sk-someone-else"})
    assert other.status_code == 401  # its own budget: refused for its key, not throttled
    assert "sk-someone-else" not in repr(emu.requests()) and emu.api_key("openai") not in repr(emu.requests())
    assert emu.requests("openai")[1].throttle == "fixed_window 1/60s per key: a key over quota"


def test_quota_without_any_hint(emu, api):
    emu.set_quota("together", 1, per="platform", hint="none")
    emu.set_quota("gemini", 1, per="platform", hint="none")
    assert api[Platform.TOGETHER].get("/fine-tunes").status_code == 200
    bare = api[Platform.TOGETHER].get("/fine-tunes")
    assert bare.status_code == 429 and "retry-after" not in bare.headers and "retry-after-ms" not in bare.headers
    api[Platform.GEMINI].get("/v1beta/tunedModels")
    gemini = api[Platform.GEMINI].get("/v1beta/tunedModels")
    assert gemini.status_code == 429 and "details" not in gemini.json()["error"]


def test_sliding_window_over_http_lets_requests_back_in(emu, api):
    emu.set_quota("dashscope", 1, window_s=0.3, sliding=True)
    ds = api[Platform.DASHSCOPE]
    assert [ds.get("/fine-tunes").status_code for _ in range(2)] == [200, 429]
    time.sleep(0.35)
    assert ds.get("/fine-tunes").status_code == 200
    assert emu.limiter.limits()["dashscope"]["mode"] == "sliding_window"


def test_a_quota_replaces_a_rate_limit_and_none_lifts_it(emu, api):
    emu.set_rate_limit("openai", 1, burst=1)
    emu.set_quota("openai", 3, per="platform")
    assert [api[Platform.OPENAI].get("/fine_tuning/jobs").status_code for _ in range(4)] == [200, 200, 200, 429]
    emu.set_quota("openai", None)
    assert api[Platform.OPENAI].get("/fine_tuning/jobs").status_code == 200 and emu.limiter.limits() == {}


def test_quota_over_the_admin_api_and_remote(emu, client, api):
    bad = client.post("/_emulator/quota", json={"platform": "openai", "limit": 2, "per": "team"})
    assert bad.status_code == 400 and "per" in bad.json()["error"]
    assert client.post("/_emulator/quota", json={"platform": "openai", "window_s": 1}).status_code == 400
    assert client.post("/_emulator/quota", json={"platform": "openai", "limit": 2, "colour": 1}).status_code == 400
    with RemoteEmulator(emu.url) as remote:
        remote.set_quota("openai", 1, per="platform", hint="none")
        assert [api[Platform.OPENAI].get("/fine_tuning/jobs").status_code for _ in range(2)] == [200, 429]
        assert remote.requests("openai")[-1].throttled
        remote.set_rate_limit("openai", 100, per="key", hint="seconds")
        config = client.get("/_emulator/config").json()["rate_limits"]
        assert config["openai"] == {
            "mode": "token_bucket",
            "limit": 100,
            "burst": None,
            "window_s": 60.0,
            "per": "key",
            "hint": "seconds",
        }
        remote.set_quota("openai", None)
    assert emu.limiter.limits() == {}


def test_oauth_token_endpoint_is_never_metered(emu):
    emu.set_quota("vertex_ai", 1, per="platform")
    with httpx.Client(base_url=emu.platform_url("vertex_ai")) as c:
        statuses = [c.post("/token", data={"grant_type": "nope"}).status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
