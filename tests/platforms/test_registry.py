"""The registry: the static ``Platform`` enum against the built-in records, entry points, laziness."""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import airflow_ft_provider
from airflow_ft_provider import platforms
from airflow_ft_provider.errors import PlatformRegistryError, TuningJobError
from airflow_ft_provider.platforms.record import PlatformRecord
from airflow_ft_provider.platforms.registry import (
    GROUP,
    RECORDS,
    Platform,
    PlatformRegistry,
    known_platform,
    record_for,
)

ROOT = Path(airflow_ft_provider.__file__).resolve().parents[1]


def _modules_with_a_record() -> dict[str, PlatformRecord]:
    found = {}
    for module in pkgutil.iter_modules(platforms.__path__):
        record = getattr(importlib.import_module(f"{platforms.__name__}.{module.name}"), "RECORD", None)
        if isinstance(record, PlatformRecord):
            found[module.name] = record
    return found


def test_the_enum_lists_exactly_the_built_in_records():
    """A platform module added without its enum member (or the other way round) fails here."""
    records = _modules_with_a_record()
    assert sorted(records) == sorted(p.value for p in Platform)
    for module, record in records.items():
        assert record.name == module
        assert record.dialect.platform == module
        assert record_for(Platform(module)) is record


def test_members_compare_equal_to_their_names():
    assert Platform.OPENAI == "openai"
    assert Platform.VERTEX_AI == "vertex_ai"
    assert list(RECORDS)[: len(Platform)] == [p.value for p in Platform]


def test_known_platform_gives_the_member_of_a_built_in():
    assert known_platform("bedrock") is Platform.BEDROCK


@pytest.mark.parametrize("name", ["OPENAI", "nope", "", "openai "])
def test_an_unknown_name_is_a_registry_error_under_the_root(name: str):
    for call in (record_for, known_platform):
        with pytest.raises(PlatformRegistryError, match="known platforms: azure_openai") as info:
            call(name)
        assert isinstance(info.value, TuningJobError) and isinstance(info.value, ValueError)


# -- entry points, given to a registry of its own ------------------------------------------------
def _registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, *entries: tuple[str, str]):
    """A registry whose entry points name ``fake_platform`` (written from ``source``)."""
    (tmp_path / "fake_platform.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_platform", raising=False)
    return PlatformRegistry(tuple(EntryPoint(name, value, GROUP) for name, value in entries))


ACME = """
from airflow_ft_provider.platforms.openai import RECORD as OPENAI, OpenAIDialect
from dataclasses import replace

class AcmeDialect(OpenAIDialect):
    platform = "acme"

RECORD = replace(OPENAI, name="acme", title="Acme", conn_type="ft_acme", dialect=AcmeDialect,
                 hook_class_name="AcmeTuningHook")
WRONG_NAME = replace(RECORD, name="other")
NOT_A_RECORD = "acme"
"""


def test_a_registered_platform_is_listed_without_import_and_loaded_on_first_use(tmp_path, monkeypatch):
    registry = _registry(tmp_path, monkeypatch, ACME, ("acme", "fake_platform:RECORD"))
    assert "acme" in registry and list(registry)[-1] == "acme" and len(registry) == len(Platform) + 1
    assert "fake_platform" not in sys.modules
    record = registry["acme"]
    assert "fake_platform" in sys.modules
    assert record.name == "acme" and registry["acme"] is record
    assert registry.by_conn_type["ft_acme"] is record


def test_a_built_in_name_cannot_be_taken(tmp_path, monkeypatch, caplog):
    registry = _registry(tmp_path, monkeypatch, ACME, ("openai", "fake_platform:RECORD"))
    with caplog.at_level(logging.WARNING):
        assert registry["openai"].dialect.platform == "openai"
    assert "a built-in platform already has that name" in caplog.text
    assert "fake_platform" not in sys.modules


def test_a_name_registered_twice_keeps_one_and_says_so(tmp_path, monkeypatch, caplog):
    entries = [("acme", "fake_platform:RECORD"), ("acme", "fake_platform:WRONG_NAME"), ("acme", "fake_platform:RECORD")]
    registry = _registry(tmp_path, monkeypatch, ACME, *entries)
    with caplog.at_level(logging.WARNING):
        assert registry["acme"].name == "acme"
    assert caplog.text.count("already has that name") == 1  # the same entry twice is one registration


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fake_platform:WRONG_NAME", "not a PlatformRecord named 'acme'"),
        ("fake_platform:NOT_A_RECORD", "not a PlatformRecord named 'acme'"),
        ("fake_platform:MISSING", "cannot be loaded"),
        ("no_such_module_here:RECORD", "cannot be loaded"),
    ],
)
def test_a_broken_registration_names_its_entry_point(tmp_path, monkeypatch, value: str, problem: str):
    registry = _registry(tmp_path, monkeypatch, ACME, ("acme", value))
    with pytest.raises(PlatformRegistryError, match=problem):
        registry["acme"]


def test_a_dialect_of_another_platform_is_refused(tmp_path, monkeypatch):
    """The dialect stamps every job with its platform: one of another name would mislabel them."""
    source = ACME.replace('platform = "acme"', 'platform = "openai"')
    registry = _registry(tmp_path, monkeypatch, source, ("acme", "fake_platform:RECORD"))
    with pytest.raises(PlatformRegistryError, match="dialect's platform"):
        registry["acme"]


def test_two_platforms_serving_one_connection_type_are_refused(tmp_path, monkeypatch):
    source = ACME + "\nCLASH = replace(RECORD, conn_type='ft_openai')\n"
    registry = _registry(tmp_path, monkeypatch, source, ("acme", "fake_platform:CLASH"))
    with pytest.raises(PlatformRegistryError, match="both serve connection type 'ft_openai'"):
        registry.by_conn_type.get("ft_acme")


# -- laziness, in a fresh process ------------------------------------------------------------------
_LAZY = """
import json, sys
from airflow_ft_provider import jobs
from airflow_ft_provider.platforms.registry import RECORDS, record_for

def loaded():
    return sorted(n for n in sys.modules if n.rpartition(".")[0] == "airflow_ft_provider.platforms"
                  and n.rpartition(".")[2] in RECORDS)

names = list(RECORDS)
after_listing = loaded()
record_for("together")
print(json.dumps({"names": names, "after_listing": after_listing, "after_one": loaded()}))
"""


def test_listing_imports_no_platform_and_a_record_imports_its_own():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True, check=True, env=env).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["names"][: len(Platform)] == [p.value for p in Platform]
    assert seen["after_listing"] == []
    # Together's module may import a shared one (another dialect's), but not every platform's.
    assert "airflow_ft_provider.platforms.together" in seen["after_one"]
    assert "airflow_ft_provider.platforms.bedrock" not in seen["after_one"]
