"""The API reference (docs/api.md) is Markdown written from the code (docs/api.py): readable in the
repository, never stale, and about every public class with each parameter's type, default,
templating and meaning.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

from airflow_ft_provider.get_provider_info import get_provider_info
from airflow_ft_provider.platforms.registry import RECORDS

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_api", ROOT / "docs" / "api.py")
assert _spec is not None and _spec.loader is not None
api = importlib.util.module_from_spec(_spec)
sys.modules["docs_api"] = api  # dataclasses look their module up
_spec.loader.exec_module(api)

PAGE = api.PAGE.read_text()
ENTRIES = [entry for _, _, entries in api.SECTIONS for entry in entries()]


def _provider_classes() -> list[type]:
    """The operators, sensors, triggers and notifier the provider info registers with Airflow."""
    from airflow.sdk import BaseOperator
    from airflow.triggers.base import BaseTrigger

    info = get_provider_info()
    modules = [
        m for kind in ("operators", "sensors", "triggers") for item in info[kind] for m in item["python-modules"]
    ]
    classes = [
        c
        for module in modules
        for c in vars(importlib.import_module(module)).values()
        if inspect.isclass(c) and c.__module__ == module and issubclass(c, BaseOperator | BaseTrigger)
    ]
    for path in info["notifications"]:
        module, _, name = path.rpartition(".")
        classes.append(getattr(importlib.import_module(module), name))
    return list(dict.fromkeys(classes))  # an alias (CancelTuningJobsOperator) is the same class


def test_the_page_is_what_the_code_says():
    assert not api.stale(), f"docs/api.md differs from the code's docstrings: run {api.COMMAND}"


def test_the_page_is_markdown_with_no_sphinx_left_in_it():
    for leftover in ("{eval-rst}", ".. auto", ":class:`", ":func:`", ":meth:`", ":mod:`", "``", ":param "):
        assert leftover not in PAGE, f"docs/api.md shows {leftover!r} as text"
    assert "0x7" not in PAGE and "<class " not in PAGE and "<function " not in PAGE  # no reprs of objects


def test_every_public_class_is_on_the_page():
    shown = {entry.path for entry in ENTRIES}
    classes = _provider_classes()
    assert {c.__name__ for c in classes} >= {"CancelTuningJobOperator", "TuningJobStateSensor", "TuningJobStateTrigger"}
    for cls in classes:
        assert f"{cls.__module__}.{cls.__name__}" in shown, cls
    for record in RECORDS.values():
        assert record.hook_class_path in shown, f"{record.title}'s hook is not on the page"
    errors = importlib.import_module("airflow_ft_provider.errors")
    for cls in vars(errors).values():
        if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == errors.__name__:
            assert f"### `{cls.__name__}`" in PAGE


@pytest.mark.parametrize("cls", _provider_classes(), ids=lambda c: c.__name__)
def test_every_parameter_of_a_dag_facing_class_says_what_it_means(cls):
    _, described = api.split_doc(cls)
    params = [p for p in inspect.signature(cls).parameters.values() if p.kind is not p.VAR_KEYWORD]
    missing = [p.name for p in params if not described.get(p.name)]
    assert not missing, f"{cls.__name__}'s docstring has no :param: for {missing}"


@pytest.mark.parametrize("cls", _provider_classes(), ids=lambda c: c.__name__)
def test_templated_parameters_are_marked_and_the_docstrings_agree(cls):
    """Each template field is a parameter (so the page's "Templated" column holds every one), and a
    docstring that says "(templated)" is about a parameter Airflow does render."""
    fields = set(getattr(cls, "template_fields", ()))
    params = set(inspect.signature(cls).parameters)
    templated = api.templated_fields(cls) & params
    assert all(f in params or f.removeprefix("is_") in params for f in fields), (fields, params)
    _, described = api.split_doc(cls)
    claims = {name for name, text in described.items() if "(templated" in text}
    assert claims <= templated, (
        f"{cls.__name__}: docstring says templated, Airflow does not render {claims - templated}"
    )
    for name in templated:
        row = re.search(rf"^\| `{name}` \|.*$", PAGE.split(f"### `{cls.__name__}`", 1)[1], re.M)
        assert row and "| yes |" in row[0], f"{cls.__name__}.{name} is not marked templated"


def test_the_bulk_operators_dry_run_is_shown_templated():
    section = PAGE.split("### `BulkCancelTuningJobsOperator`", 1)[1].split("\n### ", 1)[0]
    assert re.search(r"^\| `dry_run` \| `bool \\\| str` \| `False` \| yes \|", section, re.M), section


def _anchor(heading: str) -> str:
    """The anchor GitHub and MyST give a heading: lower case, punctuation but - and _ dropped."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_into_the_reference_land_on_a_heading():
    anchors = {_anchor(h) for h in re.findall(r"^#{1,4} (.+)$", PAGE, re.M)}
    links = [
        (page.name, target)
        for page in (ROOT / "docs").rglob("*.md")
        for target in re.findall(r"\]\((?:\.\./)?api\.md#([\w-]+)\)", page.read_text())
    ]
    assert links, "the guide links into the reference"
    assert not [link for link in links if link[1] not in anchors], "links to no heading of docs/api.md"
