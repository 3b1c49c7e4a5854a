"""What the vendors' own example answers report a job consumed or cost, read into ``TuningJob.usage``.

Fireworks (``estimatedCost``) and SageMaker (``BillableTimeInSeconds``/``BillableTokenCount``) are
covered beside their dialects; these are the platforms whose usage this file's records added.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_ft_provider.jobs import JobUsage
from airflow_ft_provider.platforms.azure_openai import AzureOpenAIDialect
from airflow_ft_provider.platforms.base import ApiResponse
from airflow_ft_provider.platforms.dashscope import DashScopeDialect
from airflow_ft_provider.platforms.openai import OpenAIDialect
from airflow_ft_provider.platforms.together import TogetherDialect

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> ApiResponse:
    return ApiResponse(200, {}, (SAMPLES / name).read_bytes())


def test_openai_trained_tokens_are_billable_tokens() -> None:
    job = OpenAIDialect().parse_job(sample("openai/retrieve_job.json"))
    assert job.usage == JobUsage(billable_tokens=5768)
    assert job.to_xcom()["usage"] == {
        "cost": None,
        "currency": None,
        "estimated": False,
        "billable_seconds": None,
        "billable_tokens": 5768,
    }


def test_azure_openai_reports_them_too() -> None:
    dialect = AzureOpenAIDialect("https://example.openai.azure.com")
    assert dialect.parse_job(sample("azure_openai/get_finetuning_job.json")).usage == JobUsage(billable_tokens=2342)


def test_dashscope_usage_is_the_tokens_trained_on() -> None:
    job = DashScopeDialect().parse_job(sample("dashscope/get_job.json"))
    assert job.usage == JobUsage(billable_tokens=279808)


def test_together_price_is_in_nanodollars_and_an_estimate() -> None:
    job = TogetherDialect().parse_job(sample("together/job_truncated.json"))
    # total_price 1500 nano-dollars, token_count 850000 in Together's example.
    assert job.usage == JobUsage(cost=Decimal("0.0000015"), currency="USD", estimated=True, billable_tokens=850000)
    assert job.to_xcom()["usage"]["cost"] == "0.0000015"  # JSON: the exact decimal as a string


@pytest.mark.parametrize(
    ("fields", "usage"),
    [
        ({"total_price": 0, "token_count": 0}, None),  # before tokenization: nothing known yet
        (
            {"total_price": 412_000_000_000, "token_count": 3},
            JobUsage(cost=Decimal(412), currency="USD", estimated=True, billable_tokens=3),
        ),
        ({"total_price": "12", "token_count": -1}, None),  # not counts: unreadable, never a failed cancel
        ({"total_price": True}, None),
    ],
)
def test_together_usage_edge_cases(fields: dict[str, object], usage: JobUsage | None) -> None:
    body = {"id": "ft-01234567890123456789", "status": "running", **fields}
    job = TogetherDialect().parse_job(ApiResponse(200, {}, json.dumps(body).encode()))
    assert job.usage == usage
    if usage is not None and usage.cost is not None:
        assert str(job.usage.cost) == "412"  # not 4.12E+2
