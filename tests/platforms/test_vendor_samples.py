"""The vendors' own example answers, parsed by the dialects (sources in ``samples/SOURCES.md``).

The dialect and its emulator are written by the same hands, so a fact both get wrong passes every
round trip; a body the vendor published cannot share that mistake. Each sample is parsed the way
its operation's answer is (``parse_job``, ``parse_page``, ``parse_cancel``) and compared with the
job a reader of the sample expects. A native state the dialect does not know fails by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.platforms.base import ApiResponse, Dialect
from airflow_ft_provider.platforms.extras import Extras
from airflow_ft_provider.platforms.registry import RECORDS
from airflow_ft_provider.platforms.wire import parse_json

SAMPLES = Path(__file__).parent / "samples"
SOURCES = (SAMPLES / "SOURCES.md").read_text()
#: Any host: the samples are parsed, never fetched.
BASE_URL = "https://vendor-sample.example"
CST = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Expected:
    """A job as a reader of the sample sees it."""

    job_id: str
    native_state: str
    state: TuningJobState
    base_model: str | None
    created_at: datetime | None = None
    ended_at: datetime | None = None
    tuned_model: str | None = None


@dataclass(frozen=True)
class Sample:
    #: Under ``samples/``: ``<platform>/<name>.json``.
    path: str
    #: Which answer it is: ``job`` (a read), ``page`` (a listing) or ``cancel``.
    answer: str
    #: The jobs it holds, in order (none: an acknowledgement that carries no job).
    jobs: tuple[Expected, ...]
    next_token: str | None = None

    @property
    def platform(self) -> str:
        return self.path.split("/", 1)[0]


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


OPENAI_DONE = Expected(
    "ftjob-abc123",
    "succeeded",
    TuningJobState.SUCCEEDED,
    "davinci-002",
    at(1692661014),
    at(1692661190),
    "ft:davinci-002:my-org:custom_suffix:7q8mpxmy",
)
AZURE_ID = "ft-72a2792ef7d24ba7b82c7fe4a37e379f"
AZURE_DONE = Expected(
    AZURE_ID, "succeeded", TuningJobState.SUCCEEDED, "curie", at(1646126127), at(1646127311), f"curie.{AZURE_ID}"
)
TOGETHER_DONE = Expected(
    "ft-01234567890123456789",
    "completed",
    TuningJobState.SUCCEEDED,
    "meta-llama/Llama-2-7b-hf",
    datetime(2023, 5, 17, 17, 35, 45, 123000, UTC),
    None,
    "mynamespace/meta-llama/Llama-2-7b-hf-32162631",
)
DASHSCOPE_DONE = Expected(
    "ft-202410291653-1c7f",
    "SUCCEEDED",
    TuningJobState.SUCCEEDED,
    "qwen3-14b",
    datetime(2024, 10, 29, 16, 53, 53, tzinfo=CST),
    datetime(2024, 10, 29, 17, 11, 26, tzinfo=CST),
    "qwen3-14b-suffix-ft-202410291653-1c7f",
)
SDXL = "stability-ai/sdxl:{}".format
REPLICATE_DONE = Expected(
    "zz4ibbonubfz7carwiefibzgga",
    "succeeded",
    TuningJobState.SUCCEEDED,
    SDXL("da77bc59ee60423279fd632efb4795ab731d9e3ca9705ef3341091fb989b7eaf"),
    datetime(2023, 9, 8, 16, 32, 57, 18467, UTC),
    datetime(2023, 9, 8, 16, 41, 19, 826523, UTC),
    "...",  # as the example elides it
)
BEDROCK_JOB = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/{}"
BEDROCK_MODEL = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1:0:8k"
SAGEMAKER_IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04"
)

#: Fireworks' reference shows generated bodies: every string "<string>", every enum at its zero value.
FIREWORKS_PLACEHOLDER = Expected(
    "<string>",
    "JOB_STATE_UNSPECIFIED",
    TuningJobState.UNKNOWN,
    "<string>",
    datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC),
    datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC),
    "<string>",
)
CASES = [
    Sample("openai/retrieve_job.json", "job", (OPENAI_DONE,)),
    Sample(
        "openai/list_jobs.json",
        "page",
        (Expected("ftjob-abc123", "queued", TuningJobState.QUEUED, "gpt-4o-mini-2024-07-18", at(1721764800)),),
        next_token="ftjob-abc123",
    ),
    Sample(
        "openai/cancel_job.json",
        "cancel",
        (Expected("ftjob-abc123", "cancelled", TuningJobState.CANCELLED, "gpt-4o-mini-2024-07-18", at(1721764800)),),
    ),
    Sample(
        "openai/pause_job.json",
        "job",
        (Expected("ftjob-abc123", "paused", TuningJobState.PAUSED, "gpt-4o-mini-2024-07-18", at(1721764800)),),
    ),
    Sample(
        "openai/create_job.json",
        "job",
        (Expected("ftjob-abc123", "queued", TuningJobState.QUEUED, "gpt-4o-mini-2024-07-18", at(1721764800)),),
    ),
    Sample("azure_openai/get_finetuning_job.json", "job", (AZURE_DONE,)),
    Sample("azure_openai/get_finetuning_jobs.json", "page", (AZURE_DONE,)),
    Sample(
        "azure_openai/cancel_finetuning_job.json",
        "cancel",
        (Expected(AZURE_ID, "cancelled", TuningJobState.CANCELLED, "curie", at(1646126127), at(1646127311)),),
    ),
    Sample(
        "azure_openai/post_finetuning_job.json",
        "job",
        # A job just submitted, waiting for the service: QUEUED, as the Azure dialect's table says.
        (Expected(AZURE_ID, "pending", TuningJobState.QUEUED, "curie", at(1646126127)),),
    ),
    Sample("together/job_truncated.json", "job", (TOGETHER_DONE,)),
    Sample("together/job_truncated.json", "cancel", (TOGETHER_DONE,)),
    Sample("together/list_jobs.json", "page", (TOGETHER_DONE,)),
    Sample("dashscope/get_job.json", "job", (DASHSCOPE_DONE,)),
    Sample(
        "dashscope/list_jobs.json",
        "page",
        (DASHSCOPE_DONE, Expected("ft-202410291512-1851", "CANCELED", TuningJobState.CANCELLED, "qwen3-14b")),
    ),
    Sample(
        "dashscope/create_job.json",
        "job",
        (Expected("ft-202410291653-1c7f", "PENDING", TuningJobState.PENDING, "qwen3-14b"),),
    ),
    Sample("dashscope/cancel_job.json", "cancel", ()),
    Sample(
        "bedrock/get_model_customization_job.json",
        "job",
        (
            Expected(
                BEDROCK_JOB.format("abcd1234efgh"),
                "Completed",
                TuningJobState.SUCCEEDED,
                BEDROCK_MODEL,
                datetime(2024, 5, 1, 10, 20, 30, 123000, UTC),
                datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/ijkl5678mnop",
            ),
        ),
    ),
    Sample(
        "bedrock/list_model_customization_jobs.json",
        "page",
        (
            Expected(
                BEDROCK_JOB.format("qrst9012uvwx"),
                "InProgress",
                TuningJobState.RUNNING,
                BEDROCK_MODEL,
                datetime(2024, 5, 2, 7, 0, tzinfo=UTC),
            ),
            Expected(
                BEDROCK_JOB.format("abcd1234efgh"),
                "Stopped",
                TuningJobState.CANCELLED,
                BEDROCK_MODEL,
                datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC),
                datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            ),
        ),
        next_token="eyJwYWdlIjoyfQ==",
    ),
    Sample("bedrock/stop_model_customization_job.json", "cancel", ()),
    Sample(
        "sagemaker/describe_training_job.json",
        "job",
        (
            Expected(
                "llama-sft-2024-05-01",
                "Failed",
                TuningJobState.FAILED,
                SAGEMAKER_IMAGE,
                datetime.fromtimestamp(1714557630.123, UTC),
                at(1714564800),
                "s3://my-bucket/llama-sft-2024-05-01/output/model.tar.gz",
            ),
        ),
    ),
    Sample(
        "sagemaker/list_training_jobs.json",
        "page",
        (
            Expected("serverless-sft-nightly", "InProgress", TuningJobState.RUNNING, None, at(1714640400)),
            Expected(
                "llama-sft-2024-05-01",
                "Stopped",
                TuningJobState.CANCELLED,
                None,
                datetime.fromtimestamp(1714557630.123, UTC),
                at(1714564800),
            ),
        ),
        next_token="AAMA-EFRSURBSGhqaXRmU2VhcmNoUmVzdWx0",
    ),
    Sample("sagemaker/stop_training_job.json", "cancel", ()),
    Sample("replicate/list_trainings.json", "page", (REPLICATE_DONE,)),
    Sample("replicate/get_training_succeeded.json", "job", (REPLICATE_DONE,)),
    Sample(
        "replicate/get_training.json",
        "job",
        (
            Expected(
                "medrnz3bm5dd6ultvad2tejrte",
                "processing",
                TuningJobState.RUNNING,
                SDXL("39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"),
                datetime(2023, 8, 16, 19, 33, 26, 906823, UTC),
            ),
        ),
    ),
    Sample(
        "replicate/cancel_training.json",
        "cancel",
        (
            Expected(
                "xxi2kydbnla3ocjp64sclkewku",
                "canceled",
                TuningJobState.CANCELLED,
                SDXL("39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"),
                datetime(2023, 8, 16, 19, 33, 27, 135361, UTC),
                datetime(2023, 8, 16, 19, 33, 27, 215203, UTC),
            ),
        ),
    ),
    Sample("fireworks/get_supervised_fine_tuning_job.json", "job", (FIREWORKS_PLACEHOLDER,)),
    Sample("fireworks/list_supervised_fine_tuning_jobs.json", "page", (FIREWORKS_PLACEHOLDER,), "<string>"),
]


def case_params() -> list[Any]:
    return [pytest.param(case, id=f"{case.path}:{case.answer}") for case in CASES]


def dialect_for(platform: str) -> Dialect:
    return RECORDS[platform].dialect.from_extras(BASE_URL, Extras(RECORDS[platform].form.required_examples))


def parse(case: Sample) -> tuple[list[TuningJob], str | None]:
    """The jobs (and next-page token) the dialect reads out of the sample, as its operation's answer."""
    dialect = dialect_for(case.platform)
    response = ApiResponse(200, {"content-type": "application/json"}, (SAMPLES / case.path).read_bytes())
    if case.answer == "page":
        page = dialect.parse_page(response, dialect.list_request(None, 10))
        return page.jobs, page.next_token
    if case.answer == "cancel":
        job_id = case.jobs[0].job_id if case.jobs else dialect.id_example
        answered = dialect.parse_cancel(response, dialect.cancel_request(job_id))
        return ([] if answered is None else [answered]), None
    return [dialect.parse_job(response)], None


@pytest.mark.parametrize("case", case_params())
def test_a_vendor_sample_parses_into_the_job_it_shows(case: Sample):
    jobs, next_token = parse(case)
    states = RECORDS[case.platform].dialect.states
    for job, expected in zip(jobs, case.jobs, strict=False):
        # Named first: an unknown state is the finding, whatever else differs.
        assert job.native_state in states, (
            f"{case.path}: native state {job.native_state!r} is not in the {case.platform} dialect's state table"
        )
        assert (
            job.job_id,
            job.native_state,
            job.state,
            job.base_model,
            job.created_at,
            job.ended_at,
            job.tuned_model,
        ) == (
            expected.job_id,
            expected.native_state,
            expected.state,
            expected.base_model,
            expected.created_at,
            expected.ended_at,
            expected.tuned_model,
        )
        assert job.platform == case.platform
    assert len(jobs) == len(case.jobs)
    assert next_token == case.next_token


def test_every_sample_file_is_tested_and_sourced():
    files = {path.relative_to(SAMPLES).as_posix() for path in SAMPLES.rglob("*.json")}
    assert files == {case.path for case in CASES}
    unsourced = sorted(name for name in files if f"`{name}`" not in SOURCES)
    assert not unsourced, f"samples without a source line in SOURCES.md: {unsourced}"


@pytest.mark.parametrize("platform", list(RECORDS))
def test_every_platform_has_samples_or_says_why_not(platform: str):
    """A new platform brings its vendor's example bodies, or a line in SOURCES.md saying there are none."""
    has_samples = any(case.platform == platform for case in CASES)
    assert has_samples or f"- `{platform}`:" in SOURCES, f"{platform}: no vendor samples and no reason in SOURCES.md"


# -- The AWS bodies are written to botocore's shapes: check them against the locked model ---------------
BOTOCORE_OUTPUTS = {
    "bedrock/get_model_customization_job.json": "GetModelCustomizationJob",
    "bedrock/list_model_customization_jobs.json": "ListModelCustomizationJobs",
    "bedrock/stop_model_customization_job.json": "StopModelCustomizationJob",
    "sagemaker/describe_training_job.json": "DescribeTrainingJob",
    "sagemaker/list_training_jobs.json": "ListTrainingJobs",
    "sagemaker/stop_training_job.json": "StopTrainingJob",
}


@pytest.mark.parametrize("path", list(BOTOCORE_OUTPUTS))
def test_the_aws_samples_fit_botocores_output_shapes(path: str):
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model(path.split("/", 1)[0])
    shape = model.operation_model(BOTOCORE_OUTPUTS[path]).output_shape
    body = parse_json((SAMPLES / path).read_bytes())
    # An operation without an output shape (SageMaker's StopTrainingJob) answers nothing but {}.
    assert (_misfits(body, shape, path) if shape is not None else ([] if body == {} else [f"{path}: not {{}}"])) == []


def _misfits(value: Any, shape: Any, where: str) -> list[str]:
    """Where ``value`` breaks botocore's ``shape``: missing or unknown members, enums, patterns, lengths."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        problems = [f"{where}.{name}: required" for name in shape.required_members if name not in value]
        problems += [f"{where}.{name}: not in the shape" for name in value if name not in shape.members]
        for name, member in value.items():
            if name in shape.members:
                problems += _misfits(member, shape.members[name], f"{where}.{name}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        return [p for i, item in enumerate(value) for p in _misfits(item, shape.member, f"{where}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return [p for key, item in value.items() for p in _misfits(item, shape.value, f"{where}.{key}")]
    if kind == "timestamp":
        if isinstance(value, int | float):  # JSON 1.1: epoch seconds
            return []
        datetime.fromisoformat(value)  # rest-json timestamps: ISO 8601
        return []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where}: not an integer"]
    if kind == "string":
        meta = shape.metadata
        problems = []
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} not in {shape.enum}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
        if not meta.get("min", 0) <= len(value) <= meta.get("max", len(value)):
            problems.append(f"{where}: length {len(value)} out of bounds")
        return problems
    return []
