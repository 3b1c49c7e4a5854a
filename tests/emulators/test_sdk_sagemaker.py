"""AWS's own client against the SageMaker emulator, then the provider's hook and trigger the same way.

boto3's ``sagemaker`` client with the emulator's platform prefix as its endpoint, static
credentials and a region: describe, the ListTrainingJobs paginator over several pages, stop (then
Stopping, then Stopped, then the refusal a second stop gets), the modeled errors, and a throttle
retried by botocore. Then the provider's hook does the same through its own SigV4 and JSON 1.1
dialect, sync and deferred (the trigger polls the stop through to Stopped), also on an ``aws``
connection whose ``platform`` extra names SageMaker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_ft_provider.flows import CancelAction, arun_flow, cancel_flow, run_flow
from airflow_ft_provider.hooks.registry import get_hook
from airflow_ft_provider.hooks.sagemaker import SageMakerTrainingHook
from airflow_ft_provider.jobs import Platform, TuningJobState
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Fault, JobScript
from airflow_ft_provider.testing.platforms.sagemaker import ACCESS_KEY_ID
from airflow_ft_provider.triggers.job_state import JobStateEvent, TuningJobStateTrigger
from tests.conftest import conn_id_for, connection_dict

pytestmark = pytest.mark.sdk
boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

SAGEMAKER = Platform.SAGEMAKER
NEVER_ENDS = JobScript(running_s=None, cancel_s=1.5)  # Stopping lasts long enough to be read


def make_client(emu: Any, secret: str | None = None) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=emu.platform_url(SAGEMAKER),
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=secret if secret is not None else emu.api_key(SAGEMAKER),
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )


@pytest.fixture
def client(emu):
    return make_client(emu)


def test_describe_list_stop(emu, client):
    names = emu.seed_many(SAGEMAKER, 5, display_name="sdk-sft", script=NEVER_ENDS)
    job = client.describe_training_job(TrainingJobName=names[0])
    assert (job["TrainingJobName"], job["TrainingJobStatus"], job["SecondaryStatus"]) == (
        names[0],
        "InProgress",
        "Training",
    )
    assert job["CreationTime"].tzinfo is not None  # botocore parsed the epoch-seconds timestamp
    assert job["TrainingJobArn"].endswith(f":training-job/{names[0]}")

    pages = list(client.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [s["TrainingJobName"] for p in pages for s in p["TrainingJobSummaries"]] == names[::-1]
    narrowed = client.list_training_jobs(StatusEquals="InProgress", NameContains=names[1][-12:])
    assert [s["TrainingJobName"] for s in narrowed["TrainingJobSummaries"]] == [names[1]]

    answer = client.stop_training_job(TrainingJobName=names[0])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert client.describe_training_job(TrainingJobName=names[0])["TrainingJobStatus"] == "Stopping"
    time.sleep(1.6)
    stopped = client.describe_training_job(TrainingJobName=names[0])
    assert (stopped["TrainingJobStatus"], stopped["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert stopped["BillableTimeInSeconds"] >= 1
    with pytest.raises(ClientError) as refused:
        client.stop_training_job(TrainingJobName=names[0])
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_errors_are_the_modeled_ones(emu, client):
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.describe_training_job(TrainingJobName="no-such-job")
    with pytest.raises(ClientError) as bad_key:
        make_client(emu, secret="wrong").list_training_jobs()
    assert bad_key.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as bad_token:
        client.list_training_jobs(NextToken="garbage!")
    assert bad_token.value.response["Error"]["Code"] == "ValidationException"


def test_throttling_is_retried_by_the_sdk(emu, client):
    name = emu.seed(SAGEMAKER, script=NEVER_ENDS)
    emu.inject(SAGEMAKER, Fault.status(429, count=2))
    assert client.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
    assert [r.status for r in emu.requests(SAGEMAKER)][-3:] == [400, 400, 200]


# -- the provider, the same way ----------------------------------------------------------------------
def hook() -> SageMakerTrainingHook:
    return SageMakerTrainingHook(conn_id=conn_id_for(SAGEMAKER))


def test_the_hook_gets_lists_and_stops_sync(emu, connections):
    names = emu.seed_many(SAGEMAKER, 5, display_name="hook-sft", script=NEVER_ENDS)
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{names[2]}"
    job = hook().get_job(arn)
    assert (job.job_id, job.state, job.native_detail) == (names[2], TuningJobState.RUNNING, "Training")
    assert [j.job_id for j in hook().list_jobs(2)] == names[::-1]
    lists = [r for r in emu.requests(SAGEMAKER) if r.headers.get("x-amz-target") == "SageMaker.ListTrainingJobs"]
    assert len(lists) == 3  # five jobs, two a page
    outcome = run_flow(hook(), cancel_flow(names[0]))
    assert outcome.action is CancelAction.SENT
    assert [r.is_cancel for r in emu.requests(SAGEMAKER)].count(True) == 1
    assert hook().get_job(names[0]).state is TuningJobState.CANCELLING


def test_the_hook_stops_and_the_trigger_confirms_deferred(emu, connections):
    name = emu.seed(SAGEMAKER, script=JobScript(running_s=None, cancel_s=0.3))

    async def main() -> list[dict]:
        try:
            outcome = await arun_flow(hook(), cancel_flow(name))
            assert outcome.action is CancelAction.SENT
            trigger = TuningJobStateTrigger(
                conn_id=conn_id_for(SAGEMAKER),
                platform=SAGEMAKER,
                job_id=name,
                target_states=["CANCELLED"],
                min_poll_interval=0.1,
            )
            events = [event.payload async for event in trigger.run()]
            await trigger.cleanup()
            return events
        finally:
            await process_cache.aclose()

    (event,) = asyncio.run(main())
    parsed = JobStateEvent.parse(event)
    assert parsed.status == "reached" and parsed.job is not None
    assert (parsed.job.state, parsed.job.native_state) == ("CANCELLED", "Stopped")


def test_an_aws_connection_naming_sagemaker_gets_its_hook(emu, set_connection):
    name = emu.seed(SAGEMAKER, script=NEVER_ENDS)
    conn = connection_dict(emu, SAGEMAKER)
    conn_id = set_connection(
        "aws_for_sagemaker",
        {
            "conn_type": "aws",
            "extra": {
                **conn["extra"],
                "platform": "sagemaker",
                "aws_access_key_id": conn["login"],
                "aws_secret_access_key": conn["password"],
                "endpoint_url": conn["host"],
            },
        },
    )
    found = get_hook(conn_id)
    assert isinstance(found, SageMakerTrainingHook)
    assert found.get_job(name).state is TuningJobState.RUNNING


def test_a_throttle_at_400_slows_the_connections_budget_like_a_429(emu, connections):
    name = emu.seed(SAGEMAKER, script=NEVER_ENDS)
    sagemaker = hook()
    budget = sagemaker._budget(sagemaker.prepare())  # one per connection and process
    before = budget.throttled
    emu.inject(SAGEMAKER, Fault.status(429, count=2))  # SageMaker's answer: 400 ThrottlingException
    assert sagemaker.get_job(name).state is TuningJobState.RUNNING
    assert [r.status for r in emu.requests(SAGEMAKER)][-3:] == [400, 400, 200]
    assert budget.throttled - before == 2


def test_the_connections_test_lists_one_job_and_names_a_wrong_secret(emu, connections, set_connection):
    emu.seed(SAGEMAKER, script=NEVER_ENDS)
    ok, message = hook().test_connection()
    assert ok, message
    set_connection("sagemaker_bad", connection_dict(emu, SAGEMAKER, key="wrong-secret-0123456789"))
    ok, message = SageMakerTrainingHook(conn_id="sagemaker_bad").test_connection()
    assert not ok and "wrong-secret-0123456789" not in message
    set_connection("sagemaker_key_only", {"conn_type": "ft_sagemaker", "password": "a-key", "host": conn_host(emu)})
    ok, message = SageMakerTrainingHook(conn_id="sagemaker_key_only").test_connection()
    assert not ok and "takes no API key" in message


def conn_host(emu: Any) -> str:
    return connection_dict(emu, SAGEMAKER)["host"]
