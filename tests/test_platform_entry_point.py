"""A platform another distribution registers: found by the registry, the provider info, Airflow and a hook.

The distribution is real metadata on ``sys.path`` (a ``*.dist-info`` with ``entry_points.txt``, as
pip writes it), not installed, and is read in a fresh process the way Airflow's components start.
It registers "acme", which speaks OpenAI's API (a subclass of the OpenAI dialect, as a package for
an OpenAI-compatible host would), so the hook talks to the emulator's OpenAI endpoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow_ft_provider
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import GROUP
from airflow_ft_provider.testing import Emulator, JobScript, airflow_connection

ROOT = Path(airflow_ft_provider.__file__).resolve().parents[1]

PLATFORM_MODULE = """
from dataclasses import replace

from airflow_ft_provider.platforms.openai import RECORD as OPENAI, OpenAIDialect
from airflow_ft_provider.platforms.record import ApiKeyAuth


class AcmeDialect(OpenAIDialect):
    platform = "acme"


RECORD = replace(
    OPENAI,
    name="acme",
    title="Acme",
    conn_type="ft_acme",
    dialect=AcmeDialect,
    hook_class_name="AcmeTuningHook",
    api_key=ApiKeyAuth("Acme API key"),
)
"""

CHECK = """
import json, os, sys
from airflow_ft_provider.platforms.registry import RECORDS, record_for

seen = {"names": list(RECORDS), "imported_by_listing": "acme_ft.platform" in sys.modules}
seen["title"] = record_for("acme").title

from airflow_ft_provider.get_provider_info import get_provider_info

info = get_provider_info()
seen["provider_info"] = {c["connection-type"]: c["hook-class-name"] for c in info["connection-types"]}
seen["hook_modules"] = info["hooks"][0]["python-modules"]

from airflow.providers_manager import ProvidersManager

found = ProvidersManager().hooks["ft_acme"]
seen["airflow_hook"] = [found.hook_class_name, found.hook_name]

from airflow_ft_provider.hooks.registry import get_hook

hook = get_hook("acme_test")
job = hook.get_job(os.environ["ACME_JOB_ID"])
seen["hook"] = [type(hook).__name__, hook.platform, hook.conn_type]
seen["job"] = [job.platform, job.job_id, job.state, job.display_name]
print(json.dumps(seen))
"""


def _distribution(where: Path) -> None:
    """``acme-ft`` 1.0 as an installer leaves it: the package and its ``dist-info``."""
    package = where / "acme_ft"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "platform.py").write_text(PLATFORM_MODULE)
    info = where / "acme_ft-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ft\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nacme = acme_ft.platform:RECORD\n")


def test_a_platform_of_another_distribution_is_found_everywhere(emu: Emulator, tmp_path: Path):
    _distribution(tmp_path)
    job_id = emu.seed(Platform.OPENAI, display_name="acme-sft", script=JobScript(running_s=None))
    conn = {**airflow_connection(emu, Platform.OPENAI, timeout=10), "conn_type": "ft_acme"}
    path = os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "AIRFLOW_CONN_ACME_TEST": json.dumps(conn), "ACME_JOB_ID": job_id}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])

    assert seen["names"] == [*(p.value for p in Platform), "acme"]
    assert seen["imported_by_listing"] is False
    assert seen["title"] == "Acme"
    hook_path = "airflow_ft_provider.hooks.api_key.AcmeTuningHook"
    assert seen["provider_info"]["ft_acme"] == hook_path
    assert seen["provider_info"]["ft_openai"] == "airflow_ft_provider.hooks.api_key.OpenAITuningHook"
    assert "airflow_ft_provider.hooks.api_key" in seen["hook_modules"]
    assert seen["airflow_hook"] == [hook_path, "Acme Fine-Tuning"]
    assert seen["hook"] == ["AcmeTuningHook", "acme", "ft_acme"]
    assert seen["job"] == ["acme", job_id, "RUNNING", "acme-sft"]
