"""The cancel and wait flows, driven step by step: no hook, no server, no clock."""

from __future__ import annotations

import pytest

from airflow_ft_provider.errors import JobNotCancellableError, JobNotFoundError, PlatformUnavailableError
from airflow_ft_provider.flows import (
    CancelAction,
    CancelJob,
    Count,
    GetJob,
    PollSchedule,
    Sleep,
    WaitStatus,
    cancel_flow,
    wait_flow,
)
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState
from airflow_ft_provider.metrics import CancelOutcome

S = TuningJobState


def job(state: TuningJobState, job_id: str = "ftjob-1") -> TuningJob:
    return TuningJob(platform=Platform.OPENAI, job_id=job_id, state=state, native_state=state.value.lower())


def finish(flow, value, counts: list[Count] | None = None):
    """Send ``value``, then answer the metric steps that follow (noted in ``counts``) until the flow ends."""
    try:
        step = flow.send(value)
        while isinstance(step, Count):
            if counts is not None:
                counts.append(step)
            step = flow.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError(f"the flow asked for {step} instead of ending")


class TestCancelFlow:
    def test_active_job_gets_one_cancel(self):
        flow = cancel_flow("ftjob-1")
        assert next(flow) == GetJob("ftjob-1")
        assert flow.send(job(S.RUNNING)) == CancelJob("ftjob-1")
        result = finish(flow, job(S.CANCELLING))
        assert result.action is CancelAction.SENT
        assert result.before.state is S.RUNNING
        assert result.after.state is S.CANCELLING

    def test_cancel_without_job_in_answer_keeps_the_read(self):
        flow = cancel_flow("ftjob-1")
        next(flow)
        flow.send(job(S.QUEUED))
        result = finish(flow, None)
        assert result.after.state is S.QUEUED

    @pytest.mark.parametrize("state", [S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED])
    def test_ended_job_sends_nothing(self, state):
        flow = cancel_flow("ftjob-1")
        next(flow)
        result = finish(flow, job(state))
        assert result.action is CancelAction.ALREADY_ENDED

    def test_cancelling_job_sends_nothing_more(self):
        flow = cancel_flow("ftjob-1")
        next(flow)
        assert finish(flow, job(S.CANCELLING)).action is CancelAction.ALREADY_CANCELLING

    @pytest.mark.parametrize(
        ("state", "action"),
        [(S.CANCELLED, CancelAction.ALREADY_ENDED), (S.CANCELLING, CancelAction.ALREADY_CANCELLING)],
    )
    def test_refusal_is_reported_as_what_the_re_read_shows(self, state, action):
        """A refused cancel was not acknowledged: never ``cancel_sent`` (the bulk operator says the same)."""
        flow = cancel_flow("ftjob-1")
        next(flow)
        flow.send(job(S.RUNNING))
        assert flow.throw(JobNotCancellableError("already cancelled")) == GetJob("ftjob-1")
        result = finish(flow, job(state))
        assert result.action is action
        assert result.after.state is state

    def test_a_cancel_answered_with_the_job_cancelled_counts_as_confirmed_at_once(self):
        flow = cancel_flow("ftjob-1")
        next(flow)
        flow.send(job(S.RUNNING))
        counts: list[Count] = []
        finish(flow, job(S.CANCELLED), counts)
        assert counts == [Count(CancelOutcome.SENT), Count(None, seconds=0.0)]

    def test_a_listed_job_is_not_read_again_before_the_cancel(self):
        listed = job(S.RUNNING)
        flow = cancel_flow("ftjob-1", listed=listed)
        assert next(flow) == CancelJob("ftjob-1")
        result = finish(flow, None)
        assert result.before is listed and result.action is CancelAction.SENT

    def test_refusal_of_a_still_running_job_is_raised(self):
        flow = cancel_flow("ftjob-1")
        next(flow)
        flow.send(job(S.RUNNING))
        flow.throw(JobNotCancellableError("no"))
        assert flow.send(job(S.RUNNING)) == Count(CancelOutcome.REFUSED)
        with pytest.raises(JobNotCancellableError):
            flow.send(None)

    @pytest.mark.parametrize(
        ("read", "outcome"),
        [
            (S.RUNNING, CancelOutcome.SENT),
            (S.CANCELLING, CancelOutcome.NOT_NEEDED),
            (S.SUCCEEDED, CancelOutcome.NOT_NEEDED),
        ],
    )
    def test_every_cancel_is_counted_once_by_its_outcome(self, read, outcome):
        flow = cancel_flow("ftjob-1")
        next(flow)
        counts: list[Count] = []
        if read is S.RUNNING:
            assert flow.send(job(read)) == CancelJob("ftjob-1")
            finish(flow, None, counts)
        else:
            finish(flow, job(read), counts)
        assert counts == [Count(outcome)]

    @pytest.mark.parametrize(
        ("error", "outcome"),
        [
            (JobNotFoundError("gone"), CancelOutcome.NOT_FOUND),
            (PlatformUnavailableError("down"), CancelOutcome.FAILED),
            (ValueError("a bad connection"), CancelOutcome.FAILED),
        ],
    )
    def test_a_failed_read_is_counted_before_it_is_raised(self, error, outcome):
        flow = cancel_flow("ftjob-1")
        next(flow)
        assert flow.throw(error) == Count(outcome)
        with pytest.raises(type(error)):
            flow.send(None)

    def test_uses_the_platform_name_of_the_job_after_reading(self):
        flow = cancel_flow("123")
        next(flow)
        full = "projects/p/locations/l/tuningJobs/123"
        assert flow.send(job(S.RUNNING, full)) == CancelJob(full)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(flow, clock: FakeClock, answers, counts: list[Count] | None = None):
    """Answer GetJob steps from ``answers`` (a job or an exception), advance the clock on Sleep,
    note metric steps in ``counts``."""
    counts = [] if counts is None else counts
    step = next(flow)
    sleeps: list[float] = []
    answers = iter(answers)
    try:
        while True:
            if isinstance(step, Sleep):
                sleeps.append(step.seconds)
                clock.now += step.seconds
                step = flow.send(None)
            elif isinstance(step, Count):
                counts.append(step)
                step = flow.send(None)
            else:
                answer = next(answers)
                step = flow.throw(answer) if isinstance(answer, Exception) else flow.send(answer)
    except StopIteration as stop:
        return stop.value, sleeps


class TestWaitFlow:
    def test_reaches_target(self):
        clock = FakeClock()
        flow = wait_flow("j", deadline=None, clock=clock)
        result, sleeps = drive(flow, clock, [job(S.CANCELLING), job(S.CANCELLING), job(S.CANCELLED)])
        assert result.status is WaitStatus.REACHED
        assert result.job.state is S.CANCELLED
        assert result.polls == 3
        assert sleeps == [1.0, 1.0]

    def test_a_confirmation_is_counted_with_its_time_and_a_plain_wait_is_not(self):
        clock = FakeClock()
        counts: list[Count] = []
        flow = wait_flow("j", deadline=None, confirming_since=clock.now - 0.5, clock=clock)
        drive(flow, clock, [job(S.CANCELLING), job(S.CANCELLED)], counts)
        assert counts == [Count(None, seconds=1.5)]  # 0.5 s before the wait, 1 s of polling
        plain: list[Count] = []
        drive(wait_flow("j", deadline=None, clock=clock), clock, [job(S.CANCELLED)], plain)
        ended_otherwise: list[Count] = []
        flow = wait_flow("j", deadline=None, confirming_since=clock.now, clock=clock)
        drive(flow, clock, [job(S.SUCCEEDED)], ended_otherwise)
        assert plain == ended_otherwise == []

    def test_failure_state_wins(self):
        clock = FakeClock()
        flow = wait_flow("j", deadline=None, target_states=[S.SUCCEEDED], failure_states=[S.FAILED], clock=clock)
        result, _ = drive(flow, clock, [job(S.RUNNING), job(S.FAILED)])
        assert result.status is WaitStatus.FAILED

    def test_deadline_is_kept_exactly(self):
        clock = FakeClock()
        flow = wait_flow("j", deadline=clock.now + 5, clock=clock)
        result, sleeps = drive(flow, clock, [job(S.RUNNING)] * 10)
        assert result.status is WaitStatus.TIMEOUT
        assert sum(sleeps) == pytest.approx(5.0)

    def test_transient_errors_are_tolerated_up_to_the_limit(self):
        clock = FakeClock()
        flow = wait_flow("j", deadline=None, max_transient_errors=2, clock=clock)
        outage = PlatformUnavailableError("503")
        result, _ = drive(flow, clock, [outage, outage, job(S.CANCELLED)])
        assert result.status is WaitStatus.REACHED
        flow = wait_flow("j", deadline=None, max_transient_errors=2, clock=clock)
        result, _ = drive(flow, clock, [outage, outage, outage])
        assert result.status is WaitStatus.ERROR
        assert result.retryable

    def test_permanent_error_ends_the_wait(self):
        clock = FakeClock()
        result, _ = drive(wait_flow("j", deadline=None, clock=clock), clock, [JobNotFoundError("gone")])
        assert result.status is WaitStatus.ERROR
        assert not result.retryable

    def test_steady_wait_settles_at_the_cap(self):
        clock = FakeClock()
        flow = wait_flow("j", deadline=clock.now + 3600, clock=clock)
        result, sleeps = drive(flow, clock, [job(S.RUNNING)] * 1000)
        assert result.status is WaitStatus.TIMEOUT
        assert max(sleeps) == 30.0
        assert sleeps[:5] == [1.0] * 5
        # After the ramp, at most one poll per 30 s: an hour costs about 120 + ramp polls.
        assert result.polls < 180


def test_poll_schedule_ramps_between_bounds():
    schedule = PollSchedule(minimum=1.0, maximum=30.0, ramp=0.1, jitter=0.0)
    assert schedule.interval(0) == 1.0
    assert schedule.interval(50) == 5.0
    assert schedule.interval(10_000) == 30.0


def test_poll_schedule_jitter_spreads_polls_within_the_bounds():
    schedule = PollSchedule(minimum=1.0, maximum=30.0, ramp=0.1)  # 10 % jitter by default
    assert schedule.interval(50, rand=lambda: 0.0) == pytest.approx(4.5)
    assert schedule.interval(50, rand=lambda: 1.0) == pytest.approx(5.5)
    # The bounds hold whatever the draw: never under the minimum, never over the cap.
    assert schedule.interval(0, rand=lambda: 0.0) == 1.0
    assert schedule.interval(10_000, rand=lambda: 1.0) == 30.0
    spread = {round(schedule.interval(100), 3) for _ in range(200)}
    assert len(spread) > 50 and min(spread) >= 9.0 and max(spread) <= 11.0
