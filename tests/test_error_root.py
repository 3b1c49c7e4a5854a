"""One error root: ``except TuningJobError`` catches every error the provider raises to its callers."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from datetime import UTC, datetime

import pytest
from airflow.sdk import Connection

import airflow_ft_provider
from airflow_ft_provider.errors import ConnectionConfigError, PlatformRegistryError, TuningJobError
from airflow_ft_provider.hooks.api_key import OpenAITuningHook
from airflow_ft_provider.hooks.registry import hook_class_for_conn_type
from airflow_ft_provider.job_filter import JobFilter, TooManyJobsError
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState
from airflow_ft_provider.platforms.extras import ExtraError
from airflow_ft_provider.platforms.paging_base import BadPageRequest, MalformedPage
from airflow_ft_provider.platforms.wire import DuplicateKeyError

#: Exceptions that never leave the provider, and where they are turned into one under the root.
INTERNAL = {
    ExtraError: "hooks.connection.named makes it the connection's ConnectionConfigError",
    DuplicateKeyError: "platforms.wire.ApiResponse reads it as a MalformedResponseError",
    MalformedPage: "platforms.base.Dialect.parse_page reads it as a MalformedResponseError",
    BadPageRequest: "a paging style's server half: the emulator answers it with a 400, a client never sees it",
}


def _provider_exceptions() -> set[type[BaseException]]:
    """Every exception class the package defines, the emulators (``testing``) aside."""
    found: set[type[BaseException]] = set()
    prefix = f"{airflow_ft_provider.__name__}."
    for module in pkgutil.walk_packages(airflow_ft_provider.__path__, prefix):
        if module.name.startswith(f"{prefix}testing") or module.name.endswith("__main__"):
            continue
        loaded = importlib.import_module(module.name)
        for _, value in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.name:
                found.add(value)
    return found


def test_every_error_class_is_under_the_root():
    outside = {cls for cls in _provider_exceptions() - set(INTERNAL) if not issubclass(cls, TuningJobError)}
    assert not outside, f"errors outside TuningJobError: {sorted(c.__qualname__ for c in outside)}"


@pytest.mark.parametrize("cls", [ConnectionConfigError, TooManyJobsError, PlatformRegistryError])
def test_configuration_errors_are_value_errors_as_well(cls: type[TuningJobError]):
    """Bad values the caller passed in: ``ValueError``, as callers (and pydantic validators) expect."""
    assert issubclass(cls, TuningJobError) and issubclass(cls, ValueError)
    assert cls.retryable is False


def test_a_bad_connection_is_caught_by_the_root():
    conn = Connection(conn_id="bad", conn_type="ft_openai", password="sk-0123456789", extra="[1]")
    with pytest.raises(TuningJobError, match="Connection 'bad'") as info:
        OpenAITuningHook("bad").configure(conn)
    assert type(info.value) is ConnectionConfigError


def test_a_connection_of_no_platform_is_caught_by_the_root():
    with pytest.raises(TuningJobError, match="not a fine-tuning platform") as info:
        hook_class_for_conn_type("http", "web")
    assert type(info.value) is ConnectionConfigError


def test_too_many_matches_is_caught_by_the_root():
    jobs = [
        TuningJob(platform=Platform.OPENAI, job_id=f"ftjob-{n}", state=TuningJobState.RUNNING, native_state="running")
        for n in range(3)
    ]
    with pytest.raises(TuningJobError, match="3") as info:
        JobFilter(max_jobs=2).select(jobs, datetime.now(UTC))
    assert isinstance(info.value, TooManyJobsError) and len(info.value.matched) == 3


def test_an_unknown_platform_in_a_record_is_a_validation_error():
    """pydantic turns the registry's ValueError into its ValidationError, naming the known platforms."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="known platforms"):
        TuningJob.model_validate_json(
            json.dumps({"platform": "nope", "job_id": "x", "state": "RUNNING", "native_state": "running"})
        )
