"""The smoke check against every platform's emulator: it reports what the platform answered, and
the emulator's own request log shows it sent reads only."""

from __future__ import annotations

import json

import pytest

from airflow_ft_provider.cli import FAILED, HEALTHY, main
from airflow_ft_provider.hooks.registry import get_hook
from airflow_ft_provider.platforms.registry import RECORDS
from airflow_ft_provider.smoke import run_check
from airflow_ft_provider.testing import JobScript
from tests.conftest import conn_id_for, connection_dict

#: Every registered platform, from the registry (a new platform is checked without listing it here).
PLATFORMS = list(RECORDS)


def _secrets(conn_id: str) -> list[str]:
    """What the connection's hook registers as secret (keys, tokens, private keys)."""
    return get_hook(conn_id).prepare().secrets


def _expect_nothing_cancelled(emu, platform: str) -> None:
    requests = emu.requests(platform)
    assert [r for r in requests if r.is_cancel] == []
    assert any(r.is_read for r in requests)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_check_lists_reads_and_reports_on_every_platform(emu, set_connection, platform):
    conn_id = set_connection(conn_id_for(platform), connection_dict(emu, platform))
    first = emu.seed(platform, script=JobScript(running_s=None))
    emu.seed(platform, script=JobScript(running_s=None))

    report = run_check(conn_id)

    assert report.healthy, report.to_text()
    assert report.platform == platform
    assert report.credential_kind and report.credential_kind != "not described by the hook"
    assert report.listed == 2
    assert report.job_id is not None and report.job_state == "RUNNING"
    assert sum(report.native_states.values()) == 2
    assert report.unknown_states == []
    purposes = [(x.purpose, x.status) for x in report.exchanges if x.purpose != "credential"]
    assert purposes == [("list", 200), ("get", 200)]
    assert all(x.seconds is not None and x.seconds >= 0 for x in report.exchanges)
    assert report.cancels_sent == 0
    text, as_json = report.to_text(), report.to_json()
    assert text.splitlines()[0].startswith(f"OK      {conn_id}: listed 2 job(s)")
    assert all(len(line) <= 100 for line in text.splitlines())
    assert json.loads(as_json)["healthy"] is True
    for secret in _secrets(conn_id):
        assert secret not in text and secret not in as_json
    _expect_nothing_cancelled(emu, platform)
    assert emu.job_state(platform, first) == RECORDS[platform].dialect.states.timeline["running"]


def test_the_job_given_is_the_one_read(emu, set_connection):
    conn_id = set_connection(conn_id_for("together"), connection_dict(emu, "together"))
    wanted = emu.seed("together", native_state="completed")
    emu.seed("together", script=JobScript(running_s=None))

    report = run_check(conn_id, job_id=wanted)

    assert report.healthy
    assert report.job_id == wanted and report.job_state == "SUCCEEDED"
    _expect_nothing_cancelled(emu, "together")


def test_states_and_fields_the_provider_does_not_know_are_reported(emu, set_connection):
    conn_id = set_connection(conn_id_for("openai"), connection_dict(emu, "openai"))
    emu.seed("openai", native_state="hibernating", undocumented=True, extra={"carbon_grams": 12})

    report = run_check(conn_id)

    assert report.healthy  # news, not a failure: the job reads as UNKNOWN and the check says so
    assert report.unknown_states == ["hibernating"]
    assert report.job_state == "UNKNOWN"
    assert "carbon_grams" in report.unread_fields
    text = report.to_text()
    assert "states the provider does not know: hibernating" in text
    assert "carbon_grams" in text


def test_rate_limit_answers_and_their_headers_are_shown(emu, set_connection):
    conn_id = set_connection(conn_id_for("openai"), connection_dict(emu, "openai"))
    emu.seed("openai")
    emu.set_rate_limit("openai", per_second=2.0, burst=1.0)

    report = run_check(conn_id)

    assert report.healthy, report.to_text()  # the transport waited as told and tried again
    limited = [x for x in report.exchanges if x.status == 429]
    assert limited, report.to_text()
    assert {"retry-after", "retry-after-ms"} & set(limited[0].rate_limit_headers)
    assert "retry-after" in report.to_text()
    _expect_nothing_cancelled(emu, "openai")


def test_refused_credentials_fail_with_the_hint_and_exit_non_zero(emu, set_connection, capsys, monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT", raising=False)  # main() sets it; restored after the test
    key = "sk-refused-0123456789abcdef"
    conn_id = set_connection(conn_id_for("openai"), connection_dict(emu, "openai", key=key))
    emu.seed("openai")

    status = main(["check", conn_id])

    out = capsys.readouterr().out
    assert status == FAILED
    first, *rest = out.splitlines()
    assert first.startswith(f"FAILED  {conn_id}: AuthenticationError while listing jobs")
    assert "check its key and permissions" in " ".join(rest)
    assert "HTTP 401" in out
    assert key not in out
    assert [r for r in emu.requests("openai") if r.is_cancel] == []


def test_a_connection_nobody_defined_is_named_with_where_airflow_looked(capsys, monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT", raising=False)
    status = main(["check", "ft_nobody_defined_this", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert status == FAILED
    assert report["healthy"] is False
    assert report["failure"]["type"] == "AirflowNotFoundException"
    assert "AIRFLOW_CONN_FT_NOBODY_DEFINED_THIS" in report["failure"]["hint"]
    assert report["exchanges"] == []


def test_json_output_is_the_report_alone(emu, set_connection, capsys, monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT", raising=False)
    conn_id = set_connection(conn_id_for("replicate"), connection_dict(emu, "replicate"))
    emu.seed("replicate")

    assert main(["check", conn_id, "--json"]) == HEALTHY

    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is True and report["listed"] == 1 and report["cancels_sent"] == 0
