"""Property-based tests: every dialect's parsers against malformed, truncated and hostile bodies.

Whatever a platform (or a broken proxy in front of it) answers, ``parse_job``,
``parse_page``, ``parse_cancel`` and ``parse_error`` give a job, a page, None or a
:class:`TuningJobError`, never another exception; and a parsed job's state is exactly what
the body's own state field maps to (an unknown or missing state is UNKNOWN, never a guess).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from airflow_ft_provider.errors import (  # noqa: E402
    AuthenticationError,
    ListingLimitError,
    MalformedResponseError,
    TuningJobError,
)
from airflow_ft_provider.jobs import (  # noqa: E402
    MAX_NATIVE_STATE,
    Platform,
    TuningJob,
    TuningJobState,
)
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Operation, Page  # noqa: E402
from airflow_ft_provider.platforms.registry import RECORDS  # noqa: E402
from airflow_ft_provider.platforms.wire import parse_json  # noqa: E402
from airflow_ft_provider.server_text import clean  # noqa: E402
from airflow_ft_provider.testing.platforms import SPECS  # noqa: E402
from airflow_ft_provider.testing.store import JobScript  # noqa: E402
from tests.platforms.emulated import (  # noqa: E402
    PLATFORMS,
    JobLocation,
    connection_extra,
    dialect_for,
    exchange,
    locate_items,
    locate_job,
    member,
    new_core,
    replaced,
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@dataclass(frozen=True)
class Shape:
    """One platform's wire format, as its dialect and emulator show it: a valid job and page and
    where their jobs sit, an error answer and the cancel's acknowledgement."""

    platform: Platform
    dialect: Dialect
    #: An id the dialect accepts (a job of the emulator's).
    job_id: str
    job: dict[str, Any]
    at: JobLocation
    #: The emulator's read answer, and the first page of a listing of two jobs, one a page.
    read_body: Any
    page_body: Any
    items_path: tuple[str, ...]
    #: What the listing holds when its array is absent: [] (proto3 JSON leaves it out) or None.
    absent_items: list[Any] | None
    #: What the dialect assumes when the state field is missing (proto3 JSON omits zero enums).
    missing_state: str | None
    error: Any
    cancel_answer: Any

    def wrap_job(self, job: Any) -> Any:
        return replaced(self.read_body, self.at.path, job)

    def wrap_page(self, items: list[Any]) -> Any:
        return replaced(self.page_body, self.items_path, items)

    def unwrap_job(self, body: Any) -> Any:
        return self.at.get(body)

    def page_items(self, body: Any) -> Any:
        parent = member(body, self.items_path[:-1])
        if not isinstance(parent, dict):
            return None
        return parent.get(self.items_path[-1], self.absent_items)


@functools.cache
def shape_of(platform: Platform) -> Shape:
    """Everything the properties need, from the platform's dialect and its emulator: a platform
    that cannot give it fails here, by name, instead of going unfuzzed."""
    core = new_core()
    dialect = dialect_for(core, platform)
    job_ids = core.seed_many(platform, 2, script=JobScript(running_s=None))
    read_body = parse_json(exchange(core, platform, dialect.get_request(job_ids[0])).content)
    parsed = dialect.parse_job(ApiResponse(200, {}, dumps(read_body)))
    at = locate_job(read_body, parsed)
    job = at.get(read_body)
    without_state = at.without_state(job)
    missing = dialect.parse_job(ApiResponse(200, {}, dumps(replaced(read_body, at.path, without_state))))
    list_request = dialect.list_request(None, 1)
    page_body = parse_json(exchange(core, platform, list_request).content)
    items_path = locate_items(page_body, at)
    parent = member(page_body, items_path[:-1])
    without_items = replaced(page_body, items_path[:-1], {k: v for k, v in parent.items() if k != items_path[-1]})
    try:
        absent_items = (
            [] if dialect.parse_page(ApiResponse(200, {}, dumps(without_items)), list_request).jobs == [] else None
        )
    except MalformedResponseError:
        absent_items = None
    ack = exchange(core, platform, dialect.cancel_request(job_ids[1]))
    error = core.spec(platform).error(400)
    return Shape(
        platform=platform,
        dialect=dialect,
        job_id=job_ids[0],
        job=job,
        at=at,
        read_body=read_body,
        page_body=page_body,
        items_path=items_path,
        absent_items=absent_items,
        missing_state=None if missing.native_state == "None" else missing.native_state,
        error=parse_json(bytes(error.body)),
        # A platform that cannot cancel (the Gemini API) has no acknowledgement: start from its job.
        cancel_answer=(
            parse_json(ack.content or b"{}")
            if ack.status_code in dialect.success_statuses[Operation.CANCEL]
            else read_body
        ),
    )


# -- strategies -------------------------------------------------------------------------------
ALL_NATIVE_STATES = sorted(
    {*(native for record in RECORDS.values() for native in record.dialect.states), *TuningJobState}
)
#: Near misses of real states: a case, a space or an invisible character away.
NEAR_STATES = st.sampled_from(ALL_NATIVE_STATES).flatmap(
    lambda s: st.sampled_from(
        [s.upper(), s.lower(), s.title(), f" {s}", f"{s} ", f"{s}\u200b", f"{s}\x00", s.replace("_", "-"), s + "x"]
    )
)
HUGE = st.sampled_from(["x" * 100_000, "\u202e" * 10_000, "9" * 5_000, "[" * 3_000])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(ALL_NATIVE_STATES),
    NEAR_STATES,
    st.sampled_from(["", " ", "null", "0", "-1", "1e309", "NaN", "9999-99-99T99:99:99Z", "2024-13-45 25:61:61"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
HOSTILE = st.one_of(JSON, HUGE)


def nested(depth: int, inner: str = '"deep"') -> bytes:
    """JSON nested ``depth`` levels (objects and arrays), written as text: no encoder recursion."""
    opening = "".join('{"a":' if i % 2 else "[" for i in range(depth))
    closing = "".join("}" if i % 2 else "]" for i in reversed(range(depth)))
    return (opening + inner + closing).encode()


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """``value`` with each field kept, mutated, dropped, or replaced by something hostile."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            action = draw(st.sampled_from(["keep", "keep", "mutate", "drop", "hostile", "null"]))
            if action == "keep":
                out[key] = copy.deepcopy(child)
            elif action == "mutate":
                out[key] = draw(mutated(child, depth + 1))
            elif action == "hostile":
                out[key] = draw(HOSTILE)
            elif action == "null":
                out[key] = None
        for key, extra in draw(st.dictionaries(st.text(max_size=10), JSON, max_size=2)).items():
            out.setdefault(key, extra)
        return out
    if isinstance(value, list):
        items = [draw(mutated(item, depth + 1)) for item in value]
        return items + draw(st.lists(HOSTILE, max_size=2))
    return draw(st.one_of(st.just(value), HOSTILE))


def dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def bodies(draw: st.DrawFn, valid: Any) -> bytes:
    """Hostile answers built around a valid one."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "truncated", "bytes", "json", "wrapped", "deep"]))
    if kind == "mutated":
        return dumps(draw(mutated(valid)))
    if kind == "truncated":
        raw = dumps(valid)
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return dumps(draw(HOSTILE))
    if kind == "wrapped":  # a list, or the object one level too deep or too shallow
        return dumps(draw(st.sampled_from([[valid], {"data": valid}, {"output": valid}, {"error": valid}, [], {}])))
    depth = draw(st.sampled_from([50, 400, 900, 2_000, 50_000]))
    if draw(st.booleans()):  # the whole body, or only the value of a field inside a valid one
        return nested(depth)
    raw = dumps(valid)
    marker = b'"__deep__"'
    field_body = dumps(draw(mutated(valid)) if isinstance(valid, dict) else valid)
    if isinstance(valid, dict) and valid:
        key = draw(st.sampled_from(sorted(valid)))
        field_body = dumps({**valid, key: "__deep__"})
        return field_body.replace(marker, nested(depth))
    return raw


def job_variants(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    """The valid job with its state set to one of the platform's own, a near miss, junk, or nothing."""
    own = sorted(shape.dialect.states)
    state = st.one_of(st.sampled_from(own), st.sampled_from(ALL_NATIVE_STATES), NEAR_STATES, JSON, st.just(MISSING))

    def build(value: Any) -> dict[str, Any]:
        return shape.at.without_state(shape.job) if value is MISSING else shape.at.with_state(shape.job, value)

    return state.map(build)


MISSING = object()


def answers(shape: Shape, wrap: Callable[[Any], Any], valid: Any) -> st.SearchStrategy[bytes]:
    """Hostile bodies, half of them a well-formed answer whose jobs carry every kind of state."""
    return st.one_of(bodies(valid), wrap(job_variants(shape)).map(dumps))


HEADERS = st.dictionaries(
    st.sampled_from(["retry-after", "Retry-After", "retry-after-ms", "x-request-id", "x-goog-request-id"]),
    st.one_of(st.text(max_size=20), st.sampled_from(["nan", "inf", "-1", "1e400", "Wed, 21 Oct 2015 07:28:00 GMT"])),
    max_size=3,
)
ERROR_STATUS = st.one_of(
    st.sampled_from([400, 401, 403, 404, 405, 408, 409, 412, 429, 499, 500, 501, 502, 503, 504]),
    st.integers(400, 599),
)


# -- the properties ---------------------------------------------------------------------------
def expected_state(shape: Shape, dialect: Dialect, item: Any) -> tuple[TuningJobState, str]:
    raw = shape.at.state_of(item, shape.missing_state) if isinstance(item, dict) else None
    state = dialect.states.get(raw) if isinstance(raw, str) else None
    return state or TuningJobState.UNKNOWN, str(raw)


def check_job(shape: Shape, dialect: Dialect, job: Any, item: Any) -> None:
    assert isinstance(job, TuningJob)
    assert job.platform is shape.platform
    assert isinstance(item, dict), "a job was parsed out of something that is not an object"
    assert job.job_id == clean(shape.at.id_of(item))
    assert isinstance(job.job_id, str)
    assert job.job_id
    state, native = expected_state(shape, dialect, item)
    assert job.state is state, f"body said {native!r}, parsed {job.state}"
    # Kept as sent, as data (controls escaped), clipped to a size a log line and the XCom can carry.
    assert job.native_state == clean(native, MAX_NATIVE_STATE)
    json.dumps(job.to_xcom())  # what goes to XCom is plain JSON


def loads(body: bytes) -> Any:
    try:
        return parse_json(body)
    except (ValueError, RecursionError):
        return MalformedResponseError


def run_parser(call: Callable[[], Any]) -> Any:
    """The parser's result, or its TuningJobError; anything else fails the property."""
    try:
        result = call()
    except TuningJobError as exc:
        str(exc)  # must be printable
        event(f"refused: {type(exc).__name__}")
        return exc
    event("parsed" if result is not None else "None")
    return result


def requests(shape: Shape, dialect: Dialect) -> dict[str, ApiRequest]:
    return {
        "get": dialect.get_request(shape.job_id),
        "list": dialect.list_request(None, 10),
        "cancel": dialect.cancel_request(shape.job_id),
    }


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_valid_bodies_parse(platform):
    """The templates are valid: the fuzzing starts from answers the parsers accept (and a job
    whose state field is missing reads as UNKNOWN, never as a guess)."""
    shape = shape_of(platform)
    dialect = shape.dialect
    job = dialect.parse_job(ApiResponse(200, {}, dumps(shape.wrap_job(shape.job))))
    check_job(shape, dialect, job, shape.job)
    assert expected_state(shape, dialect, {})[0] is TuningJobState.UNKNOWN
    page = dialect.parse_page(
        ApiResponse(200, {}, dumps(shape.wrap_page([shape.job]))), requests(shape, dialect)["list"]
    )
    assert len(page.jobs) == 1
    error = dialect.parse_error(ApiResponse(400, {}, dumps(shape.error)), requests(shape, dialect)["get"])
    assert isinstance(error, TuningJobError)


@pytest.mark.parametrize("operation", ["get", "cancel"])
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_parse_job_and_cancel_never_crash_or_invent_a_state(platform, operation):
    """A read answers with the job; a cancel with the job, or (DashScope) with no job at all."""
    shape = shape_of(platform)
    dialect = shape.dialect
    request = requests(shape, dialect)["cancel"]
    if operation == "get":
        valid = shape.wrap_job(shape.job)

        def parse(response: ApiResponse) -> Any:
            return dialect.parse_job(response)
    else:
        valid = shape.cancel_answer if shape.cancel_answer is not None else shape.wrap_job(shape.job)

        def parse(response: ApiResponse) -> Any:
            return dialect.parse_cancel(response, request)

    @FUZZ
    @given(body=answers(shape, lambda jobs: jobs.map(shape.wrap_job), valid), headers=HEADERS)
    def prop(body: bytes, headers: dict[str, str]) -> None:
        result = run_parser(lambda: parse(ApiResponse(200, headers, body)))
        if (result is None and operation == "cancel") or isinstance(result, TuningJobError):
            return
        parsed = loads(body)
        assert parsed is not MalformedResponseError, "a body that is not JSON was accepted"
        check_job(shape, dialect, result, shape.unwrap_job(parsed))

    prop()


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_parse_page_never_crashes_or_invents_a_state(platform):
    shape = shape_of(platform)
    dialect = shape.dialect
    request = requests(shape, dialect)["list"]
    pages = answers(shape, lambda jobs: st.lists(jobs, max_size=4).map(shape.wrap_page), shape.wrap_page([shape.job]))

    @FUZZ
    @given(body=pages, headers=HEADERS)
    def prop(body: bytes, headers: dict[str, str]) -> None:
        result = run_parser(lambda: dialect.parse_page(ApiResponse(200, headers, body), request))
        if isinstance(result, TuningJobError):
            return
        assert isinstance(result, Page)
        assert result.next_token is None or (isinstance(result.next_token, str) and result.next_token)
        parsed = loads(body)
        assert parsed is not MalformedResponseError, "a body that is not JSON was accepted"
        items = shape.page_items(parsed)
        assert isinstance(items, list)
        assert len(result.jobs) == len(items)
        for job, item in zip(result.jobs, items, strict=True):
            check_job(shape, dialect, job, item)

    prop()


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_parse_error_always_returns_a_typed_error(platform):
    shape = shape_of(platform)
    dialect = shape.dialect
    all_requests = list(requests(shape, dialect).values())

    @FUZZ
    @given(
        body=st.one_of(bodies(shape.error), bodies([shape.error])),
        status=ERROR_STATUS,
        headers=HEADERS,
        request=st.sampled_from(all_requests),
    )
    def prop(body: bytes, status: int, headers: dict[str, str], request: ApiRequest) -> None:
        error = dialect.parse_error(ApiResponse(status, headers, body), request)  # returns, never raises
        assert isinstance(error, TuningJobError)
        event(type(error).__name__)
        assert error.status_code == status
        assert error.platform == shape.platform
        assert str(error).strip()
        if status in (401, 403):
            assert isinstance(error, AuthenticationError), f"HTTP {status} became {type(error).__name__}"
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            assert not math.isnan(retry_after)
            assert retry_after >= 0

    prop()


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_error_messages_from_the_platform_are_bounded(platform):
    """A 1 MB error message (a proxy's page, a hostile server) must not flood task logs."""
    shape = shape_of(platform)
    dialect = shape.dialect
    body = flooded(shape.error, "A" * 1_000_000)
    headers = {"x-request-id": "r" * 100_000}
    error = dialect.parse_error(ApiResponse(400, headers, dumps(body)), requests(shape, dialect)["get"])
    assert len(str(error)) < 5_000


def flooded(value: Any, text: str) -> Any:
    """``value`` with every string in it (its message, its code) replaced by ``text``."""
    if isinstance(value, dict):
        return {key: flooded(item, text) for key, item in value.items()}
    if isinstance(value, list):
        return [flooded(item, text) for item in value]
    return text if isinstance(value, str) else value


# -- a hostile list answer through the hook's page walk ---------------------------------------
def hook_with_answers(platform: Platform, answer: Callable[[httpx.Request], httpx.Response]) -> Any:
    """A hook whose HTTP client is a mock answering with ``answer``; no Airflow connection read."""
    from airflow.sdk import Connection

    from airflow_ft_provider.hooks.registry import hook_class_for_platform

    # The extras its emulator's connection carries (a project), and where the platform takes a token
    # as given (Vertex AI, watsonx.ai), a token instead of a key that would be exchanged first.
    core = new_core()
    extra: dict[str, Any] = {**connection_extra(core, platform), "max_retries": 0}
    token_only = "access_token" in {field.name for field in RECORDS[platform.value].form.fields}
    if token_only:
        extra["access_token"] = "tok-fuzz-0123"
    secret = {} if token_only else SPECS[platform].secret_fields("sk-fuzz-0123")
    conn = Connection(
        conn_id="fuzz",
        conn_type=f"ft_{platform.value}",
        host=core.base_url(platform),  # where the pages' next URLs point (their origin is checked)
        extra=json.dumps(extra),
        **secret,
    )
    hook = hook_class_for_platform(platform)(conn_id="fuzz")
    hook.get_connection = lambda _conn_id: conn  # type: ignore[method-assign]
    hook._client = httpx.Client(transport=httpx.MockTransport(answer))
    return hook


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_a_repeated_page_token_cannot_loop_forever(platform):
    """A server that always answers 'more after this' with the same token must not hang a task
    (a platform that lists everything in one answer reads it once)."""
    shape = shape_of(platform)
    body = dumps(shape.page_body)
    page = shape.dialect.parse_page(ApiResponse(200, {}, body), shape.dialect.list_request(None, 1))
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=body)

    hook = hook_with_answers(platform, answer)
    if page.next_token is None:
        assert len(list(itertools.islice(hook.list_jobs(page_size=1), 200))) == len(page.jobs)
        assert len(sent) == 1
        return
    with pytest.raises(ListingLimitError, match="same next-page token"):
        list(itertools.islice(hook.list_jobs(page_size=1), 200))
