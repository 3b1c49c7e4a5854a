"""A real distributed Airflow 3.3 for the e2e suite, built from processes this module owns.

PostgreSQL is the metadata database and Celery result backend, Redis the Celery broker; the
API server, scheduler, dag-processor, triggerer and a Celery worker each run as their own
process, beside the platform emulators (``python -m airflow_ft_provider.testing``). Every
process starts in its own session, so its process id is also its process group id. Stopping
one sends SIGTERM to that group, then SIGKILL to whatever is left of the process tree it had
(Airflow 3.3 puts each task process in a group of its own, so a group signal alone would
orphan them); a drill's "kill" SIGKILLs the whole tree at once, as a dying machine would.
Only pids descending from a process this module started are ever signalled, each checked
against its start time: no ``pkill``, other people's Airflow processes may be running here.

Isolation from other users of the shared services: a fresh PostgreSQL database
``ftp_e2e_<hex>`` (dropped at the end), a Redis key prefix ``ftp_e2e_<hex>:`` plus a Celery
queue of the same name (only those keys are deleted at the end), and ports picked free.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airflow_ft_provider.jobs import Platform

ROOT = Path(__file__).resolve().parents[2]
E2E_DAGS = Path(__file__).resolve().parent / "dags"
#: Example DAGs the suite triggers (copied into the deployment's DAG folder with the e2e DAGs).
EXAMPLE_DAGS = ("example_cancel_tuning_job.py", "example_approve_before_sweep.py")

PG_HOST, PG_USER = "127.0.0.1", "postgres"
PG_PORT = int(os.environ.get("FT_E2E_PG_PORT", "5432"))
REDIS_HOST = "127.0.0.1"
REDIS_PORT = int(os.environ.get("FT_E2E_REDIS_PORT", "6379"))
#: Redis database for the broker; our keys carry a unique prefix, so sharing it with others is safe.
REDIS_DB = int(os.environ.get("FT_E2E_REDIS_DB", "0"))

VERTEX_PROJECT = "e2e-project"
#: What a user would set for a flaky network: short per-request timeout, a few quick retries.
CONN_EXTRAS = {"timeout": 5, "max_retries": 6, "backoff_max": 4, "max_retry_seconds": 60}
#: Platforms that also get a connection through the TCP proxy (``e2e_<platform>_flaky``).
FLAKY_PLATFORMS = (Platform.TOGETHER, Platform.OPENAI)


def conn_id(platform: Platform | str, *, flaky: bool = False) -> str:
    return f"e2e_{Platform(platform).value}" + ("_flaky" if flaky else "")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Fatal(RuntimeError):
    """Raised inside a :func:`wait_for` check: stop waiting, this will not get better."""


def wait_for(
    what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5, diag: Callable[[], str] | None = None
) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` (and ``diag()``)."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Fatal:
            raise
        except Exception as exc:  # the thing may not be up yet
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            extra = f"\n{diag()}" if diag else ""
            raise TimeoutError(f"Timed out after {timeout:.0f} s waiting for {what}{detail}{extra}")
        time.sleep(interval)


# -- processes -------------------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """One process (and its group) this suite started, with its output in ``log_path``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path
    popen: subprocess.Popen[bytes] | None = None
    history: list[int] = field(default_factory=list)

    def start(self) -> ManagedProcess:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        log = self.log_path.open("ab")
        log.write(f"\n===== starting {self.name}: {' '.join(self.argv)}\n".encode())
        log.flush()
        try:
            self.popen = subprocess.Popen(  # our own interpreter and arguments
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # pid == process group id: stop/kill exactly this group
            )
        finally:
            log.close()
        self.history.append(self.popen.pid)
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        """Running (not yet reaped): while this holds, no other process can have our pid or group id."""
        return self.popen is not None and self.popen.poll() is None

    def group_members(self) -> list[int]:
        """Pids in this process's group (the leader and the children that stayed in its group)."""
        if not self.alive:
            return []
        return [pid for pid, info in _process_table().items() if info[1] == self.pid]

    def tree(self) -> dict[int, int]:
        """This process, its group and every descendant, as pid -> start time (to spot pid reuse).

        Descendants in other groups matter: Airflow 3.3's task supervisor puts each task process in
        a process group of its own, so a signal to the worker's group never reaches them. Empty once
        the process has exited (its pid may then be reused): take it while it runs.
        """
        if not self.alive:
            return {}
        table = _process_table()
        found = {pid for pid, info in table.items() if info[1] == self.pid} | {self.pid}
        grew = True
        while grew:
            children = {pid for pid, info in table.items() if info[0] in found} - found
            found |= children
            grew = bool(children)
        return {pid: table[pid][2] for pid in found if pid in table}

    @staticmethod
    def living(tree: dict[int, int]) -> list[int]:
        """The pids of ``tree`` that still run the same process (not a reused pid, not a zombie)."""
        table = _process_table()
        return [pid for pid, started in tree.items() if pid in table and table[pid][2] == started and not table[pid][3]]

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.alive:  # the group id is still ours
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)  # type: ignore[arg-type]

    def kill(self) -> None:
        """SIGKILL the process and everything it started, at once: the machine died."""
        tree = self.tree()
        self._signal_group(signal.SIGKILL)
        _signal_all(self.living(tree), signal.SIGKILL)
        self._reap(tree, 10)

    def stop(self, grace: float = 30.0) -> bool:
        """SIGTERM the group, wait ``grace`` seconds, then SIGKILL whatever of its tree is left.

        Returns whether everything had ended by itself within the grace period.
        """
        tree = self.tree()
        if not tree:
            return True
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (self.alive or self.living(tree)):
            time.sleep(0.2)
        graceful = not self.alive and not self.living(tree)
        self._signal_group(signal.SIGKILL)
        _signal_all(self.living(tree), signal.SIGKILL)
        self._reap(tree, 10)
        return graceful

    def _reap(self, tree: dict[int, int], timeout: float) -> None:
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        deadline = time.monotonic() + timeout
        while self.living(tree) and time.monotonic() < deadline:
            time.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- the TCP proxy for "the platform is unreachable" ---------------------------------------------


class TcpProxy:
    """A loopback TCP proxy in front of the emulator that a test can take off the network.

    :meth:`outage` first cuts every open connection, then for the first half of the outage
    nothing listens on the port (connections are refused at once, as when the service is
    down) and for the second half connections are accepted but never answered (a black hole:
    the client's timeout has to fire, as on a broken route). Then it serves again on the same
    port. The emulator behind it keeps running, so job state survives the outage the way a
    real platform's does.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._mode = "up"  # up | refuse | blackhole
        self._closed = False
        self._accept_thread: threading.Thread | None = None

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(256)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._accept_thread = threading.Thread(target=self._accept, args=(sock,), name="e2e-proxy", daemon=True)
        self._accept_thread.start()

    def _unlisten(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._accept_thread is not None:
            self._accept_thread.join(2)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(client)
                mode = self._mode
            if mode == "up":
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()
            # blackhole: keep the socket open and never read or answer it

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._drop(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._conns.add(upstream)
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            self._drop(src)
            self._drop(dst)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.discard(sock)
        with contextlib.suppress(OSError):
            # RST instead of FIN: the peer sees the connection break, not a clean close.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        with contextlib.suppress(OSError):
            sock.close()

    def _cut_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            self._drop(sock)

    def outage(self, seconds: float, on_event: Callable[[str], None] | None = None) -> None:
        """Blocking: be unreachable for ``seconds`` (refused, then black-holed), then come back."""
        note = on_event or (lambda _: None)
        with self._lock:
            self._mode = "refuse"
        self._unlisten()
        self._cut_all()
        note("refuse")
        time.sleep(seconds / 2)
        with self._lock:
            self._mode = "blackhole"
        self._listen()
        note("blackhole")
        time.sleep(seconds / 2)
        with self._lock:
            self._mode = "up"
        self._cut_all()  # the black-holed connections break now; new ones are served
        note("up")

    def close(self) -> None:
        self._closed = True
        self._unlisten()
        self._cut_all()


# -- the REST API client -----------------------------------------------------------------------


class AirflowApi:
    """The few calls of Airflow's public REST API (v2) the tests need, with a bearer token."""

    def __init__(self, url: str, username: str, password: str, diag: Callable[[], str] | None = None) -> None:
        self.url = url.rstrip("/")
        self._diag = diag
        token = httpx.post(f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=30)
        token.raise_for_status()
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v2",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(3):  # the API server is on a busy machine: ride out a blip
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
                time.sleep(1)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    # dags and runs
    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self._call("GET", "/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/importErrors")["import_errors"])

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        return str(self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait until the run ended (success or failed) and return it."""

        def ended() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        return dict(
            wait_for(f"DAG run {dag_id}/{run_id} to end", ended, timeout, 1.0, lambda: self.explain(dag_id, run_id))
        )

    # task instances
    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {task_id: ti["state"] for task_id, ti in self.task_instances(dag_id, run_id).items()}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))

    def wait_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float
    ) -> dict[str, Any]:
        wanted = set(states)

        def reached() -> dict[str, Any] | None:
            ti = self.task_instance(dag_id, run_id, task_id)
            return ti if ti["state"] in wanted else None

        return dict(
            wait_for(
                f"task {dag_id}/{run_id}/{task_id} to be {sorted(wanted)}",
                reached,
                timeout,
                1.0,
                lambda: self.explain(dag_id, run_id),
            )
        )

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """What a user's "Mark failed" / "Mark success" click sends."""
        self._call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", json={"new_state": state})

    # human-in-the-loop
    def hitl_detail(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """What the UI's "Required actions" shows for a waiting HITL task: subject, body, options."""
        return dict(
            self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails")
        )

    def respond_hitl(self, dag_id: str, run_id: str, task_id: str, chosen: list[str], map_index: int = -1) -> None:
        """What a person's answer in the UI sends."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails"
        self._call("PATCH", path, json={"chosen_options": chosen})

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        value = self._call("GET", path)["value"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log for one try, one line per event."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        try:
            data = self._call("GET", path, params={"full_content": "true"})
        except (AssertionError, httpx.HTTPError) as exc:
            return f"(could not read the log: {exc!r})"
        lines = []
        for item in data.get("content") or []:
            if isinstance(item, dict):
                lines.append(f"{item.get('timestamp', '')} {item.get('level', '')} {item.get('event', '')}")
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def explain(self, dag_id: str, run_id: str) -> str:
        """Task states and the end of each task's log, for a failure message."""
        lines = [f"DAG run {dag_id}/{run_id}:"]
        try:
            for task_id, ti in self.task_instances(dag_id, run_id).items():
                lines.append(f"  {task_id}: {ti['state']} (try {ti.get('try_number')})")
                for try_number in range(1, int(ti.get("try_number") or 0) + 1):
                    log = self.task_log(dag_id, run_id, task_id, try_number)
                    tail = "\n".join("      " + line for line in log.splitlines()[-25:])
                    lines.append(f"    log of try {try_number}:\n{tail}")
        except Exception as exc:
            lines.append(f"  (could not read task instances: {exc!r})")
        if self._diag is not None:
            lines.append(self._diag())
        return "\n".join(lines)


# -- the deployment ---------------------------------------------------------------------------


class Deployment:
    """Builds, runs and tears down the whole thing; see the module docstring."""

    COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")

    def __init__(self, workdir: Path, python: str = sys.executable) -> None:
        self.workdir = workdir
        self.python = python
        self.tag = f"ftp_e2e_{secrets.token_hex(4)}"
        self.home = workdir / "airflow-home"
        self.dags = self.home / "dags"
        self.proc_logs = workdir / "process-logs"
        self.database = self.tag
        self.queue = self.tag
        self.redis_prefix = f"{self.tag}:"
        self.api_port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.processes: dict[str, ManagedProcess] = {}
        self.emulator_url = ""
        self.proxy: TcpProxy | None = None
        self.api: AirflowApi | None = None
        self.timings: dict[str, float] = {}
        self._db_created = False
        self._settings = self._make_settings()

    # configuration
    @property
    def sql_url(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    def env(self) -> dict[str, str]:
        """The environment of every component: one configuration, one set of secrets, the connections."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FT_E2E"))}
        return {**base, **self._settings, **self._connections()}

    def _make_settings(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "8",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.redis_prefix,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # A dead worker's task is noticed after 20 s instead of 5 minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # A dead triggerer's triggers are taken over after 15 s instead of 30.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            # As docs/sensor-and-trigger.md advises: a trigger's on_kill first asks Airflow for the
            # task's state, which a busy triggerer was seen to answer after 20-25 s (its heartbeat
            # stalled meanwhile), and the default 30 s then ends the cancel before it is sent.
            "AIRFLOW__TRIGGERER__ON_KILL_TIMEOUT": "90",
            # The DAG files never change during a run: parse them once, not every 30 s.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "120",
            "PYTHONUNBUFFERED": "1",
        }

    def _connections(self) -> dict[str, str]:
        if self.proxy is None:  # the emulator is not up yet
            return {}
        out = {}
        for platform in Platform:
            out[f"AIRFLOW_CONN_{conn_id(platform).upper()}"] = json.dumps(self.connection(platform))
        assert self.proxy is not None
        for platform in FLAKY_PLATFORMS:
            conn = self.connection(platform, via_proxy=True)
            out[f"AIRFLOW_CONN_{conn_id(platform, flaky=True).upper()}"] = json.dumps(conn)
        return out

    def connection(self, platform: Platform, *, via_proxy: bool = False) -> dict[str, Any]:
        """The Airflow connection (JSON form) of ``platform`` on the emulator, or through the proxy."""
        from airflow_ft_provider.testing import RemoteEmulator, airflow_connection

        with RemoteEmulator(self.emulator_url) as emu:
            conn = airflow_connection(emu, platform, project=VERTEX_PROJECT, location="us-central1", **CONN_EXTRAS)
        if via_proxy:
            assert self.proxy is not None
            conn["host"] = conn["host"].replace(self.emulator_url, f"http://127.0.0.1:{self.proxy.port}", 1)
        return conn

    # lifecycle
    def _process(self, name: str, *args: str) -> ManagedProcess:
        argv = [self.python, *args]
        proc = ManagedProcess(name, argv, self.env(), self.proc_logs / f"{name}.log", self.workdir)
        self.processes[name] = proc
        return proc

    def _airflow(self, name: str, *args: str) -> ManagedProcess:
        return self._process(name, "-m", "airflow", *args)

    def component_args(self, name: str) -> list[str]:
        return {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
            "worker": [
                "celery",
                "worker",
                "--skip-serve-logs",
                "--queues",
                self.queue,
                "--concurrency",
                "8",
                "--celery-hostname",
                f"{self.tag}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
        }[name]

    def start(self) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc_logs.mkdir(exist_ok=True)
        self.dags.mkdir(parents=True, exist_ok=True)
        for name in EXAMPLE_DAGS:
            shutil.copy(ROOT / "example_dags" / name, self.dags / name)
        for path in E2E_DAGS.glob("*.py"):
            shutil.copy(path, self.dags / path.name)
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}))

        self._create_database()
        emulator = self._process("emulator", "-m", "airflow_ft_provider.testing", "--port", "0").start()
        migrate = self._airflow("db-migrate", "db", "migrate").start()
        self.emulator_url = wait_for(
            "the emulator to announce its URL",
            lambda: _emulator_url(emulator),
            60,
            0.2,
            self.diagnostics,
        )
        from airflow_ft_provider.testing import RemoteEmulator

        with RemoteEmulator(self.emulator_url) as emu:
            wait_for("the emulator to serve", emu.healthy, 60, 0.2, self.diagnostics)
        assert migrate.popen is not None
        try:
            code = migrate.popen.wait(300)
        except subprocess.TimeoutExpired:
            migrate.stop()
            raise RuntimeError(f"airflow db migrate took over 300 s:\n{migrate.tail()}") from None
        if code != 0:
            raise RuntimeError(f"airflow db migrate failed ({code}):\n{migrate.tail()}")
        self.timings["db_migrate"] = time.monotonic() - started

        emu_port = int(self.emulator_url.rsplit(":", 1)[1])
        self.proxy = TcpProxy(emu_port).start()
        for name in self.COMPONENTS:
            self._airflow(name, *self.component_args(name)).start()
        self.wait_healthy(timeout=240)
        self.timings["healthy"] = time.monotonic() - started

    def restart(self, name: str) -> ManagedProcess:
        """Start a component again with the same command and environment (a new pid)."""
        proc = self.processes[name]
        if proc.alive:
            raise RuntimeError(f"{name} is still running")
        return proc.start()

    def wait_worker_ready(self, timeout: float = 120) -> None:
        """Celery prints 'ready.' once it consumes; count those lines for the current worker."""
        proc = self.processes["worker"]
        starts = len(proc.history)

        def ready() -> bool:
            if not proc.alive:
                raise Fatal(f"the Celery worker exited:\n{proc.tail()}")
            text = proc.log_path.read_text(errors="replace")
            return text.count(" ready.") >= starts

        wait_for("the Celery worker to be ready", ready, timeout, 0.5, self.diagnostics)

    def wait_healthy(self, timeout: float) -> None:
        api = f"http://127.0.0.1:{self.api_port}"

        def healthy() -> bool:
            for name, proc in self.processes.items():
                if name in self.COMPONENTS and not proc.alive:
                    raise Fatal(f"{name} exited with {proc.popen.returncode if proc.popen else None}")
            health = httpx.get(f"{api}/api/v2/monitor/health", timeout=5).json()
            return all(
                (health.get(part) or {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            )

        wait_for("every Airflow component to report healthy", healthy, timeout, 1.0, self.diagnostics)
        self.wait_worker_ready(timeout)
        self.api = AirflowApi(api, "admin", self.password, diag=self.diagnostics)
        wanted = {"example_cancel_tuning_job", *_dag_ids_in(E2E_DAGS)}

        def parsed() -> bool:
            assert self.api is not None
            errors = self.api.import_errors()
            if errors:
                raise Fatal(f"DAG import errors: {errors}")
            return wanted <= self.api.dag_ids()

        wait_for(f"DAGs {sorted(wanted)} to be parsed", parsed, timeout, 1.0, self.diagnostics)

    def diagnostics(self, lines: int = 30) -> str:
        parts = []
        for name, proc in self.processes.items():
            state = "alive" if proc.alive else f"exited {proc.popen.returncode if proc.popen else '-'}"
            parts.append(f"--- {name} (pids {proc.history}, {state}), {proc.log_path}:\n{proc.tail(lines)}")
        return "\n".join(parts)

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
        # Workers and triggerer first (they talk to the API server), the emulator last.
        order = ["worker", "triggerer", "scheduler", "dag-processor", "api-server", "db-migrate", "emulator"]
        for name in order + [n for n in self.processes if n not in order]:
            proc = self.processes.get(name)
            if proc is not None:
                proc.stop()
        if self.proxy is not None:
            self.proxy.close()
        self._drop_database()
        self._delete_redis_keys()

    # shared services
    def _admin_connection(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=10)
        conn.autocommit = True
        return conn

    def _create_database(self) -> None:
        conn = self._admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.database}"')
            self._db_created = True
        finally:
            conn.close()

    def _drop_database(self) -> None:
        if not self._db_created:
            return
        conn = self._admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.database,),
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
        finally:
            conn.close()

    def _delete_redis_keys(self) -> None:
        try:
            import redis
        except ImportError:
            return
        with contextlib.suppress(Exception):
            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)
            keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=500))
            keys += [k for k in client.scan_iter(match=f"*{self.tag}*", count=500) if k not in keys]
            if keys:
                client.delete(*keys)
            client.close()


def _emulator_url(proc: ManagedProcess) -> str | None:
    if not proc.alive:
        raise Fatal(f"the emulator exited:\n{proc.tail()}")
    match = re.search(r"platform emulators on (http://\S+)", proc.log_path.read_text(errors="replace"))
    return match.group(1) if match else None


def _dag_ids_in(folder: Path) -> set[str]:
    ids: set[str] = set()
    for path in folder.glob("*.py"):
        ids.update(re.findall(r'dag_id="([a-z0-9_]+)"', path.read_text()))
    return ids


def _process_table() -> dict[int, tuple[int, int, int, bool]]:
    """pid -> (parent pid, process group, start time, is a zombie), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            # The fields after the command (which may hold spaces and parentheses) follow the last ')'.
            fields = stat[stat.rindex(")") + 2 :].split()
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[19]), fields[0] == "Z")
    return table


def _signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
