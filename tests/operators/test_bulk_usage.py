"""The bulk cancel's headline and XCom sum what the jobs reported they cost, never across currencies."""

from __future__ import annotations

from decimal import Decimal

from airflow_ft_provider.jobs import JobUsage, Platform
from airflow_ft_provider.testing import JobScript
from airflow_ft_provider.testing.dags import run_dag_source
from airflow_ft_provider.usage import UsageTotals
from tests.operators.test_bulk_cancel import NEVER_ENDS, bulk_dag
from tests.operators.test_cancel_logs import messages


def test_headline_leads_with_what_was_done_and_sums_the_reported_cost(emu, connections, capfd):
    emu.seed_many(Platform.TOGETHER, 3, display_name="sft", script=NEVER_ENDS)
    emu.seed(Platform.TOGETHER, display_name="queued", script=JobScript(queued_s=3600, running_s=None))
    capfd.readouterr()
    result = run_dag_source("bulk_usage", bulk_dag("bulk_usage", Platform.TOGETHER))
    assert result.task_states == {"cancel": "success"}
    xcom = result.xcom("cancel")
    # The queued job was not tokenized yet: it reports nothing, and is not counted as reporting.
    assert xcom["usage"] == {
        "jobs_reporting": 3,
        "billable_tokens": 3 * 850_000,
        "billable_seconds": 0,
        "cost": [{"currency": "USD", "amount": "6.375", "estimated": True}],
    }
    assert sorted(job["usage"] is None for job in xcom["jobs"]) == [False, False, False, True]
    headline = next(m for m in messages(capfd) if m.startswith("cancel sent to "))
    print(headline)
    assert headline.startswith(
        "cancel sent to 4 job(s); now 4 CANCELLED; 3 reported usage: 2.6 M tokens, USD 6.375 (estimated) so far · "
    )


def test_a_platform_that_reports_nothing_says_so(emu, connections, capfd):
    emu.seed_many(Platform.VERTEX_AI, 2, display_name="sft", script=NEVER_ENDS)
    capfd.readouterr()
    result = run_dag_source("bulk_no_usage", bulk_dag("bulk_no_usage", Platform.VERTEX_AI))
    assert result.xcom("cancel")["usage"]["jobs_reporting"] == 0
    headline = "cancel sent to 2 job(s); now 2 CANCELLED; none reported usage · "
    assert any(m.startswith(headline) for m in messages(capfd))


def test_currencies_are_never_added_together():
    totals = UsageTotals.of(
        [
            JobUsage(cost=Decimal("400"), currency="USD", estimated=True),
            JobUsage(cost=Decimal("12"), currency="USD"),
            JobUsage(cost=Decimal("3.5"), currency="EUR"),
            JobUsage(cost=Decimal("1"), currency=None),
            JobUsage(billable_tokens=3_100_000, billable_seconds=7100),
            None,
        ]
    )
    assert totals.text() == (
        "5 reported usage: 3.1 M tokens, 1 h 58 min billable, (currency not stated) 1, EUR 3.5, "
        "USD 412 (estimated) so far"
    )
    assert totals.to_xcom()["cost"] == [
        {"currency": None, "amount": "1", "estimated": False},
        {"currency": "EUR", "amount": "3.5", "estimated": False},
        {"currency": "USD", "amount": "412", "estimated": True},
    ]
