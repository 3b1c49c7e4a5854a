"""Every code example in docs/ and the README runs, so the documentation cannot drift from the code.

Each ```python block in a page is preceded by a marker line saying what kind of example it is:

- ``<!-- example: dag -->``: a fragment (operator calls and their imports); it is placed in a
  ``with DAG(...)`` block and parsed as a DAG file.
- ``<!-- example: dag-file -->``: a whole DAG file; parsed.
- ``<!-- example: run -->``: a self-contained script (it starts its own emulator); executed as
  ``__main__`` from the DAGs folder, which ``dag.test()`` on Airflow 3.3 requires.
- ``<!-- example: run-with-emulator -->``: a script that uses the ``ft_<platform>_default``
  connections; executed with them pointed at the emulators, which hold a few running jobs.

The connection pages' shell examples (``airflow connections add ...`` and ``AIRFLOW_CONN_...``)
are parsed, pointed at the emulator with its credentials, and must pass the hook's Test button.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_ft_provider.hooks.registry import get_hook
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import RECORDS, record_for
from airflow_ft_provider.testing import Emulator, JobScript, airflow_connection
from airflow_ft_provider.testing.dags import ensure_db
from tests.conftest import FAST_RETRIES, PLATFORMS, connection_dict

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: The README's quick start is checked like a page of the docs.
README = DOCS.parent / "README.md"
KINDS = ("dag", "dag-file", "run", "run-with-emulator")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_MARKER = re.compile(r"<!--\s*example:\s*([\w-]+)\s*-->\s*$")
#: Extras that carry Vertex AI credentials: the emulator's own replace them.
_CREDENTIAL_EXTRAS = ("keyfile_dict", "key_path", "access_token", "role_arn")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    language: str
    kind: str | None
    code: str

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def slug(self) -> str:
        return re.sub(r"\W+", "_", f"{Path(self.page).with_suffix('')}_{self.line}")


def _blocks() -> list[Block]:
    blocks = []
    for path in [README, *sorted(DOCS.rglob("*.md"))]:
        if "_build" in path.parts:
            continue
        text = path.read_text()
        for fence in _FENCE.finditer(text):
            before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = _MARKER.search(before)
            blocks.append(
                Block(
                    page=path.name if path == README else path.relative_to(DOCS).as_posix(),
                    line=text.count("\n", 0, fence.start()) + 1,
                    language=fence.group(1),
                    kind=marker.group(1) if marker else None,
                    code=fence.group(2),
                )
            )
    return blocks


BLOCKS = _blocks()
PYTHON = [b for b in BLOCKS if b.language == "python"]


def _of_kind(*kinds: str) -> list[Any]:
    return [pytest.param(b, id=b.name) for b in PYTHON if b.kind in kinds]


def test_every_python_example_says_how_it_is_checked():
    unmarked = [b.name for b in PYTHON if b.kind not in KINDS]
    assert not unmarked, f"put <!-- example: {' | '.join(KINDS)} --> on the line before each of {unmarked}"
    assert {b.kind for b in PYTHON} == set(KINDS), "every kind of example is used at least once"


# -- DAG fragments and files ---------------------------------------------------------------


def _dag_source(block: Block) -> str:
    if block.kind == "dag-file":
        return block.code
    return (
        "from datetime import datetime\n\n"
        "from airflow.sdk import DAG\n\n"
        f'with DAG("docs_{block.slug}", schedule=None, start_date=datetime(2026, 1, 1), '
        'params={"job_id": "ftjob-abc123"}):\n' + textwrap.indent(block.code, "    ")
    )


@pytest.mark.parametrize("block", _of_kind("dag", "dag-file"))
def test_dag_example_parses(block: Block, tmp_path: Path):
    try:  # moved in Airflow 3.2
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag

    path = tmp_path / f"docs_{block.slug}.py"
    path.write_text(_dag_source(block))
    bag = DagBag(dag_folder=str(path))  # examples are off through AIRFLOW__CORE__LOAD_EXAMPLES
    assert bag.import_errors == {}
    assert bag.dags, f"{block.name} defines no DAG"
    for dag in bag.dags.values():
        assert dag.task_dict, f"{block.name}: DAG {dag.dag_id} has no task"


# -- runnable scripts ----------------------------------------------------------------------


@pytest.fixture
def default_connections(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ft_<platform>_default`` on the emulator, each platform with an old and a young running job."""
    for platform in PLATFORMS:
        conn_id = record_for(platform).default_conn_name
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection_dict(emu, platform)))
        emu.seed(platform, display_name="exp-1", script=JobScript(running_s=None), created_ago_s=3 * 3600)
        emu.seed(platform, display_name="exp-2", script=JobScript(running_s=None), created_ago_s=600)


@pytest.mark.parametrize("block", _of_kind("run", "run-with-emulator"))
def test_runnable_example_runs(block: Block, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]):
    if block.kind == "run-with-emulator":
        request.getfixturevalue("default_connections")
    ensure_db()
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"docs_{block.slug}.py"
    path.write_text(block.code)
    saved = dict(os.environ)
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        path.unlink()
        os.environ.clear()
        os.environ.update(saved)
    # Every runnable example shows its outcome (a print) or checks it (an assert).
    assert capsys.readouterr().out.strip() or "assert " in block.code, f"{block.name} shows nothing"


# -- connection examples -------------------------------------------------------------------


def _shell_connections(block: Block) -> list[tuple[str, dict[str, Any]]]:
    """``(conn_id, connection JSON)`` for each connection a shell block defines."""
    found = []
    for command in block.code.replace("\\\n", " ").splitlines():
        words = shlex.split(command, comments=True)
        if words[:1] == ["export"] and words[1].startswith("AIRFLOW_CONN_"):
            name, _, value = words[1].partition("=")
            found.append((name.removeprefix("AIRFLOW_CONN_").lower(), json.loads(value)))
        elif words[:3] == ["airflow", "connections", "add"]:
            options = dict(zip(words[4::2], words[5::2], strict=True))
            conn: dict[str, Any] = {"conn_type": options.pop("--conn-type")}
            if "--conn-password" in options:
                conn["password"] = options.pop("--conn-password")
            if "--conn-login" in options:
                conn["login"] = options.pop("--conn-login")
            if "--conn-host" in options:  # replaced by the emulator's below, as the password is
                conn["host"] = options.pop("--conn-host")
            conn["extra"] = json.loads(options.pop("--conn-extra", "{}"))
            assert not options, f"{block.name}: options the test does not know: {sorted(options)}"
            found.append((words[3], conn))
    return found


#: Shell blocks of the platforms' connection pages (the index's are about every type).
CONNECTION_BLOCKS = [
    b for b in BLOCKS if b.page.startswith("connections/") and b.page != "connections/index.md" and b.language == "bash"
]
CONNECTIONS = [
    pytest.param(conn_id, conn, id=f"{b.name}:{conn_id}")
    for b in CONNECTION_BLOCKS
    for conn_id, conn in _shell_connections(b)
]


def test_every_connection_page_shows_the_cli_and_an_environment_variable():
    for platform_page in sorted({b.page for b in CONNECTION_BLOCKS}):
        code = "\n".join(b.code for b in CONNECTION_BLOCKS if b.page == platform_page)
        assert "airflow connections add" in code and "export AIRFLOW_CONN_" in code, platform_page
    assert len({b.page for b in CONNECTION_BLOCKS}) == len(Platform)


@pytest.mark.parametrize(("conn_id", "conn"), CONNECTIONS)
def test_connection_example_passes_the_test_button(conn_id: str, conn: dict[str, Any], emu: Emulator, set_connection):
    """The example as written, but with the emulator's address and credentials."""
    platform = Platform(RECORDS.by_conn_type[conn["conn_type"]].name)
    extra = {k: v for k, v in conn.get("extra", {}).items() if k not in _CREDENTIAL_EXTRAS}
    local = airflow_connection(emu, platform, project=extra.get("project", "emulator-project"), **FAST_RETRIES)
    set_connection(
        conn_id,
        {
            **conn,
            "host": local["host"],
            "password": local["password"],
            **({"login": local["login"]} if "login" in local else {}),
            "extra": {**local["extra"], **extra},
        },
    )
    ok, message = get_hook(conn_id).test_connection()
    assert ok, message
