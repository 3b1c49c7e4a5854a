"""The bulk-cancel filter: pure matching over TuningJob records, and refusal of bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_ft_provider.job_filter import DEFAULT_MAX_JOBS, DEFAULT_STATES, JobFilter, TooManyJobsError
from airflow_ft_provider.jobs import Platform, TuningJob, TuningJobState

S = TuningJobState
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
VERTEX_NAME = "projects/123456789012/locations/us-central1/tuningJobs/4242"


def job(
    state: TuningJobState = S.RUNNING,
    job_id: str = "ftjob-1",
    *,
    name: str | None = "nightly-sft",
    created_ago: timedelta | None = timedelta(hours=1),
    started_ago: timedelta | None = None,
    labels: dict[str, str] | None = None,
    platform: Platform = Platform.OPENAI,
) -> TuningJob:
    return TuningJob(
        platform=platform,
        job_id=job_id,
        state=state,
        native_state=state.value.lower(),
        display_name=name,
        created_at=NOW - created_ago if created_ago is not None else None,
        started_at=NOW - started_ago if started_ago is not None else None,
        labels=labels or {},
    )


class TestStates:
    def test_default_is_active_without_cancelling_or_unknown(self):
        assert JobFilter().states == {S.QUEUED, S.PENDING, S.RUNNING, S.PAUSED} == DEFAULT_STATES
        for state in DEFAULT_STATES:
            assert JobFilter().matches(job(state), NOW)
        for state in (S.CANCELLING, S.UNKNOWN, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED):
            assert not JobFilter().matches(job(state), NOW)

    @pytest.mark.parametrize(
        "given", [["running", "Queued"], "RUNNING, queued", [S.RUNNING, S.QUEUED], ("RUNNING", "QUEUED")]
    )
    def test_names_in_any_case_list_or_comma_string(self, given):
        assert JobFilter(states=given).states == {S.RUNNING, S.QUEUED}

    def test_cancelling_only_when_named(self):
        flt = JobFilter(states=["CANCELLING"])
        assert flt.matches(job(S.CANCELLING), NOW)
        assert not flt.matches(job(S.RUNNING), NOW)

    def test_unknown_is_not_a_state_to_name_but_an_explicit_switch(self):
        with pytest.raises(ValueError, match="include_unknown_states=True"):
            JobFilter(states=["UNKNOWN"])
        flt = JobFilter(states=["CANCELLING"], include_unknown_states=True, name_pattern="keep-*")
        assert flt.matches(job(S.UNKNOWN, name="keep-1"), NOW)
        assert not flt.matches(job(S.UNKNOWN, name="other"), NOW)
        assert "include_unknown_states=True" in flt.describe()

    def test_unknown_lists_what_the_switch_would_add(self):
        jobs = [
            job(S.UNKNOWN, job_id="u1", name="keep-1"),
            job(S.UNKNOWN, job_id="u1", name="keep-1"),  # listed twice: once
            job(S.UNKNOWN, job_id="u2", name="other"),
            job(S.RUNNING, job_id="r1", name="keep-2"),
        ]
        flt = JobFilter(name_pattern="keep-*")
        assert [j.job_id for j in flt.unknown(jobs, NOW)] == ["u1"]
        assert [j.job_id for j in flt.select(jobs, NOW)] == ["r1"]
        with_unknown = JobFilter(name_pattern="keep-*", include_unknown_states=True)
        assert [j.job_id for j in with_unknown.select(jobs, NOW)] == ["u1", "r1"]

    @pytest.mark.parametrize("terminal", ["SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"])
    def test_terminal_states_are_refused(self, terminal):
        with pytest.raises(ValueError, match=f"states: {terminal} is terminal: an ended job cannot be cancelled"):
            JobFilter(states=["RUNNING", terminal])

    def test_unknown_name_lists_the_choices(self):
        with pytest.raises(ValueError, match=r"'runing' is not a job state; use some of CANCELLING, PAUSED"):
            JobFilter(states=["runing"])

    @pytest.mark.parametrize("empty", [[], "", " , "])
    def test_empty_selection_is_refused(self, empty):
        with pytest.raises(ValueError, match="states: an empty list selects nothing; leave states unset"):
            JobFilter(states=empty)

    def test_not_a_list(self):
        with pytest.raises(ValueError, match="states: expected state names, got int"):
            JobFilter(states=3)


class TestCreatedBefore:
    @pytest.mark.parametrize(
        "cutoff",
        [
            NOW - timedelta(minutes=30),
            "2025-06-01T11:30:00Z",
            "2025-06-01T19:30:00+08:00",
            (NOW - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-5))),
        ],
    )
    def test_aware_datetime_or_iso_string(self, cutoff):
        flt = JobFilter(created_before=cutoff)
        assert flt.matches(job(created_ago=timedelta(hours=1)), NOW)
        assert not flt.matches(job(created_ago=timedelta(minutes=10)), NOW)

    def test_strictly_before(self):
        assert not JobFilter(created_before=NOW).matches(job(created_ago=timedelta(0)), NOW)

    def test_job_without_creation_time_never_matches(self):
        assert not JobFilter(created_before=NOW).matches(job(created_ago=None), NOW)

    @pytest.mark.parametrize("naive", ["2025-06-01T11:30:00", datetime(2025, 6, 1, 11, 30)])
    def test_naive_is_refused_with_the_fix(self, naive):
        with pytest.raises(ValueError, match=r"has no time zone.*add one, e\.g\. '2025-01-31T00:00:00Z'"):
            JobFilter(created_before=naive)

    def test_garbage(self):
        with pytest.raises(ValueError, match="created_before: 'yesterday' is not an ISO 8601 date-time"):
            JobFilter(created_before="yesterday")


class TestRunningLongerThan:
    @pytest.mark.parametrize("two_hours", [7200, 7200.0, "7200", " 7200 ", "PT2H", timedelta(hours=2)])
    def test_seconds_iso_duration_or_timedelta(self, two_hours):
        flt = JobFilter(running_longer_than=two_hours)
        assert flt.running_longer_than == timedelta(hours=2)
        assert flt.matches(job(started_ago=timedelta(hours=3)), NOW)
        assert not flt.matches(job(started_ago=timedelta(hours=1)), NOW)

    def test_start_time_wins_over_creation_time(self):
        flt = JobFilter(running_longer_than=timedelta(hours=2))
        queued_long_started_late = job(created_ago=timedelta(hours=5), started_ago=timedelta(minutes=5))
        assert not flt.matches(queued_long_started_late, NOW)

    def test_creation_time_when_the_platform_reports_no_start(self):
        flt = JobFilter(running_longer_than=timedelta(hours=2))
        assert flt.matches(job(created_ago=timedelta(hours=3), started_ago=None), NOW)

    def test_no_time_at_all_never_matches(self):
        assert not JobFilter(running_longer_than=0).matches(job(created_ago=None, started_ago=None), NOW)

    def test_strictly_longer(self):
        assert not JobFilter(running_longer_than=3600).matches(job(started_ago=timedelta(hours=1)), NOW)

    @pytest.mark.parametrize(
        ("bad", "why"),
        [
            (-1, "-1 s is negative"),
            ("2h", "'2h' is not a duration"),
            (True, "True is not a duration"),
            (float("inf"), "inf is not a usable duration"),
            ("nan", "nan is not a usable duration"),
        ],
    )
    def test_bad_durations_name_the_accepted_forms(self, bad, why):
        with pytest.raises(ValueError, match=f"running_longer_than: {why}; give seconds \\(7200\\), an ISO 8601"):
            JobFilter(running_longer_than=bad)


class TestPatterns:
    @pytest.mark.parametrize(
        ("pattern", "name", "hit"),
        [
            ("nightly-*", "nightly-sft", True),
            ("nightly-*", "adhoc-nightly-sft", False),  # a glob covers the whole name
            ("Nightly-*", "nightly-sft", False),  # case-sensitive
            ("nightly-???", "nightly-sft", True),
            ("nightly-[st]ft", "nightly-sft", True),
            ("re:nightly", "adhoc-nightly-sft", True),  # a regex is searched
            ("re:^nightly-\\w+$", "nightly-sft", True),
            ("re:^nightly$", "nightly-sft", False),
        ],
    )
    def test_name_glob_or_regex(self, pattern, name, hit):
        assert JobFilter(name_pattern=pattern).matches(job(name=name), NOW) is hit

    def test_job_without_name_never_matches_a_name_pattern(self):
        assert not JobFilter(name_pattern="*").matches(job(name=None), NOW)
        assert JobFilter().matches(job(name=None), NOW)

    @pytest.mark.parametrize(
        ("pattern", "hit"),
        [
            ("4242", True),
            ("42*", True),
            ("projects/*/tuningJobs/4242", True),
            ("re:/tuningJobs/42", True),
            ("99*", False),
        ],
    )
    def test_id_pattern_tries_the_last_segment_of_resource_names(self, pattern, hit):
        vertex_job = job(job_id=VERTEX_NAME, platform=Platform.VERTEX_AI)
        assert JobFilter(id_pattern=pattern).matches(vertex_job, NOW) is hit

    def test_id_pattern_on_plain_ids(self):
        assert JobFilter(id_pattern="ftjob-*").matches(job(job_id="ftjob-abc"), NOW)
        assert not JobFilter(id_pattern="ft-*").matches(job(job_id="ftjob-abc"), NOW)

    @pytest.mark.parametrize("field", ["name_pattern", "id_pattern"])
    @pytest.mark.parametrize(
        ("bad", "why"),
        [("", "an empty pattern"), ("re:", "an empty pattern"), ("re:(", "is not a valid regular expression")],
    )
    def test_bad_patterns(self, field, bad, why):
        with pytest.raises(ValueError, match=f"{field}: .*{why}"):
            JobFilter(**{field: bad})


class TestLabels:
    def test_subset_match(self):
        flt = JobFilter(labels={"team": "ml"})
        assert flt.matches(job(labels={"team": "ml", "env": "dev"}), NOW)
        assert not flt.matches(job(labels={"team": "web"}), NOW)
        assert not flt.matches(job(labels={"env": "dev"}), NOW)

    def test_jobs_without_labels_never_match_a_label_filter(self):
        assert not JobFilter(labels={"team": "ml"}).matches(job(labels={}, platform=Platform.TOGETHER), NOW)

    def test_empty_label_filter_matches_everything(self):
        assert JobFilter(labels={}).matches(job(labels={}), NOW)

    def test_values_must_be_strings(self):
        with pytest.raises(ValueError, match=r"labels\.team: Input should be a valid string"):
            JobFilter(labels={"team": 1})


class TestJobIds:
    def test_only_the_listed_ids(self):
        chosen = JobFilter(job_ids=["ftjob-1", "ftjob-3"])
        assert chosen.matches(job(job_id="ftjob-1"), NOW)
        assert not chosen.matches(job(job_id="ftjob-2"), NOW)
        assert "job_ids=<2 ids>" in chosen.describe()

    def test_a_rendered_template_is_a_comma_separated_string(self):
        assert JobFilter(job_ids=" ftjob-1, ftjob-3 ,").job_ids == {"ftjob-1", "ftjob-3"}

    def test_an_empty_list_selects_nothing_rather_than_everything(self):
        assert JobFilter(job_ids="").select([job(job_id="ftjob-1")], NOW) == []


class TestCombinedAndSelect:
    def test_every_criterion_must_hold(self):
        flt = JobFilter(
            states=["RUNNING"],
            created_before=NOW - timedelta(hours=1),
            running_longer_than=timedelta(hours=2),
            name_pattern="nightly-*",
            id_pattern="ftjob-*",
            labels={"team": "ml"},
        )
        good = job(created_ago=timedelta(hours=3), labels={"team": "ml"})
        assert flt.matches(good, NOW)
        assert not flt.matches(good.model_copy(update={"state": S.QUEUED}), NOW)
        assert not flt.matches(good.model_copy(update={"display_name": "adhoc"}), NOW)
        assert not flt.matches(good.model_copy(update={"labels": {}}), NOW)
        assert not flt.matches(good.model_copy(update={"job_id": "other-1"}), NOW)
        assert not flt.matches(good.model_copy(update={"created_at": NOW - timedelta(minutes=90)}), NOW)

    def test_select_keeps_listing_order_and_drops_duplicates(self):
        jobs = [job(job_id="a"), job(S.SUCCEEDED, job_id="b"), job(job_id="c"), job(job_id="a")]
        assert [j.job_id for j in JobFilter().select(jobs, NOW)] == ["a", "c"]

    def test_cap_refuses_with_the_fix(self):
        jobs = [job(job_id=f"ftjob-{i}") for i in range(4)]
        assert len(JobFilter(max_jobs=4).select(jobs, NOW)) == 4
        with pytest.raises(TooManyJobsError) as caught:
            JobFilter(max_jobs=3, name_pattern="nightly-*").select(jobs, NOW)
        message = str(caught.value)
        assert "4 jobs match [states=PAUSED,PENDING,QUEUED,RUNNING name_pattern='nightly-*']" in message
        assert "more than max_jobs=3; nothing was cancelled" in message
        assert "set max_jobs=4 or more" in message
        assert len(caught.value.matched) == 4
        assert isinstance(caught.value, ValueError)

    def test_default_cap(self):
        assert JobFilter().max_jobs == DEFAULT_MAX_JOBS == 1000
        assert JobFilter(max_jobs="5").max_jobs == 5  # templates render to text

    @pytest.mark.parametrize("bad", [0, -1, "many"])
    def test_bad_cap(self, bad):
        with pytest.raises(ValueError, match="max_jobs: "):
            JobFilter(max_jobs=bad)

    def test_now_must_be_aware(self):
        with pytest.raises(ValueError, match="now must be an aware datetime"):
            JobFilter().select([job()], datetime(2025, 6, 1))

    def test_unknown_field_is_refused(self):
        with pytest.raises(ValueError, match="Invalid job filter: name: Extra inputs are not permitted"):
            JobFilter(name="x")

    def test_every_error_at_once(self):
        with pytest.raises(ValueError) as caught:
            JobFilter(states=["DONE"], max_jobs=0)
        assert "states: 'DONE'" in str(caught.value) and "max_jobs: " in str(caught.value)

    def test_describe(self):
        flt = JobFilter(states="running", running_longer_than="PT2H", labels={"team": "ml"}, id_pattern="re:^4")
        assert flt.describe() == "[states=RUNNING running_longer_than=2:00:00 id_pattern='re:^4' labels={'team': 'ml'}]"
