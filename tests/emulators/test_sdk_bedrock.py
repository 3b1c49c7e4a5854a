"""AWS's own client against the Bedrock emulator: get, the list paginator, stop, errors.

boto3 is not a dependency of this project (nor of botocore): its ``boto3.client("bedrock", ...)`` is
a thin wrapper over botocore's session, so botocore's client is used, unchanged, exactly as boto3
would build it. Where boto3 is installed, the same calls run through it too.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.testing.platforms.bedrock import ACCESS_KEY_ID
from tests.emulators.conftest import on_emulator

pytestmark = pytest.mark.sdk
botocore_session = pytest.importorskip("botocore.session")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

NEVER_ENDS = JobScript(running_s=None, cancel_s=1.5)  # Stopping lasts long enough to be read


def make_client(emu: Any, secret: str | None = None, **config: Any) -> Any:
    kwargs = {
        "endpoint_url": on_emulator(emu, "bedrock", "https://bedrock.us-east-1.amazonaws.com"),
        "region_name": "us-east-1",
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": secret if secret is not None else emu.api_key("bedrock"),
        "config": Config(retries={"max_attempts": 3, "mode": "standard"}, **config),
    }
    try:
        import boto3
    except ImportError:
        return botocore_session.get_session().create_client("bedrock", **kwargs)
    return boto3.client("bedrock", **kwargs)


@pytest.fixture
def client(emu):
    return make_client(emu)


def test_get_list_stop(emu, client):
    arns = emu.seed_many("bedrock", 5, display_name="sdk-sft", script=NEVER_ENDS)
    job = client.get_model_customization_job(jobIdentifier=arns[0])
    assert (job["jobArn"], job["jobName"], job["status"]) == (arns[0], "sdk-sft-0", "InProgress")
    assert job["creationTime"].tzinfo is not None  # botocore parsed the iso8601 timestamp
    assert client.get_model_customization_job(jobIdentifier="sdk-sft-3")["jobArn"] == arns[3]

    pages = list(client.get_paginator("list_model_customization_jobs").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [s["jobArn"] for p in pages for s in p["modelCustomizationJobSummaries"]] == arns[::-1]
    running = client.list_model_customization_jobs(statusEquals="InProgress", nameContains="sft-1")
    assert [s["jobArn"] for s in running["modelCustomizationJobSummaries"]] == [arns[1]]

    answer = client.stop_model_customization_job(jobIdentifier=arns[0])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert client.get_model_customization_job(jobIdentifier=arns[0])["status"] == "Stopping"
    time.sleep(1.6)
    assert client.get_model_customization_job(jobIdentifier=arns[0])["status"] == "Stopped"
    with pytest.raises(ClientError) as conflict:
        client.stop_model_customization_job(jobIdentifier=arns[0])
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    assert type(conflict.value).__name__ == "ConflictException"  # the modeled exception class


def test_errors_are_the_modeled_ones(emu, client):
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_model_customization_job(jobIdentifier="no-such-job")
    with pytest.raises(ClientError) as bad_key:
        make_client(emu, secret="wrong").list_model_customization_jobs()
    assert bad_key.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(client.exceptions.ValidationException):
        client.list_model_customization_jobs(statusEquals="Completed", nextToken="garbage!")


def test_throttling_is_retried_by_the_sdk(emu, client):
    arn = emu.seed("bedrock", script=NEVER_ENDS)
    emu.inject("bedrock", Fault.status(429, count=2))
    assert client.get_model_customization_job(jobIdentifier=arn)["status"] == "InProgress"
    assert [r.status for r in emu.requests("bedrock")][-3:] == [429, 429, 200]
