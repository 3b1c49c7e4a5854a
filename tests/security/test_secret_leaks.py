"""Secrets never leave the connection: not in logs, XCom, rendered fields, errors or trigger rows.

Each test plants credentials nobody else uses (``sk-PLANTED-<uuid>``; for Vertex AI a static
access token or a freshly generated service-account key, plus the access tokens minted from
it), runs real DAGs (operator on the worker and deferred, sensor poking and deferred) on the
success path and on every error path, then searches every place a secret could end up:

* everything written to stdout/stderr (``dag.test()`` writes the task's and the trigger's
  log there: it creates no log files, which the search of ``$AIRFLOW_HOME`` confirms),
* every log record of the standard ``logging`` tree, unmasked, at DEBUG for the provider,
  httpx, httpcore and google-auth (so a secret that only the masker hid is still caught),
* the metadata database: XCom rows, rendered template fields, task instances (``next_kwargs``
  holds the trigger's event), the trigger table (raw, and decoded the way the triggerer reads
  it), the audit log, and the raw bytes of the SQLite files. Note: Airflow 3.1-3.3's execution
  API stores trigger kwargs as plain JSON (``routes/task_instances.py``: "assume it doesn't
  need to be" encrypted), so serializing only ids is the provider's whole protection there,
* every other file under ``$AIRFLOW_HOME``,
* the exceptions the hooks raise (sync and async, with their whole printed chain), the Test
  button's message, ``trigger.serialize()`` and the ``repr`` of hooks and auth objects.

Every place is also checked to hold what the run wrote (the log names the DAG and its tasks,
there is a rendered-fields and a task row per task, triggers were stored, log records were
captured), so an empty capture cannot pass for a clean one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_ft_provider.hooks.registry import hook_class_for_platform
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.process_cache import process_cache
from airflow_ft_provider.testing import Emulator, Fault, JobScript
from airflow_ft_provider.testing.dags import ensure_db, run_dag_source
from airflow_ft_provider.testing.platforms import SPECS
from tests.conftest import CONN_TYPES, LOCATION, PLATFORMS
from tests.security.support import MISSING_IDS, dag_header, foreign_service_account

#: Quick retries: the error paths exhaust them.
FAST = {"max_retries": 1, "max_retry_seconds": 1, "backoff_max": 0.05, "timeout": 5}
API_KEY_PLATFORMS = [p for p in PLATFORMS if p is not Platform.VERTEX_AI]


# -- planting ----------------------------------------------------------------------------------
@dataclass
class Plant:
    """One connection whose credentials are unique to this test."""

    platform: Platform
    conn_id: str
    #: Strings that must appear nowhere (the key, its unique core, key lines, minted tokens).
    secrets: list[str]
    project: str | None = None


@dataclass
class Garden:
    """Plants connections and restores the emulator's keys afterwards."""

    emu: Emulator
    monkeypatch: pytest.MonkeyPatch
    plants: list[Plant] = field(default_factory=list)
    tokens_before: set[str] = field(default_factory=set)

    def key(self, platform: Platform, *, valid: bool = True, suffix: str = "") -> Plant:
        """An API key (Vertex AI: a static access token) the emulator accepts if ``valid``."""
        core = uuid.uuid4().hex
        key = f"sk-PLANTED-{core}"
        if valid:
            self.emu.config.api_keys[platform.value] = key
        conn: dict[str, Any] = {"conn_type": CONN_TYPES[platform], "host": self.emu.base_url(platform)}
        # The extras the platform's connection needs (a watsonx.ai project, its IAM), as its emulator writes them.
        spec_extra = self.emu.spec(platform).connection(self.emu, key=key, project="p", location=LOCATION, extra={})
        extra: dict[str, Any] = {**spec_extra["extra"], **FAST}
        if platform is Platform.VERTEX_AI:
            extra.update(project=f"leak-{core[:8]}", location=LOCATION, access_token=key + suffix)
        else:
            conn.update(SPECS[platform].secret_fields(key + suffix))
        conn["extra"] = extra
        return self._add(platform, conn, [key, core], extra.get("project"))

    def service_account(self, *, valid: bool = True) -> Plant:
        """A Vertex AI service-account key: the emulator's own for a fresh project, or a stranger's."""
        project = f"leak-{uuid.uuid4().hex[:8]}"
        if valid:
            info = self.emu.service_account_info(project)
        else:
            info = foreign_service_account(project, self.emu.service_account_info(project)["token_uri"])
        pem: str = info["private_key"]
        lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        conn = {
            "conn_type": "ft_vertex_ai",
            "host": self.emu.base_url(Platform.VERTEX_AI),
            "password": json.dumps(info),
            "extra": {**FAST, "project": project, "location": LOCATION},
        }
        return self._add(Platform.VERTEX_AI, conn, [pem, *lines], project)

    def _add(self, platform: Platform, conn: dict[str, Any], secrets: list[str], project: str | None) -> Plant:
        conn_id = f"leak_{platform.value}_{uuid.uuid4().hex[:6]}"
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        plant = Plant(platform, conn_id, secrets, project)
        self.plants.append(plant)
        return plant

    def minted_tokens(self) -> list[str]:
        """Access tokens the emulator's OAuth endpoint issued during this test (secrets too)."""
        return sorted(set(self.emu.google_auth._tokens) - self.tokens_before)

    def all_secrets(self) -> dict[str, str]:
        """secret -> the plant's conn id, for the failure message."""
        found = {s: p.conn_id for p in self.plants for s in p.secrets}
        found.update({token: "minted Vertex AI token" for token in self.minted_tokens()})
        return found


@pytest.fixture
def garden(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Garden]:
    keys = dict(emu.config.api_keys)
    g = Garden(emu, monkeypatch, tokens_before=set(emu.google_auth._tokens))
    try:
        yield g
    finally:
        emu.config.api_keys.clear()
        emu.config.api_keys.update(keys)


class RawRecords:
    """Every standard-logging record of the test, formatted from its raw message and arguments.

    pytest's own capture handler sits on the root logger for the whole test (Airflow's logging
    setup on the first DAG run does not remove it), before any of Airflow's masking handlers.
    """

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    @property
    def lines(self) -> list[str]:
        out = []
        for record in self.caplog.records:
            try:
                out.append(self.formatter.format(record))
            except Exception as exc:  # a record that cannot be formatted is worth seeing too
                out.append(f"unformattable record {record.name}: {exc!r} {record.msg!r} {record.args!r}")
        return out


DEBUG_LOGGERS = ("airflow_ft_provider", "httpx", "httpcore", "google.auth", "google.oauth2", "urllib3")


@pytest.fixture(scope="module")
def airflow_warmed_up() -> None:
    """One throw-away DAG run: Airflow sets up its logging on the first run of a process, which
    detaches pytest's capture handler for the rest of that test. Done here, no test loses records."""
    run_dag_source(
        "leak_warm_up",
        """
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.empty import EmptyOperator

        with DAG("leak_warm_up", schedule=None) as dag:
            EmptyOperator(task_id="nothing")
        """,
    )


@pytest.fixture
def raw_logs(caplog: pytest.LogCaptureFixture, airflow_warmed_up: None) -> RawRecords:
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return RawRecords(caplog)


# -- searching -------------------------------------------------------------------------------
@dataclass
class Findings:
    secrets: dict[str, str] = field(repr=False)  # not in pytest's failure output
    leaks: list[str] = field(default_factory=list)
    searched: dict[str, int] = field(default_factory=dict)

    def search(self, place: str, text: str | bytes) -> None:
        self.searched[place] = self.searched.get(place, 0) + len(text)
        haystack = text if isinstance(text, str) else text.decode("latin-1")
        for secret, owner in self.secrets.items():
            if secret in haystack:
                at = haystack.index(secret)
                context = haystack[max(0, at - 120) : at].replace("\n", "\\n")
                self.leaks.append(f"{place}: secret of {owner} after ...{context!r}")

    def assert_clean(self) -> None:
        assert not self.leaks, "secrets leaked:\n" + "\n".join(self.leaks)


def airflow_home() -> Path:
    return Path(os.environ["AIRFLOW_HOME"])


def search_database(found: Findings, dag_id: str, triggers_before: int) -> dict[str, int]:
    """Search every table a run writes; returns row counts per place (for the non-empty checks)."""
    from airflow.models.log import Log
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    counts: dict[str, int] = {}
    with create_session() as session:
        xcoms = session.query(XComModel).filter_by(dag_id=dag_id).all()
        for row in xcoms:
            found.search(f"XCom {row.task_id}/{row.key}", json.dumps(row.value, default=str))
        rtifs = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id).all()
        for row in rtifs:
            found.search(f"rendered fields of {row.task_id}", json.dumps(row.rendered_fields, default=str))
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id).all()
        for ti in tis:
            found.search(f"task instance {ti.task_id} next_kwargs", json.dumps(ti.next_kwargs, default=str))
        triggers = session.query(Trigger).filter(Trigger.id > triggers_before).all()
        for trigger in triggers:
            found.search(f"trigger {trigger.id} stored kwargs", trigger.encrypted_kwargs)
            found.search(f"trigger {trigger.id} decrypted kwargs", json.dumps(trigger.kwargs, default=str))
        logs = session.query(Log).filter_by(dag_id=dag_id).all()
        for row in logs:
            found.search("audit log", f"{row.event} {row.extra}")
        counts = {"xcom": len(xcoms), "rtif": len(rtifs), "ti": len(tis), "trigger": len(triggers)}
    for path in airflow_home().glob("airflow.db*"):
        found.search(f"database file {path.name}", path.read_bytes())
    return counts


def search_home(found: Findings) -> list[Path]:
    files = [p for p in airflow_home().rglob("*") if p.is_file() and not p.name.startswith("airflow.db")]
    for path in files:
        found.search(f"file {path.relative_to(airflow_home())}", path.read_bytes())
    return files


def max_trigger_id() -> int:
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    ensure_db()
    with create_session() as session:
        return max([t.id for t in session.query(Trigger).all()] or [0])


def exception_text(exc: BaseException) -> str:
    """What a log shows of an exception (its printed chain) plus its repr, args and attributes."""
    return "".join(
        [
            *traceback.format_exception(exc),
            repr(exc),
            repr(exc.args),
            repr(vars(exc)),
        ]
    )


# -- the runs --------------------------------------------------------------------------------
@dataclass
class Case:
    plant: Plant
    job_ids: dict[str, str]  # task role -> job id


def leak_dag(dag_id: str, cases: list[Case], sensor_timeout: float, deferred_cancel: bool = True) -> str:
    """Per connection: the operator on the worker and deferred, the sensor poking and deferred.

    ``deferred_cancel=False`` leaves the deferred operator out: on an error path it fails on the
    worker before deferring, exactly like the other operator (and each task costs seconds on 3.1).
    """
    lines = dag_header(dag_id)
    for case in cases:
        p, c, ids = case.plant.platform.value, case.plant.conn_id, case.job_ids
        common = f"conn_id={c!r}"
        lines.append(
            f"    CancelTuningJobOperator(task_id='{p}_cancel', {common}, job_id={ids['cancel']!r},"
            " min_poll_interval=0.2, poll_interval=0.5, timeout=15)"
        )
        if deferred_cancel:
            lines.append(
                f"    CancelTuningJobOperator(task_id='{p}_cancel_deferred', {common}, job_id={ids['deferred']!r},"
                " deferrable=True, min_poll_interval=0.2, poll_interval=0.5, timeout=15)"
            )
        lines += [
            f"    TuningJobStateSensor(task_id='{p}_poke', {common}, job_id={ids['sensor']!r},"
            f" target_states=['RUNNING'], poke_interval=0.2, timeout={sensor_timeout})",
            f"    TuningJobStateSensor(task_id='{p}_sense_deferred', {common}, job_id={ids['sensor']!r},"
            f" target_states=['RUNNING'], deferrable=True, poll_interval=0.3, timeout={sensor_timeout})",
        ]
    return "\n".join(lines) + "\n"


def hook_errors(plant: Plant, job_id: str, calls: tuple[str, ...] = ("get_job", "cancel_job")) -> list[tuple[str, str]]:
    """(call, text) for every error the hook gives on this path: sync, async, and the Test button."""
    hook = hook_class_for_platform(plant.platform)(conn_id=plant.conn_id)
    out: list[tuple[str, str]] = []
    for name in calls:
        try:
            getattr(hook, name)(job_id)
        except Exception as exc:
            out.append((name, exception_text(exc)))

    async def run() -> None:
        try:
            for name in [f"a{call}" for call in calls]:
                try:
                    await getattr(hook, name)(job_id)
                except Exception as exc:
                    out.append((name, exception_text(exc)))
        finally:
            await process_cache.aclose()

    asyncio.run(run())
    ok, message = hook.test_connection()
    out.append(("test_connection", f"{ok} {message}"))
    return out


def closed_port_url(path: str) -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}{path}"


def set_host(garden: Garden, plant: Plant, host: str) -> None:
    name = f"AIRFLOW_CONN_{plant.conn_id.upper()}"
    conn = json.loads(os.environ[name])
    conn["host"] = host
    garden.monkeypatch.setenv(name, json.dumps(conn))


def set_extra(garden: Garden, plant: Plant, **extra: Any) -> None:
    name = f"AIRFLOW_CONN_{plant.conn_id.upper()}"
    conn = json.loads(os.environ[name])
    conn["extra"] = {**conn["extra"], **extra}
    garden.monkeypatch.setenv(name, json.dumps(conn))


#: Error paths: (what the emulator does, whether the sensors' wait is retried until its timeout).
PATHS = [
    "ok",
    "wrong_key",
    "forbidden",
    "not_found",
    "rate_limited",
    "server_error",
    "malformed",
    "dropped",
    "refused",
    "invalid_id",
]
TRANSIENT = {"rate_limited", "server_error", "malformed", "dropped", "refused"}


def arrange(emu: Emulator, garden: Garden, path: str, platform: Platform) -> Case:
    plant = garden.key(platform, valid=path != "wrong_key")
    script = JobScript(running_s=None, cancel_s=0.3)
    project = {"project": plant.project} if platform is Platform.VERTEX_AI else {}
    ids = {role: emu.seed(platform, script=script, **project) for role in ("cancel", "deferred", "sensor")}
    if path == "not_found":
        ids = dict.fromkeys(ids, MISSING_IDS[platform])
    elif path == "invalid_id":
        ids = dict.fromkeys(ids, "../../v1/files?x=1")
    elif path == "forbidden":
        emu.inject(platform, Fault.status(403, count=None))
    elif path == "rate_limited":
        emu.inject(platform, Fault.status(429, retry_after=0.01, count=None))
    elif path == "server_error":
        emu.inject(platform, Fault.status(500, count=None))
    elif path == "malformed":
        emu.inject(platform, Fault.malformed(count=None))
    elif path == "dropped":
        emu.inject(platform, Fault.drop(count=None))
    elif path == "refused":
        set_host(garden, plant, closed_port_url(emu.spec(platform).base_path))
    return Case(plant, ids)


def sweep(
    garden: Garden,
    capfd: pytest.CaptureFixture[str],
    raw_logs: RawRecords,
    dag_id: str,
    triggers_before: int,
    extra_texts: list[tuple[str, str]],
) -> tuple[Findings, dict[str, int], str]:
    found = Findings(garden.all_secrets())
    out, err = capfd.readouterr()
    found.search("stdout (task and trigger logs)", out)
    found.search("stderr", err)
    found.search("log records (unmasked)", "\n".join(raw_logs.lines))
    counts = search_database(found, dag_id, triggers_before)
    search_home(found)
    for place, text in extra_texts:
        found.search(place, text)
    return found, counts, out + err


@pytest.mark.parametrize("path", PATHS)
def test_no_secret_anywhere_after_dag_runs(emu, garden, raw_logs, capfd, path):
    """Every platform, one DAG per path: operator (worker, deferred) and sensor (poke, deferred)."""
    cases = [arrange(emu, garden, path, platform) for platform in PLATFORMS]
    triggers_before = max_trigger_id()
    dag_id = f"leak_{path}"
    timeout = 0.5 if path in TRANSIENT else 10.0
    result = run_dag_source(dag_id, leak_dag(dag_id, cases, sensor_timeout=timeout, deferred_cancel=path == "ok"))

    # The hooks' own errors on the same path, and the serialized trigger of each connection.
    texts: list[tuple[str, str]] = []
    for case in cases:
        for call, text in hook_errors(case.plant, case.job_ids["sensor"]):
            texts.append((f"{case.plant.platform} hook {call}", text))
        trigger = trigger_for(case)
        texts.append((f"{case.plant.platform} trigger.serialize()", json.dumps(trigger.serialize(), default=str)))
    found, counts, logged = sweep(garden, capfd, raw_logs, dag_id, triggers_before, texts)
    found.assert_clean()

    # Nothing above was searched in vain.
    assert len(result.task_states) == (4 if path == "ok" else 3) * len(PLATFORMS)
    assert dag_id in logged and "_sense_deferred" in logged
    assert raw_logs.lines, "no standard-logging record was captured"
    assert counts["rtif"] == len(result.task_states)
    assert counts["ti"] == len(result.task_states)
    if path == "ok":
        assert result.task_states["openai_cancel"] == "success"
        assert result.task_states["together_cancel_deferred"] == "success"
        assert all(result.task_states[f"{p.value}_sense_deferred"] == "success" for p in PLATFORMS)
        assert counts["xcom"] >= 4 * len(PLATFORMS)
        # Deferred sensors of all five, the deferred cancels of those whose cancel is asynchronous.
        assert counts["trigger"] >= len(PLATFORMS) + 2
    else:
        assert all(state in ("failed", "skipped") for state in result.task_states.values()), result.task_states
        assert counts["trigger"] >= 1  # the deferred sensors got to their trigger


def trigger_for(case: Case) -> Any:
    from airflow_ft_provider.triggers.job_state import TuningJobStateTrigger

    return TuningJobStateTrigger(
        conn_id=case.plant.conn_id, platform=case.plant.platform, job_id=case.job_ids["sensor"], deadline=0.0
    )


@pytest.mark.parametrize(
    ("platform", "suffix"),
    [
        *(pytest.param(p, "\n", id=f"{p.value}-newline") for p in API_KEY_PLATFORMS),
        pytest.param(Platform.OPENAI, " ", id="openai-space"),
        pytest.param(Platform.DASHSCOPE, "\r\n", id="dashscope-crlf"),
        pytest.param(Platform.VERTEX_AI, "\n", id="vertex_ai-newline"),
    ],
)
def test_key_pasted_with_a_line_break_never_leaks(emu, garden, raw_logs, capfd, platform, suffix):
    """The most common paste accident: the key plus a newline. Strip it, or refuse it, but never print it."""
    plant = garden.key(platform, suffix=suffix)
    job_id = emu.seed(
        platform, script=JobScript(running_s=None), **({"project": plant.project} if plant.project else {})
    )
    texts = [(f"hook {call}", text) for call, text in hook_errors(plant, job_id)]
    found = Findings(garden.all_secrets())
    for place, text in texts:
        found.search(place, text)
    out, err = capfd.readouterr()
    found.search("stdout/stderr", out + err)
    found.search("log records (unmasked)", "\n".join(raw_logs.lines))
    found.assert_clean()


VERTEX_PATHS = ["service_account", "foreign_service_account", "token_endpoint_down", "api_refuses_token"]


@pytest.mark.parametrize("path", VERTEX_PATHS)
def test_vertex_service_account_key_and_tokens_never_leak(emu, garden, raw_logs, capfd, path):
    """The private key of a service account, and the tokens minted from it, on every path."""
    plant = garden.service_account(valid=path != "foreign_service_account")
    calls: tuple[str, ...] = ("get_job", "cancel_job")
    if path == "token_endpoint_down":
        # google-auth retries a failing token endpoint itself (about 3 s a refresh): keep the calls few.
        emu.inject(Platform.VERTEX_AI, Fault.status(500, path="/token", count=None))
        set_extra(garden, plant, max_retries=0)
        calls = ("get_job",)
    script = JobScript(running_s=None, cancel_s=0.3)
    ids = {
        r: emu.seed(Platform.VERTEX_AI, script=script, project=plant.project) for r in ("cancel", "deferred", "sensor")
    }
    if path == "api_refuses_token":
        emu.inject(Platform.VERTEX_AI, Fault.status(401, count=None))
    triggers_before = max_trigger_id()
    dag_id = f"leak_vertex_{path}"
    case = Case(plant, ids)
    result = run_dag_source(
        dag_id, leak_dag(dag_id, [case], sensor_timeout=1.0 if path == "token_endpoint_down" else 10.0)
    )
    texts = [(f"hook {call}", text) for call, text in hook_errors(plant, ids["sensor"], calls)]
    found, counts, logged = sweep(garden, capfd, raw_logs, dag_id, triggers_before, texts)
    found.assert_clean()
    if path == "service_account":
        assert garden.minted_tokens(), "no token was minted: the key was never used"
        assert result.task_states["vertex_ai_cancel"] == "success"
        assert result.task_states["vertex_ai_sense_deferred"] == "success"
    else:
        assert set(result.task_states.values()) <= {"failed"}, result.task_states
    assert counts["trigger"] >= 1
    assert dag_id in logged


@pytest.mark.parametrize(
    ("password", "extra"),
    [
        pytest.param("sk-PLANTED-{core}", {}, id="api-key-in-a-vertex-connection"),
        pytest.param('{{"type": "service_account", "private_key": "sk-PLANTED-{core}"', {}, id="truncated-json"),
        pytest.param(
            '{{"type": "service_account", "client_email": "a@b.c", "token_uri": "http://127.0.0.1:9/token", '
            '"private_key": "-----BEGIN PRIVATE KEY-----\\nsk-PLANTED-{core}\\n-----END PRIVATE KEY-----\\n"}}',
            {},
            id="damaged-private-key",
        ),
        pytest.param('{{"type": "authorized_user", "refresh_token": "sk-PLANTED-{core}"}}', {}, id="user-credentials"),
        pytest.param(None, {"keyfile_dict": "sk-PLANTED-{core}"}, id="keyfile-dict-not-json"),
    ],
)
def test_vertex_configuration_errors_do_not_echo_key_material(garden, raw_logs, capfd, password, extra):
    core = uuid.uuid4().hex
    conn: dict[str, Any] = {
        "conn_type": "ft_vertex_ai",
        "host": "http://127.0.0.1:9",
        "extra": {**FAST, "project": "p-config", **{k: v.format(core=core) for k, v in extra.items()}},
    }
    if password is not None:
        conn["password"] = password.format(core=core)
    plant = garden._add(Platform.VERTEX_AI, conn, [core], "p-config")
    texts = hook_errors(plant, "tuningJobs/1")
    assert texts[0][0] == "get_job", "the broken connection was accepted"
    found = Findings(garden.all_secrets())
    for call, text in texts:
        found.search(call, text)
    found.search("log records (unmasked)", "\n".join(raw_logs.lines))
    out, err = capfd.readouterr()
    found.search("stdout/stderr", out + err)
    found.assert_clean()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_repr_of_hooks_settings_and_auth_shows_no_secret(emu, garden, platform):
    plant = garden.service_account() if platform is Platform.VERTEX_AI else garden.key(platform)
    hook = hook_class_for_platform(platform)(conn_id=plant.conn_id)
    setup = hook.prepare()
    found = Findings(garden.all_secrets())
    for place, text in [
        ("repr(hook)", repr(hook)),
        ("repr(setup.auth)", repr(setup.auth)),
        ("repr(setup.settings)", repr(setup.settings)),
        ("repr(setup.dialect)", repr(setup.dialect)),
        ("repr(vars(dialect))", repr(vars(setup.dialect))),
        ("repr(setup)", repr(setup)),
        ("repr(vars(hook))", repr(vars(hook))),
    ]:
        found.search(place, text)
    found.assert_clean()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_repr_of_auth_objects_alone_shows_no_secret(emu, garden, platform):
    """What the provider controls directly: the auth objects never show their key."""
    plant = garden.service_account() if platform is Platform.VERTEX_AI else garden.key(platform)
    setup = hook_class_for_platform(platform)(conn_id=plant.conn_id).prepare()
    found = Findings(garden.all_secrets())
    for place, text in [
        ("repr(auth)", repr(setup.auth)),
        ("str(auth)", str(setup.auth)),
        ("repr(settings)", repr(setup.settings)),
        ("repr(vars(dialect))", repr(vars(setup.dialect))),
    ]:
        found.search(place, text)
    found.assert_clean()
    assert setup.secrets, "the hook registered no secret with the masker"
