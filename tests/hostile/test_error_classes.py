"""The contract's error classes: where they live, what they subclass, whether they are retried."""

from __future__ import annotations

import pytest

from airflow_ft_provider.errors import PlatformUnavailableError, TuningJobError
from tests.hostile.support import contract_error

#: name -> (retryable, required base besides TuningJobError)
CONTRACT = {
    "UnexpectedResponseError": (False, TuningJobError),
    "ResponseTooLargeError": (False, TuningJobError),
    "MalformedResponseError": (True, TuningJobError),
    "ListingLimitError": (False, TuningJobError),
    "RequestTimeoutError": (True, PlatformUnavailableError),
    "RateLimitedError": (True, TuningJobError),
    "PlatformUnavailableError": (True, TuningJobError),
}


@pytest.mark.parametrize("name", CONTRACT)
def test_error_class(name):
    retryable, base = CONTRACT[name]
    cls = contract_error(name)
    assert cls is not None, f"airflow_ft_provider.errors has no {name}"
    assert issubclass(cls, base)
    assert cls.retryable is retryable, f"{name}.retryable should be {retryable}"


def test_connection_config_error_is_a_value_error():
    from airflow_ft_provider.errors import ConnectionConfigError

    assert issubclass(ConnectionConfigError, ValueError)
