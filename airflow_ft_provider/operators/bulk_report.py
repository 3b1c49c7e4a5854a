"""What a bulk cancel reports: one record per selected job, the counts, the jobs whose state nobody
recognised, and the problems that fail the task; rendered as the XCom and the task log's table.

Apart from :mod:`~airflow_ft_provider.operators.bulk_cancel` so that the operator reads as its steps
(list, select, cancel, confirm) and this as what they came to. Light: imported at DAG parse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_ft_provider.job_display import short_id
from airflow_ft_provider.jobs import TuningJob, TuningJobState
from airflow_ft_provider.usage import UsageTotals, usage_text

if TYPE_CHECKING:
    from airflow_ft_provider.flows import CancelResult

#: Ids of unknown-state jobs named in the log and the XCom; the count is always the whole one.
MAX_UNKNOWN_IDS = 50


class BulkAction(StrEnum):
    """What happened to one selected job."""

    CANCEL_SENT = "cancel_sent"
    ALREADY_CANCELLING = "already_cancelling"
    ALREADY_ENDED = "already_ended"
    DRY_RUN = "dry_run"
    FAILED = "failed"


@dataclass
class JobOutcome:
    """One selected job: as listed, what was done, and the latest state read since."""

    before: TuningJob
    action: BulkAction
    #: The latest read after the action (cancel answer, re-listing, get); None if none yet.
    after: TuningJob | None = None
    error: str | None = None
    #: For FAILED: whether a later run could succeed (an outage or rate limit, not a refusal).
    retryable: bool = False

    @classmethod
    def of(cls, result: CancelResult) -> JobOutcome:
        # A cancel answer without the job (Vertex AI, DashScope) leaves the listed record: no read yet.
        after = None if result.after is result.before else result.after
        return cls(result.before, BulkAction(result.action.value), after)

    @property
    def job_id(self) -> str:
        return self.before.job_id

    @property
    def latest(self) -> TuningJob:
        """The latest record read of the job (its usage is the latest reported)."""
        return self.after or self.before

    @property
    def ended_otherwise(self) -> bool:
        """Ended, but not CANCELLED: it finished before (or despite) the cancel."""
        return (
            self.action is not BulkAction.FAILED
            and self.after is not None
            and self.after.is_terminal
            and self.after.state is not TuningJobState.CANCELLED
        )

    def to_xcom(self) -> dict[str, object]:
        usage = self.latest.usage
        return {
            "job_id": self.job_id,
            "display_name": self.before.display_name,
            "state_before": self.before.state.value,
            "state_after": self.after.state.value if self.after is not None else None,
            "action": self.action.value,
            "error": self.error,
            "usage": None if usage is None else usage.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Problem:
    """Why the task fails, and whether a later try could do better."""

    message: str
    retryable: bool


@dataclass
class BulkReport:
    """One run's result: built once, pushed to XCom and logged."""

    conn_id: str
    platform: str
    dry_run: bool
    #: The filter in one line (``JobFilter.describe``).
    filter: str
    listed: int
    outcomes: list[JobOutcome]
    #: Listed jobs in a state nobody recognised that every other criterion selects (``JobFilter.unknown``).
    unknown: list[TuningJob]
    #: Whether those were selected too (``include_unknown_states``).
    unknown_included: bool

    def to_xcom(self) -> dict[str, Any]:
        actions = Counter(o.action.value for o in self.outcomes)
        return {
            "conn_id": self.conn_id,
            "platform": self.platform,
            "dry_run": self.dry_run,
            "filter": self.filter,
            "listed": self.listed,
            "matched": len(self.outcomes),
            "counts": {action.value: actions.get(action.value, 0) for action in BulkAction},
            "states_after": dict(Counter(o.after.state.value for o in self.outcomes if o.after is not None)),
            "unknown_states": {
                "count": len(self.unknown),
                "included": self.unknown_included,
                "native_states": dict(Counter(job.native_state for job in self.unknown)),
                "job_ids": [job.job_id for job in self.unknown[:MAX_UNKNOWN_IDS]],
            },
            "usage": self.usage().to_xcom(),
            "jobs": [o.to_xcom() for o in self.outcomes],
        }

    def usage(self) -> UsageTotals:
        """What the selected jobs reported they cost, as last read (so far, for jobs just stopped)."""
        return UsageTotals.of(o.latest.usage for o in self.outcomes)

    def headline(self) -> str:
        """The log's first line: what was done, then how the jobs ended and what they reported."""
        n = len(self.outcomes)
        if self.dry_run:
            done = f"dry run: {n} job(s) would be cancelled"
        else:
            actions = Counter(o.action for o in self.outcomes)
            phrases = {
                BulkAction.CANCEL_SENT: "cancel sent to {} job(s)",
                BulkAction.ALREADY_CANCELLING: "{} already cancelling",
                BulkAction.ALREADY_ENDED: "{} already ended",
                BulkAction.FAILED: "{} cancel(s) FAILED",
            }
            done = ", ".join(p.format(actions[a]) for a, p in phrases.items() if actions[a]) or "nothing to cancel"
            ended = Counter(o.after.state.value for o in self.outcomes if o.after is not None and o.after.is_terminal)
            if ended:
                done += "; now " + ", ".join(f"{count} {state}" for state, count in sorted(ended.items()))
        spent = f"; {self.usage().text()}" if self.outcomes else ""
        return f"{done}{spent} · {self.platform}: {n} of {self.listed} listed job(s) match {self.filter}"

    def unknown_message(self) -> str | None:
        """The log's warning about unknown-state jobs, or None when there are none."""
        if not self.unknown:
            return None
        natives = ", ".join(f"{n} {s!r}" for s, n in Counter(j.native_state for j in self.unknown).most_common())
        ids = ", ".join(job.job_id for job in self.unknown[:MAX_UNKNOWN_IDS])
        more = len(self.unknown) - MAX_UNKNOWN_IDS
        ids += f" and {more} more (all in the XCom's count)" if more > 0 else ""
        done = (
            "they were selected (include_unknown_states=True)"
            if self.unknown_included
            else "they were NOT cancelled; set include_unknown_states=True to include them"
        )
        return (
            f"{len(self.unknown)} job(s) match the filter but are in a state the provider does not recognise "
            f"({natives}): {done}. Ids: {ids}."
        )

    def problems(self, confirmation: list[Problem], fail_if_not_cancelled: bool) -> tuple[list[Problem], str | None]:
        """Every reason to fail the task (failed cancels, then ``confirmation``'s, then jobs that
        ended otherwise when that fails the task), and the warning to log about those otherwise."""
        problems: list[Problem] = []
        failed = [o for o in self.outcomes if o.action is BulkAction.FAILED]
        if failed:
            problems.append(
                Problem(
                    f"{len(failed)} of {len(self.outcomes)} cancel(s) failed; first: {failed[0].error}.",
                    retryable=any(o.retryable for o in failed),
                )
            )
        problems += confirmation
        not_cancelled = [o for o in self.outcomes if o.ended_otherwise]
        if not not_cancelled:
            return problems, None
        ended = Counter(o.after.state.value for o in not_cancelled if o.after is not None)
        message = (
            f"{len(not_cancelled)} job(s) ended {', '.join(f'{n} {s}' for s, n in sorted(ended.items()))} "
            "instead of CANCELLED: they finished before the cancellation took effect."
        )
        if fail_if_not_cancelled:
            return [*problems, Problem(message, retryable=False)], None
        return problems, message


def table(outcomes: Sequence[JobOutcome]) -> str:
    """A fixed-width table for the task log: what happened first, the full id and the error last
    (Vertex AI resource names and ARNs are long), the error unpadded."""
    lines = [("action", "after", "before", "job", "display_name", "usage", "job_id", "error")]
    for o in outcomes:
        after = o.after.state.value if o.after is not None else "-"
        name = _clip(o.before.display_name or "-")
        usage = usage_text(o.latest.usage) or "-"
        full = o.job_id if short_id(o.job_id) != o.job_id else "-"
        lines.append(
            (o.action.value, after, o.before.state.value, short_id(o.job_id), name, usage, full, o.error or "")
        )
    widths = [max(len(line[i]) for line in lines) for i in range(7)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[7]]).rstrip()
        for line in lines
    )


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
