"""What every platform's dialect and record promise, checked for each platform the registry finds.

A new platform brings no copy of these tests: its record, its dialect and its emulator module are
enough. The dialect's requests are answered by the platform's emulator app in memory (httpx's ASGI
transport: no socket, no server), so request and response shapes are checked against one another;
each platform's own test file keeps only what is particular to it.
"""

from __future__ import annotations

import importlib
import json

import pytest

from airflow_ft_provider.errors import (
    AuthenticationError,
    InvalidJobIdError,
    JobNotFoundError,
    MalformedResponseError,
    PermissionDeniedError,
    PlatformUnavailableError,
    RateLimitedError,
    TuningJobError,
)
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.platforms.acks import Ack, AckKind
from airflow_ft_provider.platforms.base import ApiResponse, Dialect, Operation
from airflow_ft_provider.platforms.extras import ExtraError
from airflow_ft_provider.platforms.record import PlatformRecord
from airflow_ft_provider.platforms.registry import RECORDS, Platform
from airflow_ft_provider.testing.core import EmulatorCore
from airflow_ft_provider.testing.store import JobScript
from tests.platforms.emulated import PLATFORMS, connection_extras, dialect_for, exchange, locate_job, new_core, replaced

#: Ids no platform may send anywhere: path escapes, encodings, queries, control characters, sizes.
HOSTILE_IDS: list[object] = [
    "",
    " ",
    None,
    42,
    b"ftjob-1",
    ["ftjob-1"],
    "../etc/passwd",
    "a/../../b",
    "%2e%2e%2f",
    "job?x=1",
    "job#frag",
    "job\n",
    "jo\x00b",
    "job\t",
    " job",
    "job ",
    "x" * 10_000,
]


def record_of(platform: Platform) -> PlatformRecord:
    return RECORDS[platform.value]


@pytest.fixture(scope="module")
def core() -> EmulatorCore:
    return new_core()


# -- the record ------------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_the_record_declares_a_usable_hook_and_form(platform):
    record = record_of(platform)
    assert record.conn_type.startswith("ft_") and record.default_conn_name == f"{record.conn_type}_default"
    module, _, name = record.hook_class_path.rpartition(".")
    hook = getattr(importlib.import_module(module), name)
    assert (hook.conn_type, hook.hook_name, hook.platform) == (record.conn_type, record.hook_name, platform)
    names = [field.name for field in record.form.fields]
    assert len(names) == len(set(names)), "a form field is declared twice"
    assert record.dialect.platform == platform.value


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_without_a_host_the_platform_is_reached_over_https(core, platform):
    """Or, where the platform has no endpoint of its own (Azure OpenAI: one per resource), the
    missing host is refused naming the fix: never a guessed or plain-http default."""
    try:
        dialect = record_of(platform).dialect.from_extras(None, connection_extras(core, platform))
    except ExtraError as exc:
        assert "Host" in str(exc) and "https://" in str(exc)
        return
    assert dialect.base_url.startswith("https://")


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_every_operation_succeeds_on_its_declared_2xx_only(core, platform):
    """200 unless the platform documents another success (watsonx.ai's cancel: 204 No Content); a
    redirect, a 202 or any status the platform does not answer is never a success."""
    dialect = dialect_for(core, platform)
    assert set(dialect.success_statuses) == set(Operation)
    assert all(codes and all(200 <= code < 300 for code in codes) for codes in dialect.success_statuses.values())
    assert dialect.success_statuses[Operation.GET] == dialect.success_statuses[Operation.LIST] == {200}


# -- ids -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("job_id", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_hostile_ids_are_refused_before_any_request(core, platform, job_id):
    dialect = dialect_for(core, platform)
    for build in (dialect.get_request, dialect.cancel_request, dialect.canonical_id):
        with pytest.raises(InvalidJobIdError) as info:
            build(job_id)  # type: ignore[arg-type]
        assert info.value.platform == platform


# -- round trips against the platform's emulator ----------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_a_job_reads_back_as_it_was_seeded(core, platform):
    dialect = dialect_for(core, platform)
    job_id = core.seed(platform, display_name="contract", script=JobScript(running_s=None))
    job = dialect.parse_job(exchange(core, platform, dialect.get_request(job_id)))
    assert dialect.is_same_job(job_id, job)
    assert job.state is TuningJobState.RUNNING
    assert job.platform is platform
    assert job.native_state == core.job_state(platform, job_id)


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_a_listing_holds_the_seeded_jobs_and_an_empty_one_ends(core, platform):
    dialect = dialect_for(core, platform)
    core.reset()
    request = dialect.list_request(None, 10)
    empty = dialect.parse_page(exchange(core, platform, request), request)
    assert (empty.jobs, empty.next_token) == ([], None)
    seeded = core.seed_many(platform, 3, script=JobScript(running_s=None))
    page = dialect.parse_page(exchange(core, platform, request), request)
    assert sorted(dialect.job_key(j.job_id) for j in page.jobs) == sorted(dialect.job_key(j) for j in seeded)


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 503])
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_the_platforms_error_answers_map_to_the_shared_classes(core, platform, status):
    expected: dict[int, type[TuningJobError]] = {
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: JobNotFoundError,
        429: RateLimitedError,
        500: PlatformUnavailableError,
        503: PlatformUnavailableError,
    }
    dialect = dialect_for(core, platform)
    answer = core.spec(platform).error(status)
    response = ApiResponse(status, dict(answer.headers), bytes(answer.body))
    error = dialect.parse_error(response, dialect.get_request(_an_id(core, platform)))
    assert isinstance(error, expected[status]), f"{status} -> {type(error).__name__}: {error}"
    assert error.retryable is (status in (429, 500, 503))


@pytest.mark.parametrize("content", [b"", b"<html>502</html>", b"[]", b"\xff\xfe", b'{"error": 5}', b"{" * 5000])
@pytest.mark.parametrize("status", [404, 500])
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_an_unreadable_error_body_keeps_the_status_class(core, platform, status, content):
    dialect = dialect_for(core, platform)
    error = dialect.parse_error(ApiResponse(status, {}, content), dialect.get_request(_an_id(core, platform)))
    assert isinstance(error, JobNotFoundError if status == 404 else PlatformUnavailableError)


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b"null", b'"x"', b"\xff", b"{" * 5000])
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_an_unreadable_answer_is_malformed_not_a_crash(core, platform, content):
    dialect = dialect_for(core, platform)
    request = dialect.list_request(None, 10)
    with pytest.raises(MalformedResponseError):
        dialect.parse_job(ApiResponse(200, {}, content))
    with pytest.raises(MalformedResponseError):
        dialect.parse_page(ApiResponse(200, {}, content), request)


@pytest.mark.parametrize("native", ["EXPLODED_NEW_STATE", "", 7, None, {"a": 1}])
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_an_unknown_state_is_unknown_and_kept(core, platform, native):
    dialect = dialect_for(core, platform)
    job_id = core.seed(platform, script=JobScript(running_s=None))
    body = json.loads(exchange(core, platform, dialect.get_request(job_id)).content)
    at = locate_job(body, dialect.parse_job(ApiResponse(200, {}, json.dumps(body).encode())))
    body = replaced(body, at.path, at.with_state(at.get(body), native))
    job = dialect.parse_job(ApiResponse(200, {}, json.dumps(body).encode()))
    assert job.state is TuningJobState.UNKNOWN
    assert job.native_state == str(native)


def _an_id(core: EmulatorCore, platform: Platform) -> str:
    return core.seed(platform, script=JobScript(running_s=None))


# -- the acknowledgement of a cancel -----------------------------------------------------------------
CANCELLING = [p for p in PLATFORMS if record_of(p).can_cancel]


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _ack_body(core: EmulatorCore, platform: Platform, dialect: Dialect) -> bytes:
    """What the platform's emulator answers to an accepted cancel."""
    job_id = core.seed(platform, script=JobScript(running_s=None))
    response = exchange(core, platform, dialect.cancel_request(job_id))
    assert response.status_code in dialect.success_statuses[Operation.CANCEL]
    return response.content


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_every_dialect_declares_its_cancel_acknowledgement(platform):
    assert isinstance(record_of(platform).dialect.cancel_ack, Ack)


@pytest.mark.parametrize("platform", CANCELLING, ids=str)
def test_the_documented_acknowledgement_is_accepted(core, platform):
    dialect = dialect_for(core, platform)
    job_id = core.seed(platform, script=JobScript(running_s=None))
    request = dialect.cancel_request(job_id)
    answered = dialect.parse_cancel(exchange(core, platform, request), request)
    if dialect.cancel_ack.kind is AckKind.JOB_RECORD:
        assert answered is not None and dialect.is_same_job(job_id, answered)
    else:
        assert answered is None


#: 200 bodies a proxy, a captive portal or a broken server sends: none is an acknowledgement.
NOT_ACKS = {
    "html": b"<!DOCTYPE html><html><body>Sign in to the guest Wi-Fi</body></html>",
    "nested-100k": _nested(100_000),
    "5000-digits": b'{"n": ' + b"9" * 5000 + b"}",
    "bare-5000-digits": b"9" * 5000,
    "array": b"[]",
    "null": b"null",
    "wrong-object": b'{"ok": true}',
    "whitespace": b" ",
}


@pytest.mark.parametrize("body", list(NOT_ACKS.values()), ids=list(NOT_ACKS))
@pytest.mark.parametrize("platform", CANCELLING, ids=str)
def test_a_200_that_is_not_the_acknowledgement_is_malformed(core, platform, body):
    dialect = dialect_for(core, platform)
    request = dialect.cancel_request(_an_id(core, platform))
    with pytest.raises(MalformedResponseError) as info:
        dialect.parse_cancel(ApiResponse(200, {}, body), request)
    assert info.value.retryable


@pytest.mark.parametrize("platform", CANCELLING, ids=str)
def test_the_acknowledgement_in_latin_1_or_with_a_key_twice_is_malformed(core, platform):
    """The acknowledgement itself, spoiled: in Latin-1 with a non-ASCII letter, or with a key
    repeated (a reader taking the first or the last of two would see different answers). A ``{}``
    acknowledgement with a member is no longer one anyway."""
    dialect = dialect_for(core, platform)
    request = dialect.cancel_request(_an_id(core, platform))
    ack = json.loads(_ack_body(core, platform, dialect) or b"{}")
    as_text = json.dumps({"note": "café", **ack}, ensure_ascii=False)
    spoiled = [as_text.encode("latin-1"), as_text.replace('"note"', '"dup": 1, "dup"', 1).encode()]
    if dialect.cancel_ack.kind is AckKind.FIELD:  # the member that decides, twice, the last one right
        *parents, last = dialect.cancel_ack.path
        twice = f'"{last}": "not-{dialect.cancel_ack.value}", "{last}": {json.dumps(dialect.cancel_ack.value)}'
        spoiled.append(("".join(f'{{"{key}": ' for key in parents) + "{" + twice + "}" + "}" * len(parents)).encode())
    for body in spoiled:
        with pytest.raises(MalformedResponseError):
            dialect.parse_cancel(ApiResponse(200, {}, body), request)
