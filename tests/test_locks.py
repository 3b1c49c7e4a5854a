"""The locks in locks/ (scripts/locks.py): current, complete, and what the docs point users at."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("locks", ROOT / "scripts" / "locks.py")
assert _spec is not None and _spec.loader is not None
locks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(locks)

LOCK_FILES = sorted((ROOT / "locks").glob("airflow-*.txt"))
NAME = re.compile(r"airflow-(?P<airflow>[\d.]+)-python-(?P<python>[\d.]+)(?:-(?P<set>[\w-]+))?\.txt")


def _env_sh(name: str) -> str:
    found = re.search(rf'^{name}="\$\{{{name}:-([^}}]+)\}}"', (ROOT / "scripts" / "env.sh").read_text(), re.M)
    assert found, name
    return found.group(1)


@pytest.mark.parametrize("path", LOCK_FILES, ids=lambda p: p.name)
def test_each_lock_was_made_from_the_dependencies_pyproject_declares(path: Path):
    match = NAME.fullmatch(path.name)
    assert match, path.name
    made_from = locks.header_value(path, locks.DIGEST_LINE)
    assert made_from == locks.inputs_digest(match["airflow"], match["python"], match["set"] or ""), (
        f"{path.name} is older than pyproject.toml's dependencies: run scripts/lock and commit locks/"
    )
    pins = locks.pins(path)
    assert pins["apache-airflow"] == match["airflow"]
    assert "cryptography" in pins and "hatchling" in pins  # the build backend is locked too


def test_the_locks_share_one_date_and_cover_every_tested_airflow():
    dates = {locks.header_value(path, locks.DATE_LINE) for path in LOCK_FILES}
    assert len(dates) == 1, dates
    for airflow in (_env_sh("AIRFLOW_LATEST"), _env_sh("AIRFLOW_OLDEST")):
        assert locks.lock_path(airflow, "3.11").exists(), f"no lock for Airflow {airflow} on Python 3.11"


def test_every_lock_the_docs_name_exists():
    named = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        named |= set(re.findall(r"locks/(airflow-[\w.-]+?\.txt)", page.read_text()))
    assert named, "the install docs name no lock"
    assert named <= {path.name for path in LOCK_FILES}
