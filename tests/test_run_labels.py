"""run_labels: a job's Airflow run in each platform's own label form, and the reaper's reading of it."""

from __future__ import annotations

import re

import pytest

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import record_for
from airflow_ft_provider.run_labels import RunLabel, label_rules, run_labels

IDS = {"dag_id": "nightly_sft", "run_id": "scheduled__2026-12-07T00:00:00+00:00", "task_id": "train", "map_index": 3}
LONG_DAG = "Team.Nightly_" + "x" * 200
TAKES_LABELS = [p for p in Platform if record_for(p).labels is not None]


def test_the_platforms_that_take_labels():
    assert set(TAKES_LABELS) == {
        Platform.VERTEX_AI,
        Platform.OPENAI,
        Platform.AZURE_OPENAI,
        Platform.BEDROCK,
        Platform.SAGEMAKER,
    }


def test_openai_metadata_keeps_every_id_as_it_is():
    assert run_labels("openai", **IDS) == {
        "airflow-dag": "nightly_sft",
        "airflow-run": "scheduled__2026-12-07T00:00:00+00:00",
        "airflow-task": "train",
        "airflow-map-index": "3",
    }


def test_aws_tags_are_lists_of_key_value_objects():
    assert run_labels("bedrock", **IDS)[0] == {"key": "airflow-dag", "value": "nightly_sft"}
    sagemaker = run_labels("sagemaker", **IDS)
    assert {"Key": "airflow-run", "Value": "scheduled__2026-12-07T00:00:00+00:00"} in sagemaker


def test_vertex_ai_values_outside_its_charset_are_encoded_within_its_limits():
    labels = run_labels("vertex_ai", **{**IDS, "dag_id": LONG_DAG})
    assert isinstance(labels, dict)
    for key, value in labels.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key)
        assert re.fullmatch(r"[a-z0-9_-]{0,63}", value), value
    assert labels["airflow-task"] == "train"  # fits: kept as it is
    assert labels["airflow-run"].startswith("scheduled__2026-12-07t00-00-00-00-00-")
    assert labels["airflow-dag"].startswith("team-nightly_xxx") and len(labels["airflow-dag"]) == 63


@pytest.mark.parametrize("platform", TAKES_LABELS)
def test_the_reaper_matches_the_ids_it_was_made_from_and_no_others(platform):
    ids = {**IDS, "dag_id": LONG_DAG}
    made = run_labels(platform, **ids)
    as_mapping = made if isinstance(made, dict) else {tag_key(t): tag_value(t) for t in made}
    label = RunLabel.of(as_mapping)
    assert label is not None
    _, rules = label_rules(platform)
    assert label.names_dag(rules, LONG_DAG) and label.names_run(rules, ids["run_id"])
    assert label.names_task(rules, "train", 3)
    assert not label.names_dag(rules, LONG_DAG + "y")  # a clipped id still tells DAGs apart
    assert not label.names_run(rules, "scheduled__2026-12-08T00:00:00+00:00")
    assert not label.names_task(rules, "train", 4)


def tag_key(tag: dict[str, str]) -> str:
    return tag.get("key") or tag["Key"]


def tag_value(tag: dict[str, str]) -> str:
    return tag.get("value") or tag["Value"]


def test_a_job_without_all_four_labels_is_not_a_candidate():
    labels = run_labels("openai", **IDS)
    assert isinstance(labels, dict)
    assert RunLabel.of(labels, prefix="other") is None
    del labels["airflow-task"]
    assert RunLabel.of(labels) is None


@pytest.mark.parametrize("platform", [Platform.TOGETHER, Platform.GEMINI, Platform.DASHSCOPE, Platform.REPLICATE])
def test_platforms_without_labels_say_so(platform):
    with pytest.raises(ValueError, match=f"{re.escape(record_for(platform).title)} fine-tuning jobs take no labels"):
        run_labels(platform, **IDS)


def test_a_prefix_the_platform_would_refuse():
    with pytest.raises(ValueError, match="cannot be a key of Vertex AI's labels"):
        run_labels("vertex_ai", prefix="Prod.Airflow", **IDS)


def test_the_context_gives_what_is_not_passed():
    class TI:
        dag_id, run_id, task_id, map_index = "d", "manual__1", "t", -1

    assert run_labels("openai", {"ti": TI()}, task_id="other") == {
        "airflow-dag": "d",
        "airflow-run": "manual__1",
        "airflow-task": "other",
        "airflow-map-index": "-1",
    }


def test_outside_a_task_without_ids_is_a_clear_error():
    with pytest.raises(ValueError, match="not called inside a running task"):
        run_labels("openai")
