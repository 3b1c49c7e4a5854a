"""What the benchmarks share: an isolated Airflow environment, the emulator in its own
process, connections pointing at it, small statistics, and the one results table.

The emulator always runs in a separate process (``python -m airflow_ft_provider.testing``)
driven through :class:`~airflow_ft_provider.testing.RemoteEmulator`: an in-process
emulator would share the GIL with the client being measured.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ft_provider.testing import RemoteEmulator

ROOT = Path(__file__).resolve().parent.parent
VERTEX_LOCATION = "us-central1"


# -- environment ---------------------------------------------------------------------------


def prepare_env() -> None:
    """An isolated, quiet Airflow for this process and its children; call before importing Airflow.

    Bytecode caching is forced on: some CI images export ``PYTHONDONTWRITEBYTECODE``, which
    makes every fresh process recompile Airflow (seconds) and would swamp what is measured.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    if "AIRFLOW_HOME" not in os.environ:
        home = Path(tempfile.mkdtemp(prefix="ftp-bench-airflow-"))
        (home / "dags").mkdir()
        os.environ["AIRFLOW_HOME"] = str(home)
        os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    if not os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
        from cryptography.fernet import Fernet

        os.environ["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    root = str(ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    paths = os.environ.get("PYTHONPATH", "")
    if root not in paths.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, paths) if p)


def lazy_classes(namespace: dict[str, Any], factories: dict[str, Callable[[], type]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that builds each named class on first use, once.

    The benchmarks' trigger classes subclass the provider's, whose import configures Airflow: a
    worker process must set its environment up before that, so the classes are made lazily
    (and importable by name, as Airflow's TriggerRunner imports a trigger's classpath).
    """

    def __getattr__(name: str) -> Any:
        if name not in factories:
            raise AttributeError(name)
        namespace[name] = made = factories[name]()
        return made

    return __getattr__


def temp_path(name: str, suffix: str, directory: Path | None = None) -> Path:
    """A new empty file for a log or a result (kept: a failing run points at it)."""
    fd, path = tempfile.mkstemp(prefix=f"ftp-bench-{name}-", suffix=suffix, dir=directory)
    os.close(fd)
    return Path(path)


def quiet_structlog(level: int = logging.WARNING) -> None:
    """Send Airflow's structlog output to stderr and drop what is below ``level`` before it is
    formatted: the triggerer ships trigger logs to per-trigger files, and an ``execute()``
    outside a task runner warns on stdout. For benchmark processes only (it is global)."""
    import airflow.sdk  # noqa: F401  # Airflow configures logging on import: after that, not before
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.getLogger("airflow.task").setLevel(level)  # operators' self.log


# -- the emulator in its own process ---------------------------------------------------------


@dataclass
class EmulatorProcess:
    """A running ``python -m airflow_ft_provider.testing`` and its admin client."""

    proc: subprocess.Popen[str]
    url: str
    remote: RemoteEmulator
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU the emulator process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def configure(
        self, platform: str, *, latency: float = 0.0, per_second: float | None = None, burst: float | None = None
    ) -> None:
        self.remote.set_latency(latency, platform)
        self.remote.set_rate_limit(platform, per_second, burst)


@contextmanager
def emulator_process(startup_timeout: float = 120.0) -> Iterator[EmulatorProcess]:
    """Start the emulators on a free port in a child process; stop it (by its pid) on exit."""
    from airflow_ft_provider.testing import RemoteEmulator

    log_path = temp_path("emulator", ".log")
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_ft_provider.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=ROOT,
    )
    remote: RemoteEmulator | None = None
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "fine-tuning platform emulators on http://127.0.0.1:PORT ..."
        url = next((word for word in first.split() if word.startswith("http://")), "")
        if not url:
            raise RuntimeError(f"emulator did not start: {first!r}; see {log_path}")
        remote = RemoteEmulator(url)
        deadline = time.monotonic() + startup_timeout
        while not remote.healthy():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"emulator at {url} is not answering; see {log_path}")
            time.sleep(0.05)
        yield EmulatorProcess(proc, url, remote, log_path)
        failed = False
    except BaseException:
        failed = True
        raise
    finally:
        if remote is not None:
            remote.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()
        if not failed:
            log_path.unlink(missing_ok=True)


# -- connections -----------------------------------------------------------------------------


def connection(remote: RemoteEmulator, platform: str, **extra: Any) -> dict[str, Any]:
    """A connection (JSON form) for ``platform`` on the emulator, with the provider's default
    HTTP settings: only what locates the account is set (Vertex project and location, and a
    real service-account key whose token endpoint is the emulator). The request budget is lifted
    (``max_requests_per_minute``) unless given: these benchmarks measure the client against an
    emulator's own limits, not the provider's default share of a platform's quota."""
    from airflow_ft_provider.testing import airflow_connection

    extras = {"max_requests_per_minute": 1_000_000, **extra}
    project = extras.pop("project", "bench-project")
    location = extras.pop("location", VERTEX_LOCATION)
    return airflow_connection(remote, platform, project=project, location=location, **extras)


def set_connection(conn_id: str, conn: dict[str, Any]) -> str:
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return conn_id


# -- workers ---------------------------------------------------------------------------------


def run_worker(module: str, args: Sequence[str], timeout: float, log_dir: Path | None = None) -> dict[str, Any]:
    """Run ``python -m benchmarks.<module> --worker ...`` and return the JSON it prints last."""
    log_path = temp_path(module, ".log", log_dir)
    with log_path.open("w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}", "--worker", *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = log_path.read_text()[-3000:]
        raise RuntimeError(f"worker {module} {' '.join(args)} failed (exit {proc.returncode}); {log_path}:\n{tail}")
    log_path.unlink()  # kept only when the worker failed
    return dict(json.loads(lines[-1]))


def start_worker(module: str, args: Sequence[str], log_dir: Path | None = None) -> tuple[subprocess.Popen[str], Path]:
    """Like :func:`run_worker`, but returns at once; collect with :func:`finish_worker`."""
    log_path = temp_path(module, ".log", log_dir)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"benchmarks.{module}", "--worker", *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=ROOT,
        )
    return proc, log_path


def finish_worker(proc: subprocess.Popen[str], log_path: Path, timeout: float) -> dict[str, Any]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"worker timed out after {timeout:g} s; log: {log_path}") from None
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed (exit {proc.returncode}); {log_path}:\n{log_path.read_text()[-3000:]}")
    log_path.unlink()  # kept only when the worker failed
    return dict(json.loads(lines[-1]))


def emit(result: dict[str, Any]) -> None:
    """A worker's answer: one JSON line on stdout (everything else goes to stderr)."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# -- measuring -------------------------------------------------------------------------------


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size now, from /proc."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_sockets(pid: int | str = "self") -> int:
    """File descriptors of the process that are sockets (TCP connections, pipes excluded)."""
    count = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(f"{fd_dir}/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    info = {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load": load_average(),
    }
    try:
        with open("/proc/meminfo") as f:
            total_kb = int(f.readline().split()[1])
        info["memory"] = f"{total_kb / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
        if model:
            info["cpu"] = model
    except OSError:
        pass
    try:
        from importlib.metadata import version

        info["airflow"] = version("apache-airflow")
    except Exception:
        info["airflow"] = "?"
    return info


# -- the table -------------------------------------------------------------------------------


@dataclass
class Row:
    """One comparison: the alternative, the provider, their ratio, and the target's verdict."""

    benchmark: str
    measure: str
    alternative: str
    provider: str
    ratio: str
    target: str = ""
    #: "met", "MISSED", or "" where there is no target.
    verdict: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[str]:
        return [self.benchmark, self.measure, self.alternative, self.provider, self.ratio, self.target, self.verdict]


HEADERS = ["Benchmark", "Measure", "Alternative", "Provider", "Ratio", "Target", "Verdict"]


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def format_table(rows: Sequence[Row]) -> str:
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    out = []
    for n, line in enumerate(table):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def describe_machine(info: dict[str, str]) -> str:
    """One line for :func:`machine`'s answer."""
    return (
        f"{info.get('cpus', '?')} CPUs ({info.get('cpu', '?')}), {info.get('memory', '?')}, "
        f"Python {info['python']}, Airflow {info['airflow']}, {info['os']}, load average {info['load']}"
    )


def markdown_table(rows: Sequence[Row]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(esc(c) for c in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def rows_to_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


def print_rows(title: str, rows: Sequence[Row], notes: Sequence[str] = ()) -> None:
    print(f"\n== {title}")
    print(format_table(rows))
    for note in notes:
        print(f"  - {note}")
    sys.stdout.flush()


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"


def fmt_ratio(value: float, what: str = "") -> str:
    if math.isnan(value) or math.isinf(value):
        return "n/a"
    text = f"{value:.1f}x" if value < 100 else f"{value:.0f}x"
    return f"{text} {what}".rstrip()


def fmt_compare(alternative: float, provider: float, less: str = "less", more: str = "more") -> str:
    """How the provider compares where smaller is better: "3.2x less" or "1.5x more"."""
    if not all(math.isfinite(v) and v > 0 for v in (alternative, provider)):
        return "n/a"
    if provider <= alternative:
        return fmt_ratio(alternative / provider, less)
    return fmt_ratio(provider / alternative, more)


def watcher_counts() -> tuple[int, int]:
    """Job states the provider's shared watchers on the running loop handed to triggers so far, and
    how many of them listings served (``triggers.watcher.WatchStats``)."""
    from airflow_ft_provider.process_cache import process_cache

    watchers = [
        entry.stats
        for key, entry in process_cache.on_loop().items()
        if isinstance(key, tuple) and key and key[0] == "watcher"
    ]
    return sum(s.answered for s in watchers), sum(s.listed_answers for s in watchers)
