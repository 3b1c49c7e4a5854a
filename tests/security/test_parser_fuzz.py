"""Property-based tests: every dialect's parsers against malformed, truncated and hostile bodies.

Whatever a platform (or a broken proxy in front of it) answers, ``parse_job``,
``parse_page``, ``parse_cancel`` and ``parse_error`` give a job, a page, None or a
:class:`TuningJobError`, never another exception; and a parsed job's state is exactly what
the body's own state field maps to (an unknown or missing state is UNKNOWN, never a guess).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
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
from airflow_ft_provider.platforms.azure_openai import STATES as AZURE_STATES  # noqa: E402
from airflow_ft_provider.platforms.azure_openai import AzureOpenAIDialect  # noqa: E402
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Dialect, Page  # noqa: E402
from airflow_ft_provider.platforms.dashscope import STATES as DASHSCOPE_STATES  # noqa: E402
from airflow_ft_provider.platforms.dashscope import DashScopeDialect  # noqa: E402
from airflow_ft_provider.platforms.gemini import STATES as GEMINI_STATES  # noqa: E402
from airflow_ft_provider.platforms.gemini import GeminiDialect  # noqa: E402
from airflow_ft_provider.platforms.google_errors import ERROR_INFO, REQUEST_INFO, RETRY_INFO  # noqa: E402
from airflow_ft_provider.platforms.openai import STATES as OPENAI_STATES  # noqa: E402
from airflow_ft_provider.platforms.openai import OpenAIDialect  # noqa: E402
from airflow_ft_provider.platforms.together import STATES as TOGETHER_STATES  # noqa: E402
from airflow_ft_provider.platforms.together import TogetherDialect  # noqa: E402
from airflow_ft_provider.platforms.vertex_ai import STATES as VERTEX_STATES  # noqa: E402
from airflow_ft_provider.platforms.vertex_ai import VertexAIDialect  # noqa: E402
from airflow_ft_provider.platforms.wire import parse_json  # noqa: E402
from airflow_ft_provider.server_text import clean  # noqa: E402

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

TIME = "2024-05-01T10:20:30.123456789Z"


@dataclass(frozen=True)
class Shape:
    """One platform's wire format: a valid job, where its state and id live, how answers wrap it."""

    platform: Platform
    make: Callable[[], Dialect]
    job_id: str
    job: dict[str, Any]
    id_key: str
    state_key: str
    #: What the dialect assumes when the state field is missing (proto3 JSON omits zero enums).
    missing_state: str | None
    wrap_job: Callable[[Any], Any]
    wrap_page: Callable[[list[Any]], Any]
    error: dict[str, Any]
    cancel_answer: Any

    def unwrap_job(self, body: Any) -> Any:
        if self.platform == Platform.DASHSCOPE:
            return body.get("output") if isinstance(body, dict) else None
        return body

    def page_items(self, body: Any) -> Any:
        if not isinstance(body, dict):
            return None
        if self.platform == Platform.DASHSCOPE:
            output = body.get("output")
            return output.get("jobs") if isinstance(output, dict) else None
        key = {Platform.VERTEX_AI: "tuningJobs", Platform.GEMINI: "tunedModels"}.get(self.platform, "data")
        return body.get(key, [] if self.platform in (Platform.VERTEX_AI, Platform.GEMINI) else None)


GOOGLE_ERROR = {
    "error": {
        "code": 400,
        "message": "Request contains an invalid argument.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com"},
            {"@type": RETRY_INFO, "retryDelay": "5s"},
            {"@type": REQUEST_INFO, "requestId": "req-1"},
        ],
    }
}
OPENAI_ERROR = {"error": {"message": "boom", "type": "invalid_request_error", "param": None, "code": "x"}}

SHAPES: dict[Platform, Shape] = {
    Platform.OPENAI: Shape(
        Platform.OPENAI,
        lambda: OpenAIDialect("https://api.openai.com/v1"),
        "ftjob-abc123",
        {
            "object": "fine_tuning.job",
            "id": "ftjob-abc123",
            "model": "gpt-4o-mini-2024-07-18",
            "created_at": 1714558830,
            "finished_at": None,
            "fine_tuned_model": None,
            "status": "running",
            "error": {"code": None, "message": None, "param": None},
            "suffix": "demo",
            "metadata": {"name": "demo", "team": "ml"},
        },
        "id",
        "status",
        None,
        lambda job: job,
        lambda items: {"object": "list", "data": items, "has_more": True},
        OPENAI_ERROR,
        None,
    ),
    Platform.TOGETHER: Shape(
        Platform.TOGETHER,
        lambda: TogetherDialect("https://api.together.ai/v1"),
        "ft-01234567-89ab",
        {
            "id": "ft-01234567-89ab",
            "status": "cancel_requested",
            "model": "meta-llama/Llama-3-8b",
            "model_output_name": None,
            "created_at": TIME,
            "updated_at": TIME,
            "started_at": TIME,
            "suffix": "demo",
        },
        "id",
        "status",
        None,
        lambda job: job,
        lambda items: {"data": items},
        OPENAI_ERROR,
        None,
    ),
    Platform.DASHSCOPE: Shape(
        Platform.DASHSCOPE,
        lambda: DashScopeDialect("https://dashscope-intl.aliyuncs.com/api/v1"),
        "ft-202410291653-1c7f",
        {
            "job_id": "ft-202410291653-1c7f",
            "job_name": "demo",
            "status": "RUNNING",
            "model": "qwen-turbo",
            "base_model": "qwen-turbo",
            "finetuned_output": None,
            "create_time": "2024-10-29 16:53:00",
            "end_time": None,
            "code": "1",
            "message": "cancelled by user",
        },
        "job_id",
        "status",
        None,
        lambda job: {"request_id": "req-1", "output": job},
        lambda items: {
            "request_id": "req-1",
            "output": {"jobs": items, "total": 250, "page_no": 1, "page_size": 100},
        },
        {"request_id": "req-1", "code": "InvalidParameter", "message": "boom"},
        {"request_id": "req-1", "output": {"status": "success"}},
    ),
    Platform.VERTEX_AI: Shape(
        Platform.VERTEX_AI,
        lambda: VertexAIDialect("https://us-central1-aiplatform.googleapis.com", project="my-project"),
        "projects/my-project/locations/us-central1/tuningJobs/123",
        {
            "name": "projects/123456789012/locations/us-central1/tuningJobs/456",
            "state": "JOB_STATE_RUNNING",
            "baseModel": "gemini-2.0-flash-001",
            "tunedModelDisplayName": "demo",
            "createTime": TIME,
            "startTime": TIME,
            "updateTime": TIME,
            "endTime": TIME,
            "error": {"code": 1, "message": "cancelled"},
            "tunedModel": {"model": "projects/1/locations/us-central1/models/2"},
            "labels": {"team": "ml"},
        },
        "name",
        "state",
        "JOB_STATE_UNSPECIFIED",
        lambda job: job,
        lambda items: {"tuningJobs": items, "nextPageToken": "next"},
        GOOGLE_ERROR,
        {},
    ),
    Platform.GEMINI: Shape(
        Platform.GEMINI,
        lambda: GeminiDialect("https://generativelanguage.googleapis.com"),
        "tunedModels/my-model-abc123",
        {
            "name": "tunedModels/my-model-abc123",
            "state": "CREATING",
            "displayName": "demo",
            "baseModel": "models/gemini-1.5-flash-001-tuning",
            "createTime": TIME,
            "updateTime": TIME,
            "tuningTask": {"startTime": TIME, "completeTime": TIME},
        },
        "name",
        "state",
        "STATE_UNSPECIFIED",
        lambda job: job,
        lambda items: {"tunedModels": items, "nextPageToken": "next"},
        GOOGLE_ERROR,
        {},
    ),
}

#: Azure OpenAI: OpenAI's bodies, Azure's addressing (legacy data plane) and error body.
SHAPES[Platform("azure_openai")] = replace(
    SHAPES[Platform.OPENAI],
    platform=Platform("azure_openai"),
    make=lambda: AzureOpenAIDialect("https://contoso.openai.azure.com", "2024-10-21"),
    error={"error": {"code": "401", "message": "Access denied due to invalid subscription key."}},
)

# -- strategies -------------------------------------------------------------------------------
SHAPES_STATES: dict[Platform, Any] = {
    Platform.OPENAI: OPENAI_STATES,
    Platform.TOGETHER: TOGETHER_STATES,
    Platform.DASHSCOPE: DASHSCOPE_STATES,
    Platform.VERTEX_AI: VERTEX_STATES,
    Platform.GEMINI: GEMINI_STATES,
    Platform("azure_openai"): AZURE_STATES,
}
ALL_NATIVE_STATES = sorted(
    {
        *OPENAI_STATES,
        *AZURE_STATES,
        *TOGETHER_STATES,
        *DASHSCOPE_STATES,
        *VERTEX_STATES,
        *GEMINI_STATES,
        *TuningJobState,
    }
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
    own = sorted(SHAPES_STATES[shape.platform])
    state = st.one_of(st.sampled_from(own), st.sampled_from(ALL_NATIVE_STATES), NEAR_STATES, JSON, st.just(MISSING))

    def build(value: Any) -> dict[str, Any]:
        job = dict(shape.job)
        if value is MISSING:
            job.pop(shape.state_key)
        else:
            job[shape.state_key] = value
        return job

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
    raw = item.get(shape.state_key, shape.missing_state) if isinstance(item, dict) else None
    state = dialect.states.get(raw) if isinstance(raw, str) else None
    return state or TuningJobState.UNKNOWN, str(raw)


def check_job(shape: Shape, dialect: Dialect, job: Any, item: Any) -> None:
    assert isinstance(job, TuningJob)
    assert job.platform is shape.platform
    assert isinstance(item, dict), "a job was parsed out of something that is not an object"
    assert job.job_id == clean(item[shape.id_key])
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


PLATFORM_IDS = [p.value for p in SHAPES]


@pytest.mark.parametrize("platform", list(SHAPES), ids=PLATFORM_IDS)
def test_valid_bodies_parse(platform):
    """The templates are valid: the fuzzing starts from answers the parsers accept."""
    shape = SHAPES[platform]
    dialect = shape.make()
    job = dialect.parse_job(ApiResponse(200, {}, dumps(shape.wrap_job(shape.job))))
    check_job(shape, dialect, job, shape.job)
    page = dialect.parse_page(
        ApiResponse(200, {}, dumps(shape.wrap_page([shape.job]))), requests(shape, dialect)["list"]
    )
    assert len(page.jobs) == 1
    error = dialect.parse_error(ApiResponse(400, {}, dumps(shape.error)), requests(shape, dialect)["get"])
    assert isinstance(error, TuningJobError)


@pytest.mark.parametrize("operation", ["get", "cancel"])
@pytest.mark.parametrize("platform", list(SHAPES), ids=PLATFORM_IDS)
def test_parse_job_and_cancel_never_crash_or_invent_a_state(platform, operation):
    """A read answers with the job; a cancel with the job, or (DashScope) with no job at all."""
    shape = SHAPES[platform]
    dialect = shape.make()
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


@pytest.mark.parametrize("platform", list(SHAPES), ids=PLATFORM_IDS)
def test_parse_page_never_crashes_or_invents_a_state(platform):
    shape = SHAPES[platform]
    dialect = shape.make()
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


@pytest.mark.parametrize("platform", list(SHAPES), ids=PLATFORM_IDS)
def test_parse_error_always_returns_a_typed_error(platform):
    shape = SHAPES[platform]
    dialect = shape.make()
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


@pytest.mark.parametrize("platform", SHAPES, ids=str)
def test_error_messages_from_the_platform_are_bounded(platform):
    """A 1 MB error message (a proxy's page, a hostile server) must not flood task logs."""
    shape = SHAPES[platform]
    dialect = shape.make()
    huge = "A" * 1_000_000
    bodies_ = {
        Platform.DASHSCOPE: {"code": "X", "message": huge},
        Platform.VERTEX_AI: {"error": {"code": 400, "message": huge, "status": "INVALID_ARGUMENT"}},
        Platform.GEMINI: {"error": {"code": 400, "message": huge, "status": "INVALID_ARGUMENT"}},
    }
    body = bodies_.get(platform, {"error": {"message": huge, "code": "x"}})
    headers = {"x-request-id": "r" * 100_000}
    error = dialect.parse_error(ApiResponse(400, headers, dumps(body)), requests(shape, dialect)["get"])
    assert len(str(error)) < 5_000


# -- a hostile list answer through the hook's page walk ---------------------------------------
def hook_with_answers(platform: Platform, answer: Callable[[httpx.Request], httpx.Response]) -> Any:
    """A hook whose HTTP client is a mock answering with ``answer``; no Airflow connection read."""
    from airflow.sdk import Connection

    from airflow_ft_provider.hooks.registry import hook_class_for_platform

    extra: dict[str, Any] = {"max_retries": 0}
    if platform is Platform.VERTEX_AI:
        extra.update(project="my-project", access_token="tok-fuzz-0123")
    conn = Connection(
        conn_id="fuzz",
        conn_type=f"ft_{platform.value}",
        host="http://127.0.0.1:9",
        password=None if platform is Platform.VERTEX_AI else "sk-fuzz-0123",
        extra=json.dumps(extra),
    )
    hook = hook_class_for_platform(platform)(conn_id="fuzz")
    hook.get_connection = lambda _conn_id: conn  # type: ignore[method-assign]
    hook._client = httpx.Client(transport=httpx.MockTransport(answer))
    return hook


@pytest.mark.parametrize("platform", [Platform.OPENAI, Platform.VERTEX_AI, Platform.GEMINI], ids=str)
def test_a_repeated_page_token_cannot_loop_forever(platform):
    """A server that always answers 'more after this' with the same token must not hang a task."""
    shape = SHAPES[platform]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=dumps(shape.wrap_page([shape.job])))

    hook = hook_with_answers(platform, answer)
    with pytest.raises(ListingLimitError, match="same next-page token"):
        list(itertools.islice(hook.list_jobs(page_size=1), 200))
