"""Answer bodies: bounded in size (raw and decompressed), readable or retried, fields clipped.

Size: ``ResponseTooLargeError`` (not retried) for a body over ``max_response_mb``, whether it
says so up front (Content-Length), streams without end, or expands from a few KB of gzip.
Bodies that are not the platform's JSON (a proxy's HTML page, truncated JSON, an encoding
that cannot be decoded) are ``MalformedResponseError``, retried within ``max_retries``.
Memory is measured where it is the point, in ``test_memory.py``.
"""

from __future__ import annotations

import gzip

import pytest

from airflow_ft_provider.jobs import Platform
from tests.hostile.conftest import MODES, PLATFORMS
from tests.hostile.servers import (
    encoded,
    encoded_job,
    endless_body,
    gzip_bomb,
    html_page,
    huge_body,
    job_answer,
    platform_answer,
    reply,
    stalled_body,
    truncated_json,
)
from tests.hostile.support import call, expect_error, expect_requests, expect_value, run

MIB = 1 << 20

TOO_LARGE = {
    "declared-10-GB": lambda: stalled_body(declared=10**10),
    "32-MiB-with-length": lambda: huge_body(32 * MIB),
    "32-MiB-chunked": lambda: huge_body(32 * MIB, chunked=True),
    "endless-chunked": lambda: endless_body(),
    "gzip-bomb-64-MiB": lambda: encoded(gzip_bomb(64, layers=1), "gzip"),
    "gzip-gzip-bomb-64-MiB": lambda: encoded(gzip_bomb(64, layers=2), "gzip, gzip"),
}

MALFORMED = {
    "html-page": html_page,
    "truncated-json": truncated_json,
    "json-array": lambda: reply(200, [{"id": "ftjob-1"}]),
    "encoding-br-unsupported": lambda: encoded_job("br"),
    "encoding-unknown": lambda: encoded_job("x-hostile"),
    "gzip-label-on-plain-json": lambda: encoded_job("gzip"),
    "gzip-broken": lambda: encoded(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\x00garbage" * 64, "gzip"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", TOO_LARGE)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_body_over_the_limit_is_refused_and_not_retried(hostile, platform, answer, mode):
    # timeout=10: refusing must not wait for the attempt to time out.
    target = hostile(platform, max_response_mb=1, max_retries=2, timeout=10)
    target.server.always(TOO_LARGE[answer]())
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), 1)
    expect_error(outcome, "ResponseTooLargeError", within=1, secret=target.key)
    expect_requests(target.server, 1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_body_just_under_the_limit_is_read(hostile, platform, mode):
    target = hostile(platform, max_response_mb=1)
    target.server.always(huge_body(900_000))
    job_id = target.server.add_job()
    hook = target.hook()
    job = expect_value(run(lambda: call(hook, "get_job", job_id, mode=mode), 1), 1)
    assert job.job_id.endswith(job_id)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data)))],
    ids=["gzip", "gzip-gzip"],
)
@pytest.mark.parametrize("mode", MODES)
def test_a_well_compressed_answer_is_read(hostile, mode, encoding, compress):
    target = hostile(Platform.VERTEX_AI)
    target.server.always(encoded_job(encoding, compress))
    job_id = target.server.add_job()
    hook = target.hook()
    expect_value(run(lambda: call(hook, "get_job", job_id, mode=mode), 1), 1)


@pytest.mark.parametrize(("platform", "mode"), [(Platform.OPENAI, "sync"), (Platform.VERTEX_AI, "async")])
@pytest.mark.parametrize("answer", MALFORMED)
def test_an_unreadable_body_is_retried_then_malformed(hostile, answer, platform, mode):
    target = hostile(platform, max_retries=1)
    target.server.always(MALFORMED[answer]())
    job_id = target.server.add_job()
    hook = target.hook()
    outcome = run(lambda: call(hook, "get_job", job_id, mode=mode), 1)
    expect_error(outcome, "MalformedResponseError", within=1, secret=target.key)
    expect_requests(target.server, 2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ["html-page", "truncated-json"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_unreadable_body_then_a_good_one_succeeds(hostile, platform, answer, mode):
    target = hostile(platform, max_retries=1)
    target.server.then(MALFORMED[answer]()).then(platform_answer())
    job_id = target.server.add_job()
    hook = target.hook()
    job = expect_value(run(lambda: call(hook, "get_job", job_id, mode=mode), 1), 1)
    assert job.job_id.endswith(job_id)


#: Field -> longest value the contract lets through.
CLIPPED = {"display_name": 1024, "base_model": 1024, "tuned_model": 1024, "error_message": 2000, "native_state": 128}


def huge_fields(*, with_state: bool = True) -> dict[str, object]:
    """Job fields far over the limits; ``with_state=False`` keeps the job's state readable."""
    fields = {
        "display_name": "d" * (4 * MIB),
        "base_model": "b" * 5000,
        "tuned_model": "t" * 5000,
        "error_message": "e" * 10_000,
        "native_state": "s" * 1000,
        # 100 ordinary labels (more than the 64 kept) and 10 with huge keys and values.
        "labels": {f"team-{i:03d}": "search" for i in range(100)}
        | {f"huge-{i}-" + "k" * 1000: "v" * 1000 for i in range(10)},
    }
    if not with_state:
        del fields["native_state"]
    return fields


def assert_clipped(record: dict, sent: dict) -> None:
    """A job record (XCom form) whose text fields are clipped prefixes of what was sent."""
    for name, limit in CLIPPED.items():
        if name not in sent:
            continue
        value = record[name]
        assert value is not None, f"{name} was dropped instead of clipped"
        assert len(value) <= limit, f"{name} is {len(value)} characters (at most {limit})"
        assert value[:16] == sent[name][:16], f"{name} is not a clip of what was sent: {value[:40]!r}"
    labels = record["labels"]
    assert 0 < len(labels) <= 64, f"{len(labels)} labels (some, at most 64)"
    assert all(len(k) <= 256 and len(v) <= 256 for k, v in labels.items()), "a label key or value over 256"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_huge_job_fields_are_clipped(hostile, platform, mode):
    target = hostile(platform, max_response_mb=16)
    sent = huge_fields()
    target.server.always(job_answer(**sent))
    job_id = target.server.add_job()
    hook = target.hook()
    job = expect_value(run(lambda: call(hook, "get_job", job_id, mode=mode), 1), 1)
    assert_clipped(job.to_xcom(), sent)
