"""The README's quick start works as written: its commands, in a copy of the checkout, from a new
virtualenv, print a confirmed cancel; and the file it runs is the one the README shows.

It installs Airflow from PyPI with the committed lock (uv's cache makes that quick after the first
time), so it needs the network, as the release check does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
#: What a checkout holds that the commands use: the package to install, its metadata and the lock.
CHECKOUT = ["airflow_ft_provider", "locks", "pyproject.toml", "README.md", "LICENSE", "quickstart.py"]

pytestmark = pytest.mark.newest_only  # it builds its own environment: the running Airflow is not used


def _fenced_after(marker: str, language: str) -> str:
    found = re.search(rf"{re.escape(marker)}\n```{language}\n(.*?)^```$", README, re.S | re.M)
    assert found, f"README.md has no ```{language} block after {marker}"
    return found.group(1)


def test_the_readme_shows_the_shipped_quickstart_py():
    shown = _fenced_after("<!-- example: run -->", "python")
    assert shown.startswith('"""quickstart.py:'), "the README's first runnable example is the quick start"
    assert shown == (ROOT / "quickstart.py").read_text(), "README.md and quickstart.py differ: make them one text"


def _fresh_shell_env() -> dict[str, str]:
    """A new user's shell: no Airflow settings, no virtualenv of ours; the package caches kept."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTHON", "FT_", "VIRTUAL_ENV", "PIP_REQUIRE"))
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venvs" not in p)
    return env


def test_the_quick_start_commands_work_as_written(tmp_path: Path):
    assert shutil.which("python3.11"), "the quick start starts from python3.11, which is not on PATH"
    checkout = tmp_path / "airflow-ft-provider"
    for name in CHECKOUT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            checkout.mkdir(exist_ok=True)
            shutil.copy2(source, checkout / name)
    commands = _fenced_after("<!-- quickstart: commands -->", "bash")
    done = subprocess.run(
        ["bash", "-e", "-c", commands],
        cwd=checkout,
        env=_fresh_shell_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"^ftjob-\S+: RUNNING -> cancel_sent -> CANCELLED$", done.stdout, re.M), output[-4000:]
