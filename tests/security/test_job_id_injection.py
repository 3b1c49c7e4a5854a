"""Job ids that try to leave their URL path are refused before any request, on every platform.

Every hostile id goes through the hook (sync and async, read and cancel), the operator and
the sensor (poke and deferrable, via real ``dag.test()``); the emulator's request log must
stay empty: not one byte reaches any platform, OAuth token endpoint included.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_ft_provider.errors import InvalidJobIdError, JobNotFoundError
from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.ids import MAX_JOB_ID_LENGTH, check_id_text
from airflow_ft_provider.platforms.registry import RECORDS
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing.dags import run_dag_source
from tests.conftest import PLATFORMS, conn_id_for
from tests.security.support import MISSING_IDS, dag_header

#: Ids no platform may accept: path escapes, URL syntax, control and look-alike characters.
HOSTILE_IDS: dict[str, str] = {
    "dotdot": "../../v1/files",
    "dotdot-after-id": "ftjob-abc/../../admin",
    "dotdot-only": "..",
    "dot-only": ".",
    "dotdot-inside": "ft-abc..def",
    "backslash-dotdot": "..\\..\\admin",
    "pct-dotdot": "%2e%2e/%2e%2e/v1/files",
    "pct-dotdot-upper": "%2E%2E%2Fadmin",
    "double-encoded": "%252e%252e%252fadmin",
    "encoded-slash": "ftjob-abc%2Fcancel",
    "encoded-nul": "ftjob-abc%00",
    "slash": "ftjob-abc/cancel",
    "query": "ftjob-abc?limit=1000",
    "fragment": "ftjob-abc#fragment",
    "semicolon": "ftjob-abc;cancel",
    "at-sign": "ftjob@evil.example",
    "absolute-url": "https://evil.example/x",
    "scheme-relative": "//evil.example/x",
    "newline": "ftjob-abc\nHost: evil.example",
    "crlf": "ftjob-abc\r\nX-Injected: 1",
    "trailing-newline": "ftjob-abc\n",
    "nul": "ftjob-abc\x00",
    "tab": "ftjob\tabc",
    "del": "ftjob\x7fabc",
    "escape": "ftjob\x1b[31mabc",
    "empty": "",
    "blank": "   ",
    "leading-space": " ftjob-abc",
    "trailing-space": "ftjob-abc ",
    "inner-space": "ftjob abc",
    "nbsp": "ftjob-abc\u00a0",
    "fullwidth-solidus": "ftjob-abc\uff0f..\uff0fadmin",
    "fullwidth-dots": "\uff0e\uff0e\uff0fadmin",
    "one-dot-leader": "\u2024\u2024/admin",
    "zero-width-space": "ftjob-\u200babc",
    "rtl-override": "ftjob-\u202eabc",
    "line-separator": "ftjob-abc\u2028",
    "next-line": "ftjob-abc\u0085",
    "bom": "\ufeffftjob-abc",
    "cyrillic-o": "ftj\u043eb-abc",
    "arabic-indic-digits": "\u0661\u0662\u0663\u0664",
    "combining-dot": "ftjob-abc\u0307",
    "overlong": "a" * (MAX_JOB_ID_LENGTH + 1),
    "10kB": "a" * 10_240,
    "10kB-dotdot": "../" * 3414,
    "10kB-pct": "%2e" * 3414,
}

#: Every platform's own example id (its dialect's ``id_example``), with a twist that must be refused.
EXAMPLE_TWISTS: dict[str, str] = {
    "example-dotdot": "{id}/../{id}",
    "example-dotdot-prefix": "../{id}",
    "example-verb": "{id}/cancel",
    "example-query": "{id}?x=1",
    "example-fragment": "{id}#x",
    "example-leading-slash": "/{id}",
    "example-trailing-slash": "{id}/",
    "example-trailing-space": "{id} ",
}
#: More ids shaped like one platform's own names, with a twist only that platform's names allow.
BEDROCK_JOBS = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k"
PLATFORM_IDS: dict[Platform, dict[str, str]] = {
    Platform.VERTEX_AI: {
        "name-dotdot": "projects/emulator-project/locations/us-central1/tuningJobs/1/../2",
        "name-project-dotdot": "projects/../locations/us-central1/tuningJobs/1",
        "name-domain-dotdot": "projects/a..b:p/locations/us-central1/tuningJobs/1",
        "name-verb": "projects/emulator-project/locations/us-central1/tuningJobs/1:cancel",
        "name-query": "projects/emulator-project/locations/us-central1/tuningJobs/1?alt=media",
        "name-other-collection": "projects/emulator-project/locations/us-central1/datasets/1",
        "short-dotdot": "tuningJobs/../1",
        "short-verb": "tuningJobs/1:cancel",
        "unicode-digits": "tuningJobs/\u0661\u0662\u0663",
        "fullwidth-digits": "\uff11\uff12\uff13",
        "leading-slash": "/projects/emulator-project/locations/us-central1/tuningJobs/1",
    },
    Platform.GEMINI: {
        "name-dotdot": "tunedModels/../files",
        "name-verb": "tunedModels/my-model:cancel",
        "other-collection": "models/gemini-pro",
        "double-prefix": "tunedModels/tunedModels/my-model",
        "uppercase": "tunedModels/My-Model",
    },
    Platform.DASHSCOPE: {"collection-dotdot": "fine-tunes/../deployments", "verb": "ft-2024-abc:cancel"},
    Platform.TOGETHER: {"collection-dotdot": "fine-tunes/../files", "verb": "ft-abc:cancel"},
    Platform.OPENAI: {"collection-dotdot": "fine_tuning/jobs/../../files", "verb": "ftjob-abc/cancel"},
    Platform.BEDROCK: {
        "arn-dotdot": BEDROCK_JOBS + "/../abcd1234efgh",
        "arn-verb": BEDROCK_JOBS + "/abcd1234efgh/stop",
        "arn-query": BEDROCK_JOBS + "/abcd1234efgh?x=1",
        "arn-other-service": "arn:aws:sagemaker:us-east-1:123456789012:training-job/abcd1234efgh",
        "arn-other-region": BEDROCK_JOBS.replace("us-east-1", "eu-west-1") + "/abcd1234efgh",
        "arn-short-suffix": BEDROCK_JOBS + "/abc",
        "name-slash": "my-job/stop",
        "name-too-long": "j" * 64,
        "name-leading-dash": "-job",
        "name-unicode": "j\u00f6b",
    },
    Platform("sagemaker"): {
        "arn-dotdot": "arn:aws:sagemaker:us-east-1:123456789012:training-job/../job",
        "arn-verb": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job/stop",
        "arn-other-service": BEDROCK_JOBS + "/abcd1234efgh",
        "arn-other-region": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/job",
        "arn-other-resource": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/job",
        "name-underscore": "my_job",
        "name-dot": "my.job",
        "name-too-long": "j" * 64,
        "name-leading-dash": "-job",
        "name-trailing-dash": "job-",
        "name-unicode": "j\u00f6b",
        "target-injection": '{"TrainingJobName": "x"}',
    },
    Platform("azure_openai"): {"v1-dotdot": "../../fine_tuning/jobs", "query": "ftjob-abc?api-version=1"},
    Platform.FIREWORKS: {
        "name-dotdot": "accounts/emulator-account/supervisedFineTuningJobs/../dpoJobs/abc",
        "name-verb": "accounts/emulator-account/supervisedFineTuningJobs/abc:cancel",
        "name-other-collection": "accounts/emulator-account/datasets/abc",
        "name-other-account": "accounts/someone-else/supervisedFineTuningJobs/abc",
        "name-account-dotdot": "accounts/../supervisedFineTuningJobs/abc",
        "short-verb": "dpoJobs/abc:resume",
        "short-dotdot": "dpoJobs/../abc",
        "bare-id": "abc123def456",
        "leading-slash": "/accounts/emulator-account/dpoJobs/abc",
    },
    # A query smuggled into the DELETE that cancels: ``hard_delete`` would erase an ended job's record.
    Platform.WATSONX: {"collection-dotdot": "../deployments", "hard-delete": "8c3a2f1e?hard_delete=true"},
}

#: Not strings at all (a template rendered to a number or a list, say).
WRONG_TYPES: list[Any] = [None, 123, 1.5, b"ftjob-abc", ["ftjob-abc"], {"id": "ftjob-abc"}, True]


def hostile_ids(platform: Platform) -> dict[str, Any]:
    wrong_types = {f"type-{type(v).__name__}": v for v in WRONG_TYPES}
    example = RECORDS[platform.value].dialect.id_example
    twisted = {name: twist.format(id=example) for name, twist in EXAMPLE_TWISTS.items()}
    return {**HOSTILE_IDS, **twisted, **PLATFORM_IDS.get(platform, {}), **wrong_types}


def hook_for(platform: Platform) -> Any:
    return hook_class_for_platform(platform)(conn_id=conn_id_for(platform))


def no_requests(emu: Any) -> None:
    sent = emu.requests()
    assert sent == [], f"{len(sent)} request(s) reached the emulator: {[(r.method, r.path) for r in sent]}"


def _outcome(call: Any, platform: Platform) -> str | None:
    """None if ``call`` raised the right InvalidJobIdError, else what happened instead."""
    try:
        call()
    except InvalidJobIdError as exc:
        if exc.platform != platform:
            return f"InvalidJobIdError for platform {exc.platform!r}"
        if len(str(exc)) > 1000:
            return f"message of {len(str(exc))} characters echoes the id"
        return None
    except BaseException as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return "accepted"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_hook_refuses_before_any_request(emu, connections, platform):
    """Sync and async, read and cancel, every hostile id: InvalidJobIdError and no request."""
    hook = hook_for(platform)
    ids = hostile_ids(platform)
    failures: list[str] = []
    for name, job_id in ids.items():
        for method in ("get_job", "cancel_job"):
            problem = _outcome(lambda m=method, j=job_id: getattr(hook, m)(j), platform)
            if problem:
                failures.append(f"{method}({name}={job_id!r:.60}): {problem}")

    async def run_async() -> None:
        try:
            for name, job_id in ids.items():
                for method in ("aget_job", "acancel_job"):
                    try:
                        await getattr(hook, method)(job_id)
                    except InvalidJobIdError as exc:
                        if exc.platform != platform:
                            failures.append(f"{method}({name}): wrong platform {exc.platform!r}")
                        continue
                    except BaseException as exc:
                        failures.append(f"{method}({name}={job_id!r:.60}): {type(exc).__name__}: {exc!s:.200}")
                        continue
                    failures.append(f"{method}({name}={job_id!r:.60}): accepted")
        finally:
            await process_cache.aclose()

    asyncio.run(run_async())
    assert failures == []
    no_requests(emu)
    # Control: the log does record what is sent, so the empty log above means something.
    with pytest.raises(JobNotFoundError):
        hook.get_job(MISSING_IDS[platform])
    assert emu.requests(platform)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_dialect_messages_do_not_echo_control_characters(platform):
    """An id with a newline must not split a log line: the message shows it escaped."""
    with pytest.raises(InvalidJobIdError) as info:
        check_id_text("ftjob-abc\nERROR forged log line", platform, "x")
    assert "\n" not in str(info.value)
    with pytest.raises(InvalidJobIdError) as info:
        check_id_text("a" * 10_240, platform, "x")
    assert len(str(info.value)) < 400


# -- through real Airflow ----------------------------------------------------------------

#: A sample for the (slower) DAG runs: one id per kind of trick.
DAG_SAMPLE = ["dotdot", "newline", "pct-dotdot", "query", "nul", "fullwidth-solidus", "10kB", "blank"]


#: How many of the ids also go through the deferrable operator and both sensor modes (a DAG
#: task costs about a second on Airflow 3.3 and several on 3.1; the check is the same code).
ALL_PATHS_IDS = 2


def injection_dag(dag_id: str, platform: Platform, ids: list[str]) -> str:
    """The operator for every id; the deferrable operator and both sensor modes for the first few."""
    conn_id = conn_id_for(platform)
    lines = dag_header(dag_id)
    for i, job_id in enumerate(ids):
        lines.append(f"    CancelTuningJobOperator(task_id='cancel_{i}', conn_id={conn_id!r}, job_id={job_id!r})")
        if i >= ALL_PATHS_IDS:
            continue
        lines += [
            f"    CancelTuningJobOperator(task_id='cancel_deferrable_{i}', conn_id={conn_id!r}, job_id={job_id!r},"
            " deferrable=True)",
            f"    TuningJobStateSensor(task_id='poke_{i}', conn_id={conn_id!r}, job_id={job_id!r},"
            " poke_interval=0.2, timeout=20)",
            f"    TuningJobStateSensor(task_id='deferred_{i}', conn_id={conn_id!r}, job_id={job_id!r},"
            " deferrable=True, poll_interval=0.2, timeout=20)",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_operator_and_sensor_refuse_before_any_request(emu, connections, platform, capfd):
    # One id of the platform's own shape too: its names' own twist, or its example's (ids without structure).
    example = RECORDS[platform.value].dialect.id_example
    own = list(PLATFORM_IDS.get(platform, {}).values())[:1] or [EXAMPLE_TWISTS["example-verb"].format(id=example)]
    ids = [HOSTILE_IDS[name] for name in DAG_SAMPLE] + own
    dag_id = f"inject_{platform.value}"
    result = run_dag_source(dag_id, injection_dag(dag_id, platform, ids))
    assert set(result.task_states.values()) == {"failed"}, result.task_states
    assert len(result.task_states) == len(ids) + 3 * ALL_PATHS_IDS
    no_requests(emu)
    # The tasks failed for the right reason: the id check, named in the log.
    out, err = capfd.readouterr()
    text = out + err
    assert "InvalidJobIdError" in text or f"Invalid {platform.value} job id" in text
    assert text.count(f"Invalid {platform.value} job id") >= len(ids) - 1  # 'blank' words it differently
    assert "A job id is required" in text
    # No task pushed a job record: nothing was read.
    assert [k for k in result.xcoms if k[1] == "return_value"] == []
