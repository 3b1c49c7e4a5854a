"""Reading the provider's metrics for real: Airflow's ``Stats`` with its OpenTelemetry backend
exporting (OTLP over HTTP) to a receiver on 127.0.0.1, in a child process that runs a DAG.

A child process, because Airflow builds its metrics backend once per process from ``[metrics]``:
the test process's is off. OpenTelemetry is the backend the test environment has (StatsD and
Datadog need client libraries it does not install); all three go through the same ``Stats`` calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: What Airflow's OpenTelemetry backend puts before every metric name (``[metrics] otel_prefix``).
OTEL_PREFIX = "airflow."

CHILD = """
import json, sys
from opentelemetry import metrics
from airflow_ft_provider.testing.dags import run_dag_source
result = run_dag_source(sys.argv[1], open(sys.argv[2]).read())
metrics.get_meter_provider().force_flush()
print("RUN-RESULT " + json.dumps({"state": result.state, "tasks": result.task_states}))
"""


@dataclass
class Received:
    """Every data point received, latest value per (metric, attributes): counters are cumulative."""

    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def value(self, name: str, **tags: str) -> float:
        """The metric's value with exactly ``tags``: a counter's total; a timer's count of samples
        (Airflow 3.2+), or its last value (3.1, a gauge)."""
        key = (OTEL_PREFIX + name, tuple(sorted(tags.items())))
        with self.lock:
            return self.values.get(key, 0)

    def has(self, name: str, **tags: str) -> bool:
        with self.lock:
            return (OTEL_PREFIX + name, tuple(sorted(tags.items()))) in self.values

    def names(self) -> set[str]:
        with self.lock:
            return {name.removeprefix(OTEL_PREFIX) for name, _ in self.values}


@contextmanager
def otlp_receiver() -> Iterator[tuple[int, Received]]:
    """An OTLP/HTTP metrics receiver on 127.0.0.1: its port, and what it received."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportMetricsServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        _note(received, metric)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _note(received: Received, metric: Any) -> None:
    if metric.HasField("sum"):
        points = [(p, p.as_int or p.as_double) for p in metric.sum.data_points]
    elif metric.HasField("gauge"):  # Airflow 3.1 sends timers as gauges of the last value
        points = [(p, p.as_int or p.as_double) for p in metric.gauge.data_points]
    elif metric.HasField("histogram"):
        points = [(p, p.count) for p in metric.histogram.data_points]
    elif metric.HasField("exponential_histogram"):
        points = [(p, p.count) for p in metric.exponential_histogram.data_points]
    else:
        return
    with received.lock:
        for point, value in points:
            tags = tuple(sorted((a.key, a.value.string_value) for a in point.attributes))
            received.values[(metric.name, tags)] = value


def run_dag_with_metrics(dag_id: str, source: str, port: int, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Run the DAG ``source`` under ``dag.test()`` in a child process whose Airflow sends its metrics
    to the receiver on ``port``; the run's result and the child's output."""
    path = tmp_path / f"{dag_id}.py"
    path.write_text(source)
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "AIRFLOW__METRICS__OTEL_ON": "True",
        "AIRFLOW__METRICS__OTEL_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__OTEL_PORT": str(port),
        "AIRFLOW__METRICS__OTEL_INTERVAL_MILLISECONDS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, dag_id, str(path)], env=env, capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("RUN-RESULT ")]
    assert done.returncode == 0 and lines, f"the child run failed:\n{output[-4000:]}"
    return json.loads(lines[-1].removeprefix("RUN-RESULT ")), output
