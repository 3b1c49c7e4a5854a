"""The server-text boundary (``server_text.clean``) and where it is applied by construction."""

from __future__ import annotations

import pytest

from airflow_ft_provider import version_compat
from airflow_ft_provider.errors import MalformedResponseError, PlatformUnavailableError
from airflow_ft_provider.jobs import MAX_ERROR_MESSAGE, TuningJob, TuningJobState
from airflow_ft_provider.platforms.wire import ApiResponse, parse_json
from airflow_ft_provider.server_text import MASK, clean, register_secrets

SECRET = "sk-server-text-0123456789"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_secrets([SECRET, PEM, "abc"])


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("nul\x00del\x7fc1\x85", "nul\\x00del\\x7fc1\\x85"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("plain text, ünïcödé, 中文", "plain text, ünïcödé, 中文"),
    ],
)
def test_control_characters_are_escaped_readably(raw, seen):
    assert clean(raw) == seen


def test_secrets_are_scrubbed_raw_escaped_and_short_ones_left():
    assert clean(f"Authorization: Bearer {SECRET}") == f"Authorization: Bearer {MASK}"
    assert clean(f"key={PEM}") == f"key={MASK}"  # as the escaped spelling, after escaping
    assert clean("abc stays") == "abc stays"  # shorter than Airflow's masker scrubs


def test_clipping_bounds_the_escaped_text():
    assert clean("\n" * 100, 10) == "\\n\\n\\n..."
    assert len(clean("x" * 5000, 1000)) == 1000
    assert clean(clean("a\nb " + SECRET, 50), 50) == clean("a\nb " + SECRET, 50)  # idempotent


def test_mask_secrets_feeds_the_boundary():
    version_compat.mask_secrets(["minted-token-7f3a9c"])
    assert clean("token minted-token-7f3a9c") == f"token {MASK}"


def test_errors_and_job_records_pass_the_boundary():
    error = PlatformUnavailableError(
        f"boom\n{SECRET}", native_code="X\x1b", request_id=f"r\n{SECRET}", job_id="ftjob-1\n"
    )
    assert str(error) == f"boom\\n{MASK} (code=X\\x1b, request_id=r\\n{MASK})"
    assert error.job_id == "ftjob-1\\n"
    job = TuningJob(
        platform="openai",
        job_id="ftjob-1",
        state=TuningJobState.RUNNING,
        native_state="running\nTask exited with return code 0",
        display_name=f"name {SECRET}",
        error_message="e\u2028" * 5000,
        labels={"k\n": f"v {SECRET}"},
    )
    assert job.native_state == "running\\nTask exited with return code 0"
    assert job.display_name == f"name {MASK}"
    assert job.error_message is not None and MAX_ERROR_MESSAGE - 6 <= len(job.error_message) <= MAX_ERROR_MESSAGE
    assert job.labels == {"k\\n": f"v {MASK}"}
    assert TuningJob(**job.to_xcom()) == job  # read back from XCom or a trigger event: unchanged


@pytest.mark.parametrize(
    "body",
    [b'{"status": "running", "status": "cancelled"}', b'{"a": {"b": 1, "b": 1}}', b'[{}, {"x": 1, "x": 2}]'],
)
def test_duplicate_keys_are_refused_at_any_depth(body):
    with pytest.raises(ValueError, match="twice"):
        parse_json(body)
    with pytest.raises(MalformedResponseError, match="twice"):
        ApiResponse(200, {}, body).json_object("openai")


@pytest.mark.parametrize(
    "body", [b"NaN", b'{"a": Infinity}', '{"a": "é"}'.encode("latin-1"), '{"a": 1}'.encode("utf-16")]
)
def test_only_json_in_utf8_is_read(body):
    with pytest.raises(ValueError):
        parse_json(body)
