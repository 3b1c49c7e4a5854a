"""A job's reported cost and usage as people read it, and the totals of a bulk cancel.

What a platform reports (:class:`~airflow_ft_provider.jobs.JobUsage`) is shown as it is: nothing
is priced or converted here, an estimate says so, and amounts in different currencies are never
added together (each currency keeps its own total).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from airflow_ft_provider.jobs import JobUsage

#: Shown where a platform states an amount without its currency.
NO_CURRENCY = "(currency not stated)"


def usage_text(usage: JobUsage | None) -> str | None:
    """``USD 12.4 (estimated), 1.3 M tokens, 1 h 58 min billable``; None when nothing was reported."""
    if usage is None:
        return None
    parts = []
    if usage.cost is not None:
        parts.append(_money(usage.currency, usage.cost, usage.estimated))
    if usage.billable_tokens is not None:
        parts.append(f"{_tokens(usage.billable_tokens)} tokens")
    if usage.billable_seconds is not None:
        parts.append(f"{_duration(usage.billable_seconds)} billable")
    return ", ".join(parts) or None


@dataclass
class UsageTotals:
    """What a set of jobs reported, summed per kind and per currency."""

    jobs: int = 0
    tokens: int = 0
    seconds: int = 0
    #: Cost per currency (``None``: the platform did not state one).
    costs: dict[str | None, Decimal] = field(default_factory=dict)
    #: Currencies whose total includes an estimate.
    estimated: set[str | None] = field(default_factory=set)

    @classmethod
    def of(cls, usages: Iterable[JobUsage | None]) -> UsageTotals:
        totals = cls()
        for usage in usages:
            if usage is None:
                continue
            totals.jobs += 1
            totals.tokens += usage.billable_tokens or 0
            totals.seconds += usage.billable_seconds or 0
            if usage.cost is not None:
                totals.costs[usage.currency] = totals.costs.get(usage.currency, Decimal(0)) + usage.cost
                if usage.estimated:
                    totals.estimated.add(usage.currency)
        return totals

    def text(self) -> str:
        """``9 reported usage: 3.1 M tokens, USD 412 (estimated) so far``."""
        if not self.jobs:
            return "none reported usage"
        parts = [f"{_tokens(self.tokens)} tokens"] if self.tokens else []
        parts += [f"{_duration(self.seconds)} billable"] if self.seconds else []
        parts += [_money(c, amount, c in self.estimated) for c, amount in sorted(self.costs.items(), key=_by_currency)]
        return f"{self.jobs} reported usage: {', '.join(parts) or 'nothing billable yet'} so far"

    def to_xcom(self) -> dict[str, object]:
        """JSON: amounts as exact decimal strings, one entry per currency."""
        return {
            "jobs_reporting": self.jobs,
            "billable_tokens": self.tokens,
            "billable_seconds": self.seconds,
            "cost": [
                {"currency": currency, "amount": str(amount), "estimated": currency in self.estimated}
                for currency, amount in sorted(self.costs.items(), key=_by_currency)
            ],
        }


def _by_currency(item: tuple[str | None, Decimal]) -> str:
    return item[0] or ""


def _money(currency: str | None, amount: Decimal, estimated: bool) -> str:
    shown = f"{amount:,f}"  # exact, as reported: no rounding of a platform's figure
    return f"{currency or NO_CURRENCY} {shown}" + (" (estimated)" if estimated else "")


def _tokens(count: int) -> str:
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if count >= size:
            return f"{(Decimal(count) / size).quantize(Decimal('0.1'), ROUND_HALF_UP)} {unit}"
    return str(count)


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f"{hours} h {rest // 60} min"
    return f"{rest // 60} min {rest % 60} s" if rest >= 60 else f"{rest} s"
