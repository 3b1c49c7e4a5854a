"""Registration: Airflow discovers the provider, its connection types and their forms; the package
metadata says what the provider does."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from airflow_ft_provider import version_compat
from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.get_provider_info import description, get_provider_info
from airflow_ft_provider.platforms.registry import RECORDS

#: Every platform's own connection type, from its record (adding a platform adds one here by itself).
CONN_TYPES = {record.conn_type: record for record in RECORDS.values()}


def test_provider_info_matches_airflows_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_providers_manager_lists_provider_and_connection_types():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-ft-provider" in manager.providers
    hooks = manager.hooks
    for conn_type in CONN_TYPES:
        info = hooks[conn_type]
        assert info is not None, conn_type
        assert info.hook_name == CONN_TYPES[conn_type].hook_name
        assert info.connection_id_attribute_name == "conn_id"


_UI_METADATA = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
print(json.dumps({m.connection_type: m.model_dump(mode="json") for m in HookMetaService.hook_meta_data()}))
"""


@pytest.fixture(scope="module")
def ui_metadata() -> dict[str, Any]:
    """What the Connections UI gets: 3.2+ from conn-fields, 3.1 from the hooks' legacy methods.

    Read in a fresh process, as in the API server: on 3.1 the form metadata depends on the
    providers manager not having been initialised without the UI's wtforms stand-ins.
    """
    out = subprocess.run([sys.executable, "-c", _UI_METADATA], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_connection_forms_reach_the_ui_metadata(ui_metadata):
    meta = ui_metadata
    for conn_type, record in CONN_TYPES.items():
        form = record.form
        entry = meta[conn_type]
        assert entry["hook_name"] == record.hook_name
        extra = entry["extra_fields"] or {}
        for field in form.fields:
            key = next(k for k in extra if k.endswith(f"__{field.name}") or k == field.name)
            schema = extra[key]["schema"]
            assert schema.get("title") == field.label
            if field.secret:
                assert schema.get("format") == "password", (conn_type, field.name)
        standard = entry["standard_fields"]
        assert standard["password"]["title"] == form.ui["relabeling"]["password"]
        assert bool(standard["login"]["hidden"]) is ("login" in form.hidden)  # Bedrock shows it
        if "login" in form.ui["relabeling"]:
            assert standard["login"]["title"] == form.ui["relabeling"]["login"]


def test_every_hook_has_its_own_legacy_form_methods_on_3_1_only():
    """Airflow 3.1 looks for them in each hook class's own __dict__; 3.2+ reads conn-fields and
    warns about them, so they are not there."""
    from airflow_ft_provider.hooks.registry import hook_class_for_conn_type

    for conn_type in CONN_TYPES:
        hook = hook_class_for_conn_type(conn_type)
        legacy = not version_compat.AIRFLOW_V_3_2_PLUS
        assert ("get_connection_form_widgets" in hook.__dict__) is legacy
        assert ("get_ui_field_behaviour" in hook.__dict__) is legacy
        if legacy:
            assert hook.get_ui_field_behaviour()["relabeling"]["password"]


def test_google_cloud_connection_type_is_served_by_vertex_hook():
    from airflow_ft_provider.hooks.registry import hook_class_for_conn_type

    assert hook_class_for_conn_type("google_cloud_platform").conn_type == "ft_vertex_ai"
    with pytest.raises(ValueError, match="not a fine-tuning platform"):
        hook_class_for_conn_type("postgres", "pg")


def _shown_labels(entry: dict[str, Any]) -> list[str]:
    """The labels of the fields a form shows, as the UI renders them (a standard field without a
    title keeps its own name)."""
    standard = [
        field["title"] or name.capitalize()
        for name, field in entry["standard_fields"].items()
        if isinstance(field, dict) and not field["hidden"]
    ]
    return standard + [extra["schema"]["title"] for extra in (entry["extra_fields"] or {}).values()]


def test_no_form_shows_two_fields_with_the_same_label(ui_metadata):
    """Vertex AI's form showed "Service account key (JSON)" twice (Password and keyfile_dict)."""
    for conn_type in CONN_TYPES:
        labels = _shown_labels(ui_metadata[conn_type])
        folded = [label.casefold() for label in labels]
        twice = sorted({label for label in labels if folded.count(label.casefold()) > 1})
        assert not twice, f"{conn_type}'s form shows these labels more than once: {twice}"
        assert len(labels) == len(CONN_TYPES[conn_type].form.labels()), conn_type


def test_a_form_with_two_fields_of_one_label_is_refused():
    key = ConnField("keyfile_dict", "api KEY", secret=True)
    with pytest.raises(ValueError, match=r"'password' and 'keyfile_dict' are both labelled 'api KEY'"):
        ConnectionForm(fields=(key, *COMMON_FIELDS))
    with pytest.raises(ValueError, match="both labelled 'Max retries'"):
        ConnectionForm(fields=(ConnField("retries", "Max retries"), *COMMON_FIELDS))


def test_searching_the_type_picker_for_fine_finds_every_connection_type(ui_metadata):
    """The picker filters the hook names by what is typed; each says "Fine-Tuning", from one rule."""
    names = {conn_type: ui_metadata[conn_type]["hook_name"] for conn_type in CONN_TYPES}
    assert all("fine" in name.casefold() for name in names.values()), names
    assert len(set(names.values())) == len(names), f"two types share a name: {names}"
    for conn_type, record in CONN_TYPES.items():
        assert names[conn_type].startswith(f"{record.title} Fine-Tuning"), names[conn_type]


def test_package_metadata_names_every_platform():
    """pyproject.toml said five platforms long after there were more; the provider info reads the records."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    info = get_provider_info()
    assert info["description"] == description()
    assert project["description"] == f"Apache Airflow provider: {description()[0].lower()}{description()[1:]}"
    keywords = " ".join(project["keywords"])
    for record in CONN_TYPES.values():
        assert record.title in description()
        assert record.name.replace("_", "-") in keywords, f"pyproject.toml's keywords lack {record.title}"
